import { spawn, spawnSync } from 'node:child_process';

/**
 * Runs a command in a private user + mount namespace (`unshare --user --map-root-user --mount`) with a tmpfs mounted
 * on `mountPoint`: of `size` (e.g. "1m", to get a real ENOSPC), with at most `inodes` files and directories (ENOSPC
 * when one more is created, whatever the free bytes say), read-only (EROFS) when `readOnly`, noexec when `noexec`; the directories
 * in `mkdirs` are created inside it first. Nothing is mounted outside the namespace and it is gone when the command
 * exits, so tests can make a full or read-only disk without root and without touching the machine.
 */
export function runWithTmpfs(
  mountPoint: string,
  options: { size: string; inodes?: number; readOnly?: boolean; noexec?: boolean; mkdirs?: string[] },
  command: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const script = [
    'set -e',
    'mnt="$1"; opts="$2"; ro="$3"; shift 3',
    'mount -t tmpfs -o "$opts" tmpfs "$mnt"',
    ...(options.mkdirs ?? []).map((d) => `mkdir -p ${JSON.stringify(d)}`),
    'if [ "$ro" = 1 ]; then mount -o remount,ro "$mnt"; fi',
    'exec "$@"',
  ].join('\n');
  return new Promise((resolve, reject) => {
    const child = spawn(
      'unshare',
      [
        '--user',
        '--map-root-user',
        '--mount',
        'sh',
        '-c',
        script,
        'sh',
        mountPoint,
        [`size=${options.size}`, ...(options.inodes ? [`nr_inodes=${options.inodes}`] : []), ...(options.noexec ? ['noexec'] : [])].join(','),
        options.readOnly ? '1' : '0',
        ...command,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Why private mounts cannot be made here (no unshare, user namespaces disabled), or undefined when they can. */
export function privateMountsUnavailable(): string | undefined {
  const probe = spawnSync('unshare', ['--user', '--map-root-user', '--mount', 'sh', '-c', 'mount -t tmpfs -o size=1m tmpfs /mnt'], {
    encoding: 'utf8',
  });
  if (probe.error) return `unshare is not available: ${probe.error.message}`;
  if (probe.status !== 0) return `private mount namespaces are not allowed here: ${probe.stderr.trim()}`;
  return undefined;
}

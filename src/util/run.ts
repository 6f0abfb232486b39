import { spawn } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Appends stdout and stderr, interleaved as they come, to this open log. */
  log?: WriteStream;
  /** Called with each complete output line (for live UI output). */
  onLine?: (line: string) => void;
  signal?: AbortSignal;
  input?: string;
  /** Open file descriptors handed to the child as fd 3, 4, ... (a make jobserver's pipe ends). */
  extraFds?: number[];
  /** Run as this user and group (we are root). */
  uid?: number;
  gid?: number;
  /** Kill the child's whole process group after this long (it then closes with signal SIGKILL). */
  timeoutMs?: number;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const keptOutput = 4 * 1024 * 1024;

/**
 * Runs argv without a shell. Output goes to the log and to onLine; stdout/stderr are also returned (capped) for
 * commands whose answer we parse. The child gets its own process group so an abort kills everything it started.
 */
export function run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe', ...(options.extraFds ?? [])],
      detached: true,
      ...(options.uid === undefined ? {} : { uid: options.uid }),
      ...(options.gid === undefined ? {} : { gid: options.gid }),
    });
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => killGroup(child.pid, 'SIGKILL'), options.timeoutMs);
    let stdout = '';
    let stderr = '';
    let partial = '';
    const onData = (which: 'out' | 'err') => (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      if (which === 'out' && stdout.length < keptOutput) stdout += text;
      if (which === 'err' && stderr.length < keptOutput) stderr += text;
      options.log?.write(chunk);
      if (options.onLine) {
        partial += text;
        const lines = partial.split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) options.onLine(line);
      }
    };
    child.stdout!.on('data', onData('out'));
    child.stderr!.on('data', onData('err'));
    if (options.input !== undefined) {
      // A child may exit without reading its input (EPIPE): its exit status says what happened, not the pipe.
      child.stdin!.on('error', () => undefined);
      child.stdin!.end(options.input);
    }
    const kill = () => killGroup(child.pid);
    options.signal?.addEventListener('abort', kill, { once: true });
    activeChildren.add(child.pid!);
    child.on('error', (error) => {
      clearTimeout(timer);
      activeChildren.delete(child.pid!);
      options.signal?.removeEventListener('abort', kill);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      activeChildren.delete(child.pid!);
      options.signal?.removeEventListener('abort', kill);
      if (partial && options.onLine) options.onLine(partial);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Every process group we started and that is still running; killed on SIGINT/SIGTERM so nothing outlives us. */
export const activeChildren = new Set<number>();

export function killGroup(pid: number | undefined, signal: NodeJS.Signals = 'SIGTERM'): void {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

export function killAllChildren(signal: NodeJS.Signals = 'SIGTERM'): void {
  for (const pid of activeChildren) killGroup(pid, signal);
}

/** Runs and returns trimmed stdout, or undefined when the command is missing or fails. */
export async function capture(argv: readonly string[], options: RunOptions = {}): Promise<string | undefined> {
  try {
    const result = await run(argv, options);
    return result.code === 0 ? result.stdout.trim() : undefined;
  } catch {
    return undefined;
  }
}

export function openLog(path: string): WriteStream {
  return createWriteStream(path, { flags: 'a' });
}

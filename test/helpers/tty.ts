/**
 * Runs the CLI on a real pseudo-terminal, as a user at a terminal runs it: util-linux `script` gives the program a pty
 * (stdout.isTTY is true), and every byte the program writes to it is captured. Ctrl-C is sent the way a keyboard sends
 * it: the byte 0x03 written to the terminal, which the line discipline turns into SIGINT for the foreground process.
 */
import { spawn, spawnSync } from 'node:child_process';
import { cliMain, repoRoot } from './cli.js';
import { Screen } from './screen.js';

/** Why TTY tests cannot run here, or undefined when they can. */
export function ttyUnavailable(): string | undefined {
  const probe = spawnSync('script', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0 || !/util-linux/.test(probe.stdout)) return 'util-linux script is not installed (Debian: bsdutils)';
  return undefined;
}

export interface TtyResult {
  code: number | null;
  /** Every byte written to the terminal (stdout and stderr share it). */
  output: Buffer;
  /** The output replayed on a terminal `columns` wide. */
  screen: Screen;
}

const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/**
 * `wsgi-toolchain ARGS` on a pty `columns` wide (given as $COLUMNS: a pty `script` opens has no size). With
 * `interruptWhen`, Ctrl-C is typed once the output so far satisfies it.
 */
export function runCliInTty(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; columns?: number; timeoutMs?: number; interruptWhen?: (output: string) => boolean } = {},
): Promise<TtyResult> {
  const columns = options.columns ?? 120;
  const command = [process.execPath, cliMain, ...args].map(quote).join(' ');
  const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm-256color', COLUMNS: String(columns), ...options.env };
  // CI=true makes the CLI print plain lines even on a terminal: this is about the terminal view.
  delete env.CI;
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: repoRoot, env, stdio: ['pipe', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let interrupted = false;
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      if (options.interruptWhen && !interrupted && options.interruptWhen(Buffer.concat(chunks).toString('utf8'))) {
        interrupted = true;
        child.stdin.write('\x03');
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 300_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      child.stdin.destroy();
      const output = Buffer.concat(chunks);
      resolve({ code, output, screen: new Screen(columns).write(output) });
    });
  });
}

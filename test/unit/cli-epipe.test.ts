/**
 * `wsgi-toolchain list | head -1`: a reader that goes away must not make the CLI die with an unhandled EPIPE (a Node
 * stack trace, exit 1). The chosen behaviour (src/cli/main.ts, README "Exit codes"): say nothing, drop the rest of
 * stdout, exit with the command's own code, 0 for list.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { cliMain, repoRoot } from '../helpers/cli.js';

const cli = cliMain;

function finished(child: ReturnType<typeof spawn>): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string }> {
  let stderr = '';
  let stdout = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr, stdout });
    });
  });
}

test.serial('list into a pipe whose reader has closed: no stack trace, nothing on stderr, exit 0', async (t) => {
  const child = spawn(process.execPath, [cli, 'list'], {
    cwd: repoRoot,
    env: { ...process.env, CI: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Close our end of the pipe before the CLI has started: every write it makes to stdout fails with EPIPE.
  child.stdout!.destroy();
  const result = await finished(child);
  t.is(result.signal, null);
  t.is(result.stderr, '');
  t.is(result.code, 0);
});

test.serial('`list | head -1` in a shell with pipefail: the first line, no error, and the pipeline succeeds', async (t) => {
  const child = spawn('bash', ['-o', 'pipefail', '-c', '"$0" --import=tsx "$1" list | head -1', process.execPath, cli], {
    cwd: repoRoot,
    env: { ...process.env, CI: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const result = await finished(child);
  t.regex(result.stdout, /^\S+\s+\d+\.\d+/);
  t.is(result.stdout.trim().split('\n').length, 1);
  t.notRegex(result.stderr, /EPIPE|Error|at /);
  t.is(result.code, 0);
});

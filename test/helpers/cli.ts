import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(fileURLToPath(import.meta.url), '..', '..', '..');

/**
 * The CLI as the package ships it, bundled from src/ (each test tier runs `npm run build` first): a user's node runs
 * this file, and it starts in a third of the time tsx takes, which counts over hundreds of runs.
 */
export const cliMain = join(repoRoot, 'dist', 'bin', 'wsgi-toolchain.js');

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

const newest = newestSource(join(repoRoot, 'src'));
for (const built of [join(repoRoot, 'dist', '.tsbuildinfo'), cliMain]) {
  if ((statSync(built, { throwIfNoEntry: false })?.mtimeMs ?? 0) < newest)
    throw new Error(`${built} is older than src/: run \`npm run build\` first (npm run test:unit, test:fixtures and test:e2e do)`);
}

/** Node's flag that runs TypeScript through tsx, by absolute path: it works from any working directory. */
export const tsxImport = `--import=${createRequire(import.meta.url).resolve('tsx')}`;

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI (compiled) as a user would, with a bounded time. */
export function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliMain, ...args], {
      cwd: options.cwd ?? repoRoot,
      env: { ...process.env, CI: '1', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 600_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const buildOrder = ['pcre2', 'apr', 'expat', 'apr-util', 'httpd', 'mod_wsgi'];

/**
 * The components a build's plain output says it configured (compiled), in dependency order: PCRE2 and APR depend on
 * nothing, and either may start first (whichever source unpacks first).
 */
export function compiledComponents(stdout: string): string[] {
  return [...stdout.matchAll(/^\[[\d:]+\] (\S+) [\d.]+: configure\b/gm)]
    .map((m) => m[1]!)
    .sort((a, b) => buildOrder.indexOf(a) - buildOrder.indexOf(b));
}

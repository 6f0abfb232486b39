import type { WriteStream } from 'node:fs';
import { BuildStepError } from '../errors.js';
import { run } from '../util/run.js';
import type { JobServer } from './jobserver.js';
import { hintFor } from './hints.js';

export const tailLines = 40;

export interface StepContext {
  log: WriteStream;
  logFile: string;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  /** Live output for the UI (TTY only). */
  onLine?: (line: string) => void;
  /** Shared slots: each step holds one while it runs; make steps share the rest through the jobserver. */
  jobs?: JobServer;
  /** Told `true` when the step has to wait for a free slot, and `false` once it has one. */
  onSlotWait?: (waiting: boolean) => void;
}

const stamp = () => new Date().toISOString();

export function logHeader(log: WriteStream, text: string): void {
  log.write(`\n==> [${stamp()}] ${text}\n`);
}

/**
 * Runs one build command with its full output in the build log. On failure the error carries the step's last lines and
 * a hint recognised from them, so the user sees why without opening the log.
 */
export async function runBuildCommand(
  label: string,
  argv: string[],
  cwd: string,
  extraEnv: Record<string, string>,
  context: StepContext,
): Promise<void> {
  if (context.signal.aborted) throw context.signal.reason ?? new Error('aborted');
  const step = (async () => {
    let waited = false;
    await context.jobs?.acquire(context.signal, () => {
      waited = true;
      context.onSlotWait?.(true);
    });
    if (waited) context.onSlotWait?.(false);
    try {
      return await runHoldingSlot(label, argv, cwd, extraEnv, context);
    } finally {
      context.jobs?.release();
    }
  })();
  running.add(step);
  try {
    return await step;
  } finally {
    running.delete(step);
  }
}

const running = new Set<Promise<void>>();

/**
 * After a failure the steps still running beside it are killed; waiting for them to settle keeps their own failure
 * lines from landing after the final error line.
 */
export async function settleRunningSteps(timeoutMs = 10_000): Promise<void> {
  const all = Promise.allSettled([...running]);
  await Promise.race([all, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  await new Promise((r) => setImmediate(r));
}

async function runHoldingSlot(label: string, argv: string[], cwd: string, extraEnv: Record<string, string>, context: StepContext): Promise<void> {
  let extraFds: number[] | undefined;
  // `make -jN` from the plan becomes a jobserver client when N > 1: its parallel jobs then come out of the shared pool.
  if (context.jobs && argv[0] === 'make' && /^-j\d+$/.test(argv[1] ?? '') && argv[1] !== '-j1') {
    const client = context.jobs.makeClient();
    argv = ['make', ...argv.slice(2)];
    extraEnv = { ...extraEnv, ...client.env };
    extraFds = client.extraFds;
  }
  const envText = Object.entries(extraEnv)
    .map(([k, v]) => `${k}=${v} `)
    .join('');
  logHeader(context.log, `${label}: (cd ${cwd} && ${envText}${argv.join(' ')})`);
  const tail: string[] = [];
  const started = Date.now();
  let result;
  try {
    result = await run(argv, {
      cwd,
      extraFds,
      env: { ...context.env, ...extraEnv },
      log: context.log,
      signal: context.signal,
      onLine: (line) => {
        tail.push(line);
        if (tail.length > tailLines) tail.shift();
        context.onLine?.(line);
      },
    });
  } catch (error) {
    const message = (error as Error).message;
    context.log.write(`${message}\n`);
    throw new BuildStepError(
      `${label} could not start ${argv[0]}: ${message}`,
      hintFor(`${message} ${argv[0]}: not found`, `check that ${argv[0]} is installed and on PATH`),
      context.logFile,
      [],
    );
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  logHeader(context.log, `${label}: exit ${result.code ?? result.signal} after ${seconds}s`);
  if (context.signal.aborted) throw context.signal.reason ?? new Error('aborted');
  if (result.code !== 0) {
    throw new BuildStepError(
      // The program only: its arguments hold the 200-character stage path and are in the log.
      `${label} failed (${argv[0]} exited with ${result.code ?? result.signal})`,
      hintFor(tail.join('\n'), `read the full log for the first error: ${context.logFile}`),
      context.logFile,
      tail,
    );
  }
}

/**
 * Renders a build's events; it decides nothing about the build.
 *  - terminal: a listr2 task list, one live line per component and stack step with its phase, elapsed time and the
 *    time of its last recorded build, rewritten in place (terminal-view.ts); compiler output stays in the log;
 *  - plain (CI, pipes, --verbose): one timestamped line per change, and a heartbeat line about every busy component or
 *    step at least every 30 s (plain-view.ts); --verbose adds the compiler output;
 *  - silent: nothing.
 */
import type { BuildEvents } from '../pipeline/events.js';
import { type Clock, realClock } from './clock.js';
import { plainView, type View } from './plain-view.js';

export { stepTitles } from './board.js';

export type ViewMode = 'tty' | 'plain' | 'silent';

export interface BuildView extends View {}

/** The terminal the terminal view draws on (process.stdout by default). */
export interface Terminal {
  write: (text: string) => unknown;
  columns?: number;
  rows?: number;
}

export interface RenderOptions {
  /** Stream every build command's output (plain view). */
  verbose?: boolean;
  /** Plain view: writes one line (default: process.stdout). */
  write?: (line: string) => void;
  /** Plain view: the longest silence about a busy component or step (default 30 s). */
  heartbeatMs?: number;
  /** Terminal view: where to draw (default process.stdout), and how often busy lines are refreshed (default 2 s). */
  terminal?: Terminal;
  refreshMs?: number;
  env?: NodeJS.ProcessEnv;
  clock?: Clock;
}

/** Below this many terminal rows the list would not fit (components, steps, the cursor line): plain lines instead. */
const minRows = 14;

/** The view for `mode`; the terminal view's task list (listr2) is loaded only when it draws. */
export async function renderBuild(events: BuildEvents, mode: ViewMode, opts: RenderOptions = {}): Promise<BuildView> {
  if (mode === 'silent') return { close: async () => undefined };
  const clock = opts.clock ?? realClock;
  const env = opts.env ?? process.env;
  const terminal: Terminal = opts.terminal ?? process.stdout;
  const plain = mode === 'plain' || opts.verbose || (terminal.rows !== undefined && terminal.rows > 0 && terminal.rows < minRows);
  if (plain)
    return plainView(events, {
      write: opts.write ?? ((line) => process.stdout.write(`${line}\n`)),
      verbose: opts.verbose ?? false,
      heartbeatMs: opts.heartbeatMs ?? 30_000,
      clock,
    });
  const { terminalView } = await import('./terminal-view.js');
  return terminalView(events, {
    write: (text) => terminal.write(text),
    // A pseudo-terminal nobody sized (script, some CI runners) reports 0 columns: then $COLUMNS, then 80.
    columns: terminal.columns || Number(env.COLUMNS) || 80,
    color: !env.NO_COLOR && env.TERM !== 'dumb',
    refreshMs: opts.refreshMs ?? 2000,
    clock,
  });
}

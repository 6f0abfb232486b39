/**
 * The plain view (CI logs, pipes, --verbose): one timestamped line per change, and, while a component or step is busy,
 * a "still working" line about it whenever nothing was printed about it for `heartbeatMs`, so a log never goes quiet
 * for longer than that during a long configure or compile. Compiler output only with `verbose`.
 */
import type { BuildEvent, BuildEvents } from '../pipeline/events.js';
import { BuildBoard, type Row } from './board.js';
import { type Clock, clockStamp } from './clock.js';

export interface PlainViewOptions {
  /** Writes one line (without its newline). */
  write: (line: string) => void;
  verbose: boolean;
  heartbeatMs: number;
  clock: Clock;
}

export interface View {
  close: () => Promise<void>;
}

export function plainView(events: BuildEvents, opts: PlainViewOptions): View {
  const { write, clock, heartbeatMs } = opts;
  const board = new BuildBoard();
  /** When the last line about each row was printed. */
  const lastLine = new Map<string, number>();
  const said = new Map<string, string>();
  let timer: unknown;

  const print = (text: string) => write(`[${clockStamp(clock.now())}] ${text}`);
  const running = () => board.rows.filter((r) => r.state === 'running');

  const schedule = () => {
    if (timer !== undefined) clock.clearTimeout(timer);
    timer = undefined;
    const busy = running();
    if (busy.length === 0) return;
    const now = clock.now();
    const due = Math.min(...busy.map((r) => (lastLine.get(r.id) ?? now) + heartbeatMs));
    timer = clock.setTimeout(beat, Math.max(0, due - now));
  };

  const beat = () => {
    timer = undefined;
    const now = clock.now();
    for (const row of running()) {
      if (now - (lastLine.get(row.id) ?? now) < heartbeatMs) continue;
      print(`still working: ${board.text(row, now)}`);
      lastLine.set(row.id, now);
    }
    schedule();
  };

  const report = (row: Row) => {
    const now = clock.now();
    // A change is one line, without the elapsed time (the heartbeat says how long a step has been running).
    const text = row.kind === 'step' && row.state === 'running' ? `${row.label} ...` : board.text(row, now, false);
    if (said.get(row.id) === text) return;
    said.set(row.id, text);
    print(text);
    lastLine.set(row.id, now);
  };

  const onEvent = (event: BuildEvent) => {
    if (event.type === 'note') print(event.text);
    else if (event.type === 'output') {
      if (opts.verbose) write(`  ${event.name} | ${event.line}`);
    } else {
      const row = board.apply(event, clock.now());
      // Download progress comes as the component's detail lines; its byte counts are for the terminal.
      if (!row || event.type === 'download') return;
      report(row);
      schedule();
    }
  };
  events.on('event', onEvent);
  return {
    close: async () => {
      events.off('event', onEvent);
      if (timer !== undefined) clock.clearTimeout(timer);
      timer = undefined;
    },
  };
}

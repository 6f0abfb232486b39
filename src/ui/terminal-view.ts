/**
 * The terminal view: one line per component (and per stack step once it starts), rewritten in place when it changes,
 * the way cargo and docker build keep a live status. Only a changed line is written (cursor up to it, rewrite, back
 * down), and busy lines are refreshed every `refreshMs` for their elapsed time, so a whole cold build writes a few
 * tens of KB. Compiler output never reaches the terminal (it is in the log; --verbose streams it in the plain view).
 *
 * Lines are cut to the terminal's width, so none wraps and the cursor arithmetic holds; each starts with a carriage
 * return, so it lands in column 0 whether or not the terminal turns LF into CR LF. The cursor stays visible below the
 * list (nothing to restore when the process is interrupted); notes go above the list.
 */
import type { BuildEvent, BuildEvents } from '../pipeline/events.js';
import { BuildBoard, type Row, type RowState } from './board.js';
import type { Clock } from './clock.js';
import type { View } from './plain-view.js';

export interface TerminalViewOptions {
  /** Writes raw bytes to the terminal. */
  write: (text: string) => void;
  columns: number;
  color: boolean;
  refreshMs: number;
  clock: Clock;
}

const esc = '\x1b[';

const icons: Record<RowState, string> = {
  pending: '·',
  running: '▸',
  done: '✔',
  skipped: '↓',
  failed: '✖',
  cancelled: '–',
};

/** SGR colour of each state's icon: cyan running, green done, red failed, yellow cancelled/skipped, dim pending. */
const colours: Record<RowState, string> = {
  pending: '2',
  running: '36',
  done: '32',
  skipped: '33',
  failed: '31',
  cancelled: '33',
};

export function terminalView(events: BuildEvents, opts: TerminalViewOptions): View {
  const { write, clock } = opts;
  const board = new BuildBoard();
  /** What each screen line below the notes holds now, in board row order. */
  const drawn: string[] = [];
  const width = Math.max(20, opts.columns) - 1; // never the last column: no pending wrap, no surprise scroll

  const render = (row: Row, now: number): string => {
    const text = board.text(row, now);
    const cut = text.length > width - 2 ? `${text.slice(0, width - 3)}…` : text;
    const icon = opts.color ? `${esc}${colours[row.state]}m${icons[row.state]}${esc}0m` : icons[row.state];
    return `${icon} ${cut}`;
  };

  /** Rewrites board row `index` in place when its line changed; a new row is added below the others. */
  const draw = (index: number, now: number) => {
    const line = render(board.rows[index]!, now);
    if (index === drawn.length) {
      drawn.push(line);
      write(`\r${line}${esc}K\n`);
      return;
    }
    if (drawn[index] === line) return;
    drawn[index] = line;
    const up = drawn.length - index;
    write(`${esc}${up}A\r${line}${esc}K${esc}${up}B\r`);
  };

  const drawAll = (now: number) => {
    for (let i = 0; i < board.rows.length; i++) draw(i, now);
  };

  /** A line above the list: the list moves down one line and is written again. */
  const note = (text: string) => {
    const cut = text.length > width ? `${text.slice(0, width - 1)}…` : text;
    if (drawn.length === 0) {
      write(`\r${cut}${esc}K\n`);
      return;
    }
    write(`${esc}${drawn.length}A\r${cut}${esc}K\n${drawn.map((l) => `\r${l}${esc}K\n`).join('')}`);
  };

  let ticker: unknown;
  const tick = () => {
    const now = clock.now();
    board.rows.forEach((row, i) => {
      if (row.state === 'running') draw(i, now);
    });
    ticker = clock.setTimeout(tick, opts.refreshMs);
  };
  ticker = clock.setTimeout(tick, opts.refreshMs);

  const onEvent = (event: BuildEvent) => {
    if (event.type === 'note') return note(event.text);
    if (event.type === 'output') return;
    const now = clock.now();
    const row = board.apply(event, now);
    // Byte counts move fast: they are shown at the next refresh, not on every chunk.
    if (event.type === 'download') return;
    if (event.type === 'plan' || !row) drawAll(now);
    else draw(board.rows.indexOf(row), now);
  };
  events.on('event', onEvent);

  return {
    close: async () => {
      clock.clearTimeout(ticker);
      events.off('event', onEvent);
      board.settle();
      drawAll(clock.now());
      // The line below the list may hold an echoed ^C: clear it for whatever is printed next.
      write(`\r${esc}K`);
    },
  };
}

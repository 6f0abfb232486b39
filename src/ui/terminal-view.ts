/**
 * The terminal view: a listr2 task list with one task per component and per stack step, each drawn on one line with its
 * phase, elapsed time and the time of its last recorded build, rewritten in place when it changes (cargo and docker
 * build keep the same kind of live status). The pipeline runs itself: each task only mirrors its row of the board
 * (board.ts), taking the row's line as its title while the build runs and the row's outcome as its own when the build
 * ends (completed, failed, or skipped for a step that was skipped or cancelled).
 *
 * listr2's own default renderer redraws the whole list on every change, which a cold build's hundreds of updates would
 * turn into hundreds of KB; RowRenderer is a listr2 renderer that writes only the line whose task changed
 * (line-screen.ts), and refreshes busy lines every `refreshMs`. Compiler output never reaches the terminal (it is in
 * the log; --verbose streams it in the plain view).
 */
import { Listr, type ListrRendererFactory, ListrTaskEventType, type ListrTaskWrapper } from 'listr2';
import type { BuildEvent, BuildEvents } from '../pipeline/events.js';
import { BuildBoard, type Row, type RowState } from './board.js';
import type { Clock } from './clock.js';
import { LineScreen } from './line-screen.js';
import type { View } from './plain-view.js';

export interface TerminalViewOptions {
  /** Writes raw bytes to the terminal. */
  write: (text: string) => void;
  columns: number;
  color: boolean;
  refreshMs: number;
  clock: Clock;
}

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

/** The parts of a listr2 task the renderer reads. */
interface RenderedTask {
  title?: string;
  on(event: ListrTaskEventType, listener: () => void): void;
  isCompleted(): boolean;
  hasFailed(): boolean;
  isSkipped(): boolean;
}

interface RowRendererOptions {
  screen: LineScreen;
  /** The state of task `index`'s row while listr2 has not settled the task. */
  rowState: (index: number) => RowState;
  color: boolean;
}

/** A listr2 renderer: task i is screen line i, rewritten when the task's title or state changes. */
class RowRenderer {
  static nonTTY = true; // it writes wherever the view's `write` goes
  static rendererOptions = {};
  static rendererTaskOptions = {};

  constructor(
    private readonly tasks: RenderedTask[],
    private readonly options: RowRendererOptions,
  ) {}

  private state(index: number): RowState {
    const task = this.tasks[index]!;
    if (task.hasFailed()) return 'failed';
    if (task.isCompleted()) return 'done';
    const row = this.options.rowState(index);
    if (task.isSkipped()) return row === 'cancelled' ? 'cancelled' : 'skipped';
    return row;
  }

  private draw(index: number): void {
    const state = this.state(index);
    const icon = this.options.color ? `\x1b[${colours[state]}m${icons[state]}\x1b[0m` : icons[state];
    this.options.screen.set(index, `${icon} ${this.options.screen.cut(this.tasks[index]!.title ?? '', 2)}`);
  }

  render(): void {
    this.tasks.forEach((task, index) => {
      this.draw(index);
      task.on(ListrTaskEventType.TITLE, () => this.draw(index));
      task.on(ListrTaskEventType.STATE, () => this.draw(index));
    });
  }

  end(): void {
    this.tasks.forEach((_, index) => this.draw(index));
  }
}

export function terminalView(events: BuildEvents, opts: TerminalViewOptions): View {
  const { clock } = opts;
  const board = new BuildBoard();
  const screen = new LineScreen(opts.write, opts.columns);
  let list: { listr: Listr<unknown, ListrRendererFactory, ListrRendererFactory>; rows: Row[]; done: Promise<unknown> } | undefined;
  let settle!: () => void;
  const buildEnded = new Promise<void>((resolve) => (settle = resolve));

  /** One task per planned row, each waiting for the build to end to take its row's outcome. */
  const start = () => {
    const rows = [...board.rows];
    const outcome = async (row: Row, task: ListrTaskWrapper<unknown, ListrRendererFactory, ListrRendererFactory>) => {
      await buildEnded;
      if (row.state === 'failed') throw new Error(board.text(row, clock.now()));
      if (row.state === 'skipped' || row.state === 'cancelled') task.skip(board.text(row, clock.now()));
    };
    const listr = new Listr<unknown, ListrRendererFactory, ListrRendererFactory>(
      rows.map((row) => ({ title: board.text(row, clock.now()), task: (_ctx: unknown, task) => outcome(row, task) })),
      {
        concurrent: true,
        exitOnError: false,
        registerSignalListeners: false, // the pipeline handles SIGINT and SIGTERM
        renderer: RowRenderer as unknown as ListrRendererFactory,
        rendererOptions: { screen, color: opts.color, rowState: (index: number) => rows[index]!.state } satisfies RowRendererOptions,
        fallbackRendererCondition: false,
        silentRendererCondition: false,
      },
    );
    list = { listr, rows, done: listr.run() };
  };

  /** Gives row's task the row's current line (the renderer writes it only if it changed). */
  const retitle = (row: Row, now: number) => {
    const index = list?.rows.indexOf(row) ?? -1;
    if (index >= 0) list!.listr.tasks[index]!.title$ = board.text(row, now);
  };

  let ticker: unknown;
  const tick = () => {
    const now = clock.now();
    for (const row of list?.rows ?? []) if (row.state === 'running') retitle(row, now);
    ticker = clock.setTimeout(tick, opts.refreshMs);
  };
  ticker = clock.setTimeout(tick, opts.refreshMs);

  const onEvent = (event: BuildEvent) => {
    if (event.type === 'note') return screen.note(event.text);
    if (event.type === 'output') return;
    const now = clock.now();
    const row = board.apply(event, now);
    if (event.type === 'plan') {
      if (!list) start();
      return;
    }
    // Byte counts move fast: they are shown at the next refresh, not on every chunk.
    if (row && event.type !== 'download') retitle(row, now);
  };
  events.on('event', onEvent);

  return {
    close: async () => {
      clock.clearTimeout(ticker);
      events.off('event', onEvent);
      board.settle();
      const now = clock.now();
      for (const row of list?.rows ?? []) retitle(row, now);
      settle();
      await list?.done;
      screen.finish();
    },
  };
}

/**
 * What the build views show, kept from the pipeline's events: one row per component and per stack step (from the plan;
 * a step the plan did not name gets its row when it starts), each with its state and the one line that describes it.
 * Pure: the time is passed in.
 */
import type { BuildEvent, ComponentPhase, StackStep } from '../pipeline/events.js';
import { formatBytes, formatDuration } from '../util/format.js';

export type RowState = 'pending' | 'running' | 'done' | 'skipped' | 'failed' | 'cancelled';

export interface Row {
  /** "c:<component>" or "s:<step>". */
  id: string;
  kind: 'component' | 'step';
  /** "pcre2 10.46", or the step's title. */
  label: string;
  state: RowState;
  /** Components: the pipeline's phase. */
  phase?: ComponentPhase;
  detail?: string;
  /** When it first became busy (ms). */
  started?: number;
  /** Seconds the last recorded build of this component took. */
  estimate?: number;
  /** The running download's bytes, from `download` events. */
  transfer?: { transferred: number; total?: number };
}

export const stepTitles: Record<StackStep, string> = {
  assemble: 'Assemble the stack from its layers',
  verify: 'Verify: httpd with mod_wsgi serves a WSGI app on 127.0.0.1',
  'python-package': 'Python package (mod_wsgi-express, the Django app)',
  activate: 'Activate',
  'drop-in': 'Drop-in for pip install mod_wsgi (mod_wsgi-apxs, mod_wsgi_packages.httpd)',
};

/** The phases in which a component is doing something (and gets elapsed time and heartbeats). */
export const busyPhases: ReadonlySet<ComponentPhase> = new Set<ComponentPhase>([
  'pull',
  'download',
  'unpack',
  'patch',
  'configure',
  'compile',
  'install',
  'store',
]);

function stateOf(phase: ComponentPhase): RowState {
  if (busyPhases.has(phase)) return 'running';
  if (phase === 'stored' || phase === 'done') return 'done';
  if (phase === 'failed') return 'failed';
  if (phase === 'cancelled') return 'cancelled';
  return 'pending';
}

/** The first line of a message, with the next one when the first only introduces it ("every source failed:"). */
function firstLine(text: string | undefined): string {
  const [first = '', second] = (text ?? '').split('\n');
  return first.endsWith(':') && second ? `${first} ${second.trim()}` : first;
}

export class BuildBoard {
  readonly rows: Row[] = [];
  private readonly byId = new Map<string, Row>();
  /** The label of the first row that failed: what the cancelled ones were cancelled for. */
  firstFailure?: string;

  private row(id: string, kind: Row['kind'], label: string): Row {
    let row = this.byId.get(id);
    if (!row) {
      row = { id, kind, label, state: 'pending' };
      this.byId.set(id, row);
      this.rows.push(row);
    }
    return row;
  }

  /** Applies one event; returns the row whose line may have changed (undefined for events without a row). */
  apply(event: BuildEvent, now: number): Row | undefined {
    switch (event.type) {
      case 'plan':
        for (const c of event.components) {
          const row = this.row(`c:${c.name}`, 'component', `${c.name} ${c.version}`);
          if (c.stored) Object.assign(row, { phase: 'stored', state: 'done' });
        }
        for (const step of event.steps ?? []) this.row(`s:${step}`, 'step', stepTitles[step]);
        return undefined;
      case 'component': {
        const row = this.row(`c:${event.name}`, 'component', `${event.name} ${event.version}`);
        const state = stateOf(event.phase);
        // The clock starts when the work starts: a download, then the build (after waiting for the layers it needs).
        if (state === 'running' && row.state !== 'running') row.started = now;
        if (event.phase !== 'download') row.transfer = undefined;
        Object.assign(row, { phase: event.phase, state, detail: event.detail, estimate: event.estimateSeconds ?? row.estimate });
        if (state === 'failed') this.firstFailure ??= row.label;
        return row;
      }
      case 'download': {
        const row = this.byId.get(`c:${event.name}`);
        if (row?.phase !== 'download') return undefined;
        row.transfer = { transferred: event.transferred, total: event.total };
        return row;
      }
      case 'step': {
        const row = this.row(`s:${event.step}`, 'step', stepTitles[event.step]);
        const state: RowState =
          event.state === 'start' ? 'running' : event.state === 'done' ? 'done' : event.state === 'skipped' ? 'skipped' : 'failed';
        if (state === 'running') row.started = now;
        Object.assign(row, { state, detail: event.detail });
        if (state === 'failed') this.firstFailure ??= row.label;
        return row;
      }
      default:
        return undefined;
    }
  }

  /** After the build: whatever is still pending or running did not happen; returns those rows, now cancelled. */
  settle(): Row[] {
    const open = this.rows.filter((r) => r.state === 'pending' || r.state === 'running');
    for (const row of open) Object.assign(row, { state: 'cancelled', detail: undefined, transfer: undefined });
    return open;
  }

  /** The row's line. `live` adds the elapsed time (and the last build's time) to a running row. */
  text(row: Row, now: number, live = true): string {
    const elapsed = () => {
      const seconds = row.started === undefined ? 0 : (now - row.started) / 1000;
      return live && seconds >= 1 ? `, ${formatDuration(seconds)} in` : '';
    };
    switch (row.state) {
      case 'failed':
        return `${row.label}: failed${row.detail ? `: ${firstLine(row.detail)}` : ''}`;
      case 'cancelled':
        return `${row.label}: cancelled${this.firstFailure && this.firstFailure !== row.label ? ` (${this.firstFailure} failed)` : ''}`;
      case 'skipped':
        return `${row.label}: ${row.detail ?? 'skipped'}`;
      case 'done':
        if (row.kind === 'step') return `${row.label}: ${row.detail ?? 'done'}`;
        return row.phase === 'stored' ? `${row.label}: ${row.detail ?? 'in the store'}, nothing to build` : `${row.label}: ${row.detail ?? 'built'}`;
      case 'pending':
        if (row.phase === 'waiting') return `${row.label}: waiting for ${row.detail}`;
        return `${row.label}: ${row.detail ?? 'queued'}`;
      case 'running': {
        if (row.kind === 'step') return `${row.label} ...${elapsed().replace(/^, /, ' ')}`;
        let what: string = row.phase ?? 'running';
        if (row.phase === 'download' && live && row.transfer && row.transfer.transferred > 0) {
          const { transferred, total } = row.transfer;
          what += total
            ? ` ${formatBytes(transferred)} / ${formatBytes(total)} (${Math.floor((transferred / total) * 100)} %)`
            : ` ${formatBytes(transferred)}`;
        } else if ((row.phase === 'download' || row.phase === 'patch' || row.phase === 'pull') && row.detail) what += ` ${row.detail}`;
        const estimate = live && row.estimate !== undefined && row.estimate >= 1 ? ` (last build took ${formatDuration(row.estimate)})` : '';
        return `${row.label}: ${what}${elapsed()}${estimate}`;
      }
    }
  }
}

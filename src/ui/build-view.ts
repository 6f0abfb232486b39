/**
 * Renders a build's events; it decides nothing about the build.
 *  - terminal: listr2's task list, one live line per component with its phase, elapsed time and the estimate from its
 *    last build; compiler output stays in the log (--verbose streams it);
 *  - plain (CI, pipes): one timestamped line per change, and a heartbeat line at least every 30 s while a step runs;
 *  - silent: nothing.
 */
import { Listr, type ListrTask } from 'listr2';
import { formatDuration } from '../util/format.js';
import type { BuildEvent, BuildEvents, ComponentPhase, StackStep } from '../pipeline/events.js';

export type ViewMode = 'tty' | 'plain' | 'silent';

export interface BuildView {
  /** Settles the view after the build: tasks still open are shown as cancelled (never as failed). */
  close: () => Promise<void>;
}

export const stepTitles: Record<StackStep, string> = {
  assemble: 'Assemble the stack from its layers',
  verify: 'Verify: httpd with mod_wsgi serves a WSGI app on 127.0.0.1',
  'python-package': 'Python package (mod_wsgi-express, the Django app)',
  activate: 'Activate',
  'drop-in': 'Drop-in for pip install mod_wsgi (mod_wsgi-apxs, mod_wsgi_packages.httpd)',
};

const busy = new Set<ComponentPhase>(['pull', 'download', 'unpack', 'patch', 'configure', 'compile', 'install', 'store']);

export const duration = formatDuration;

interface ComponentState {
  name: string;
  version: string;
  phase: ComponentPhase;
  detail?: string;
  since: number;
  started?: number;
  estimate?: number;
}

function componentLine(c: ComponentState, now = Date.now(), withElapsed = true): string {
  const head = `${c.name} ${c.version}`;
  switch (c.phase) {
    case 'stored':
      return `${head}: ${c.detail ?? 'in the store'}, nothing to build`;
    case 'done':
      return `${head}: ${c.detail ?? 'built'}`;
    case 'failed':
      return `${head}: failed${c.detail ? `: ${c.detail.split('\n')[0]}` : ''}`;
    case 'cancelled':
      return `${head}: cancelled (another step failed)`;
    case 'queued':
      return `${head}: ${c.detail ?? 'queued'}`;
    case 'waiting':
      return `${head}: waiting for ${c.detail}`;
    default: {
      const seconds = c.started ? (now - c.started) / 1000 : 0;
      const elapsed = withElapsed && seconds >= 1 ? `, ${duration(seconds)} in` : '';
      const estimate = withElapsed && c.estimate && c.estimate >= 1 ? ` (last build took ${duration(c.estimate)})` : '';
      return `${head}: ${c.phase}${c.detail && (c.phase === 'download' || c.phase === 'patch' || c.phase === 'pull') ? ` ${c.detail}` : ''}${elapsed}${estimate}`;
    }
  }
}

const stamp = () => new Date().toISOString().slice(11, 19);

/** Plain lines: every change once, a heartbeat for long steps, compiler output only with `verbose`. */
function plainView(events: BuildEvents, write: (line: string) => void, verbose: boolean, heartbeatMs: number): BuildView {
  const components = new Map<string, ComponentState>();
  const steps = new Map<StackStep, number>();
  const print = (text: string) => write(`[${stamp()}] ${text}`);
  const onEvent = (e: BuildEvent) => {
    if (e.type === 'component') {
      const seen = components.get(e.name);
      const c = seen ?? { name: e.name, version: e.version, phase: e.phase, since: Date.now() };
      const changed = !seen || c.phase !== e.phase || c.detail !== e.detail;
      if (busy.has(e.phase) && !c.started) c.started = Date.now();
      Object.assign(c, { phase: e.phase, detail: e.detail, since: Date.now(), estimate: e.estimateSeconds ?? c.estimate });
      components.set(e.name, c);
      // A change is one line, without the elapsed time (the heartbeat says how long a step has been running).
      if (changed) print(componentLine(c, Date.now(), false));
    } else if (e.type === 'step') {
      if (e.state === 'start') steps.set(e.step, Date.now());
      else steps.delete(e.step);
      const title = stepTitles[e.step];
      print(
        e.state === 'start'
          ? `${title} ...`
          : `${title}: ${e.state === 'done' ? (e.detail ?? 'done') : `${e.state}${e.detail ? `: ${e.detail.split('\n')[0]}` : ''}`}`,
      );
    } else if (e.type === 'note') print(e.text);
    else if (e.type === 'output' && verbose) write(`  ${e.name} | ${e.line}`);
  };
  events.on('event', onEvent);
  const heartbeat = setInterval(() => {
    const running = [...components.values()].filter((c) => busy.has(c.phase));
    const now = Date.now();
    for (const c of running) if (now - c.since >= heartbeatMs - 500) print(`still working: ${componentLine(c, now)}`);
    for (const [step, since] of steps)
      if (now - since >= heartbeatMs - 500) print(`still working: ${stepTitles[step]} (${duration((now - since) / 1000)})`);
  }, heartbeatMs);
  heartbeat.unref();
  return {
    close: async () => {
      clearInterval(heartbeat);
      events.off('event', onEvent);
    },
  };
}

/** The part of listr2's task wrapper the view uses. */
interface Wrapper {
  title: string;
  skip: (message?: string) => void;
}

/** listr2 in a terminal: a task per component and per stack step, their titles kept current from the events. */
function terminalView(events: BuildEvents): BuildView {
  const components = new Map<string, ComponentState>();
  type Outcome = { outcome: 'done' | 'skip' | 'fail'; text: string };
  const taskOf = new Map<string, { wrapper?: Wrapper; settle?: (outcome: Outcome['outcome'], text: string) => void; pending?: Outcome }>();
  const slot = (id: string) => {
    let s = taskOf.get(id);
    if (!s) {
      s = {};
      taskOf.set(id, s);
    }
    return s;
  };
  const settled = new Set<string>();
  const settle = (id: string, outcome: Outcome['outcome'], text: string) => {
    if (settled.has(id)) return;
    settled.add(id);
    const s = slot(id);
    if (s.settle) s.settle(outcome, text);
    else s.pending = { outcome, text };
  };
  const waitFor = (id: string, initial: string): ListrTask => ({
    title: initial,
    task: (_ctx, wrapper) =>
      new Promise<void>((resolve, reject) => {
        const s = slot(id);
        s.wrapper = wrapper as Wrapper;
        s.settle = (outcome, text) => {
          wrapper.title = text;
          if (outcome === 'fail') reject(new Error(text));
          else {
            if (outcome === 'skip') wrapper.skip(text);
            resolve();
          }
        };
        if (s.pending) s.settle(s.pending.outcome, s.pending.text);
      }),
  });
  let list: Listr | undefined;
  let running: Promise<unknown> | undefined;
  const refresh = () => {
    for (const [name, c] of components) {
      const w = taskOf.get(`c:${name}`)?.wrapper;
      if (w && busy.has(c.phase)) w.title = componentLine(c);
    }
  };
  const ticker = setInterval(refresh, 2000);
  ticker.unref();
  const onEvent = (e: BuildEvent) => {
    if (e.type === 'plan' && !list) {
      const tasks = [
        ...e.components.map((c) => waitFor(`c:${c.name}`, `${c.name} ${c.version}${c.stored ? ': in the store' : ''}`)),
        ...(Object.keys(stepTitles) as StackStep[]).map((s) => waitFor(`s:${s}`, stepTitles[s])),
      ];
      list = new Listr(tasks, {
        concurrent: true,
        exitOnError: false,
        renderer: 'default',
        fallbackRenderer: 'simple',
        registerSignalListeners: false,
        collectErrors: false,
        rendererOptions: { collapseSubtasks: false, collapseErrors: false },
      });
      running = list.run().catch(() => undefined);
      return;
    }
    if (e.type === 'component') {
      const c = components.get(e.name) ?? { name: e.name, version: e.version, phase: e.phase, since: Date.now() };
      if (busy.has(e.phase) && !c.started) c.started = Date.now();
      Object.assign(c, { phase: e.phase, detail: e.detail, since: Date.now(), estimate: e.estimateSeconds ?? c.estimate });
      components.set(e.name, c);
      const id = `c:${e.name}`;
      const w = taskOf.get(id)?.wrapper;
      if (w) w.title = componentLine(c);
      if (e.phase === 'stored' || e.phase === 'done') settle(id, 'done', componentLine(c));
      else if (e.phase === 'failed') settle(id, 'fail', componentLine(c));
      else if (e.phase === 'cancelled') settle(id, 'skip', componentLine(c));
    } else if (e.type === 'step') {
      const id = `s:${e.step}`;
      const w = taskOf.get(id)?.wrapper;
      if (e.state === 'start' && w) w.title = `${stepTitles[e.step]} ...`;
      else if (e.state === 'done') settle(id, 'done', `${stepTitles[e.step]}: ${e.detail ?? 'done'}`);
      else if (e.state === 'failed') settle(id, 'fail', `${stepTitles[e.step]}: failed: ${(e.detail ?? '').split('\n')[0]}`);
      else if (e.state === 'skipped') settle(id, 'skip', `${stepTitles[e.step]}: ${e.detail ?? 'skipped'}`);
    }
  };
  events.on('event', onEvent);
  return {
    close: async () => {
      clearInterval(ticker);
      events.off('event', onEvent);
      for (const id of taskOf.keys()) settle(id, 'skip', `${taskOf.get(id)?.wrapper?.title ?? id}: not run`);
      await running;
    },
  };
}

export function renderBuild(
  events: BuildEvents,
  mode: ViewMode,
  opts: { verbose?: boolean; write?: (line: string) => void; heartbeatMs?: number } = {},
): BuildView {
  if (mode === 'silent') return { close: async () => undefined };
  if (mode === 'plain' || opts.verbose)
    return plainView(events, opts.write ?? ((line) => process.stdout.write(`${line}\n`)), opts.verbose ?? false, opts.heartbeatMs ?? 30_000);
  return terminalView(events);
}

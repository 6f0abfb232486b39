/**
 * The build views on synthetic events and a hand-driven clock: the plain view's heartbeats (at least every heartbeatMs
 * about every busy component or step), cancelled vs failed, compiler output only with --verbose; the terminal view
 * replayed on a small terminal emulator (only changed lines are written, lines never wrap, notes go above the list).
 */
import test from 'ava';
import { BuildEvents, type BuildEvent } from '../../../src/pipeline/events.js';
import { renderBuild } from '../../../src/ui/build-view.js';
import type { Clock } from '../../../src/ui/clock.js';
import { Screen } from '../../helpers/screen.js';

class FakeClock implements Clock {
  private t = Date.UTC(2024, 0, 1, 12, 0, 0);
  private readonly timers = new Map<number, { at: number; fn: () => void }>();
  private next = 1;
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): number {
    const id = this.next++;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  /** Moves the time on by `ms`, running every timer that falls due on the way, in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = [...this.timers.entries()].filter(([, timer]) => timer.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.t = due[1].at;
      due[1].fn();
    }
    this.t = end;
  }
  get pending(): number {
    return this.timers.size;
  }
}

const plan: BuildEvent = {
  type: 'plan',
  stackId: 'abc',
  prefix: '/p',
  components: [
    { name: 'pcre2', version: '10.46', layer: 'k1', stored: false },
    { name: 'apr', version: '1.7.5', layer: 'k2', stored: false },
    { name: 'httpd', version: '2.4.68', layer: 'k3', stored: true },
  ],
};
const apr = (phase: Extract<BuildEvent, { type: 'component' }>['phase'], extra: Partial<Extract<BuildEvent, { type: 'component' }>> = {}) =>
  ({ type: 'component', name: 'apr', version: '1.7.5', phase, ...extra }) as BuildEvent;
const pcre2 = (phase: Extract<BuildEvent, { type: 'component' }>['phase'], extra: Partial<Extract<BuildEvent, { type: 'component' }>> = {}) =>
  ({ type: 'component', name: 'pcre2', version: '10.46', phase, ...extra }) as BuildEvent;

async function plain(opts: { heartbeatMs?: number; verbose?: boolean } = {}) {
  const clock = new FakeClock();
  const events = new BuildEvents();
  const lines: { at: number; text: string }[] = [];
  const view = await renderBuild(events, 'plain', {
    clock,
    heartbeatMs: opts.heartbeatMs ?? 30_000,
    verbose: opts.verbose,
    write: (text) => lines.push({ at: clock.now(), text }),
  });
  return { clock, events, lines, view, texts: () => lines.map((l) => l.text.replace(/^\[\d\d:\d\d:\d\d\] /, '')) };
}

test('plain: a long configure gets a "still working" line every heartbeatMs, with its elapsed time and the last build time', async (t) => {
  const p = await plain();
  p.events.send(plan);
  p.events.send(apr('configure', { estimateSeconds: 100 }));
  p.clock.advance(95_000);
  p.events.send(apr('compile', { estimateSeconds: 100 }));
  p.clock.advance(20_000);
  p.events.send(apr('done', { detail: 'built in 115.0 s, layer 3f2a stored' }));
  p.clock.advance(120_000);
  await p.view.close();
  t.deepEqual(p.texts(), [
    'apr 1.7.5: configure',
    'still working: apr 1.7.5: configure, 30s in (last build took 1m40s)',
    'still working: apr 1.7.5: configure, 1m00s in (last build took 1m40s)',
    'still working: apr 1.7.5: configure, 1m30s in (last build took 1m40s)',
    'apr 1.7.5: compile',
    'apr 1.7.5: built in 115.0 s, layer 3f2a stored',
  ]);
  t.regex(p.lines[0]!.text, /^\[12:00:00\] /, 'lines carry the time');
  t.is(p.clock.pending, 0, 'no timer is left once nothing is busy');
});

test('plain: each busy component and step is never left unmentioned for longer than heartbeatMs', async (t) => {
  const p = await plain({ heartbeatMs: 10_000 });
  p.events.send(plan);
  p.events.send(pcre2('compile'));
  p.clock.advance(4_000);
  p.events.send(apr('configure'));
  p.clock.advance(3_000);
  p.events.send({ type: 'output', name: 'apr', line: 'checking for gcc... gcc' });
  p.clock.advance(40_000);
  p.events.send(pcre2('done', { detail: 'built' }));
  p.events.send(apr('failed', { detail: 'apr 1.7.5: configure failed\nmore' }));
  p.events.send({ type: 'step', step: 'verify', state: 'start' });
  p.clock.advance(25_000);
  p.events.send({ type: 'step', step: 'verify', state: 'done', detail: 'answered 200' });
  await p.view.close();
  for (const name of ['pcre2 10.46', 'apr 1.7.5', 'Verify']) {
    const about = p.lines.filter((l) => l.text.includes(name));
    t.true(about.length >= 3, name);
    for (let i = 1; i < about.length; i++) t.true(about[i]!.at - about[i - 1]!.at <= 10_000, `${name}: ${about[i - 1]!.text} -> ${about[i]!.text}`);
  }
  t.true(p.texts().includes('still working: Verify: httpd with mod_wsgi serves a WSGI app on 127.0.0.1 ... 20s in'));
  t.false(
    p.texts().some((l) => l.includes('checking for gcc')),
    'compiler output only with --verbose',
  );
  t.true(p.texts().includes('apr 1.7.5: failed: apr 1.7.5: configure failed'), 'a failure is one line');
});

test('plain: --verbose streams the compiler output, prefixed with the component', async (t) => {
  const p = await plain({ verbose: true });
  p.events.send(plan);
  p.events.send(apr('configure'));
  p.events.send({ type: 'output', name: 'apr', line: 'checking for gcc... gcc' });
  await p.view.close();
  t.true(p.lines.some((l) => l.text === '  apr | checking for gcc... gcc'));
});

test('plain: components stopped because another failed are cancelled, naming it; none of them failed', async (t) => {
  const p = await plain();
  p.events.send(plan);
  p.events.send(pcre2('configure'));
  p.events.send(apr('failed', { detail: 'apr 1.7.5: configure failed (./configure exited with 77)' }));
  p.events.send(pcre2('cancelled'));
  await p.view.close();
  t.deepEqual(p.texts(), [
    'pcre2 10.46: configure',
    'apr 1.7.5: failed: apr 1.7.5: configure failed (./configure exited with 77)',
    'pcre2 10.46: cancelled (apr 1.7.5 failed)',
  ]);
});

async function terminal(columns = 80, opts: { rows?: number; env?: NodeJS.ProcessEnv } = {}) {
  const clock = new FakeClock();
  const events = new BuildEvents();
  const writes: string[] = [];
  const lines: string[] = [];
  const screen = new Screen(columns || 120);
  const view = await renderBuild(events, 'tty', {
    clock,
    write: (line) => lines.push(line),
    refreshMs: 2000,
    env: { TERM: 'xterm-256color', ...opts.env },
    terminal: { columns, rows: opts.rows, write: (text: string) => (writes.push(text), screen.write(text)) },
  });
  return { clock, events, writes, lines, screen, view };
}

test('terminal: one line per component and planned step, each rewritten in place; the final screen shows every final state', async (t) => {
  const v = await terminal();
  v.events.send({ ...plan, steps: ['assemble', 'activate'] } as BuildEvent);
  t.deepEqual(v.screen.text(), [
    '· pcre2 10.46: queued',
    '· apr 1.7.5: queued',
    '✔ httpd 2.4.68: in the store, nothing to build',
    '· Assemble the stack from its layers: queued',
    '· Activate: queued',
  ]);
  v.events.send(pcre2('configure', { estimateSeconds: 40 }));
  v.clock.advance(5_000);
  t.is(v.screen.text()[0], '▸ pcre2 10.46: configure, 4s in (last build took 40s)');
  v.events.send({ type: 'output', name: 'pcre2', line: 'checking for gcc... gcc' });
  v.events.send(apr('failed', { detail: 'apr 1.7.5: configure failed\nthe tail' }));
  v.events.send(pcre2('cancelled'));
  v.events.send({ type: 'step', step: 'assemble', state: 'start' });
  t.is(v.screen.text()[3], '▸ Assemble the stack from its layers ...');
  await v.view.close();
  t.deepEqual(v.screen.text(), [
    '– pcre2 10.46: cancelled (apr 1.7.5 failed)',
    '✖ apr 1.7.5: failed: apr 1.7.5: configure failed',
    '✔ httpd 2.4.68: in the store, nothing to build',
    '– Assemble the stack from its layers: cancelled (apr 1.7.5 failed)',
    '– Activate: cancelled (apr 1.7.5 failed)',
  ]);
  t.false(v.writes.join('').includes('checking for gcc'), 'compiler output never reaches the terminal');
});

test('terminal: a change writes only its own line; an unchanged refresh writes nothing', async (t) => {
  const v = await terminal();
  v.events.send(plan);
  v.events.send(apr('configure'));
  const before = v.writes.length;
  v.events.send(apr('configure'));
  t.is(v.writes.length, before, 'the same line again is not written');
  v.events.send(apr('compile'));
  const update = v.writes.at(-1)!;
  t.true(update.includes('apr 1.7.5: compile'));
  t.false(update.includes('pcre2'), 'the other lines are not written again');
  t.true(update.length < 80, `one short update: ${JSON.stringify(update)}`);
  const afterChange = v.writes.length;
  v.clock.advance(2_000);
  t.is(v.writes.length, afterChange + 1, 'the refresh rewrites the busy line (its elapsed time moved)');
  v.events.send(apr('done', { detail: 'built' }));
  const settled = v.writes.length;
  v.clock.advance(10_000);
  t.is(v.writes.length, settled, 'nothing busy: the refresh writes nothing');
  await v.view.close();
});

test('terminal: lines are cut to the width (no wrap breaks the list); notes go above it', async (t) => {
  const v = await terminal(40);
  v.events.send({ type: 'note', text: 'before the plan' });
  v.events.send(plan);
  v.events.send(apr('queued', { detail: 'apr-1.7.5.tar.bz2 from sources:/a/very/long/path/that/goes/on, sha256 ok' }));
  v.events.send({ type: 'note', text: 'taking over a stale lock' });
  await v.view.close();
  const lines = v.screen.text();
  for (const line of lines) t.true(line.length < 40, line);
  t.deepEqual(lines.slice(0, 2), ['before the plan', 'taking over a stale lock']);
  t.regex(lines[3]!, /^– apr 1\.7\.5: cancelled$/);
});

test('terminal: a pty nobody sized (0 columns) takes $COLUMNS; a terminal too short for the list gets plain lines', async (t) => {
  const v = await terminal(0, { env: { COLUMNS: '30' } });
  v.events.send(plan);
  v.events.send(apr('queued', { detail: 'x'.repeat(100) }));
  await v.view.close();
  t.true(
    v.screen.text().every((l) => l.length < 30),
    v.screen.text().join('\n'),
  );

  const short = await terminal(80, { rows: 8 });
  short.events.send(plan);
  short.events.send(apr('configure'));
  await short.view.close();
  t.deepEqual(short.writes, [], 'no list is drawn');
  t.deepEqual(short.lines, ['[12:00:00] apr 1.7.5: configure'], 'plain lines instead');
});

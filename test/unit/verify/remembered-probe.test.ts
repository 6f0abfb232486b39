/** The verify stage asks our httpd `-v` and `-l` once per httpd layer, then reads the answer from the store's facts. */
import test from 'ava';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rememberedHttpdProbe } from '../../../src/pipeline/verify-stack.js';

/** An httpd stand-in that answers -v and -l as Apache does and counts its runs; `modules` empty: it lists none. */
async function fakeHttpd(t: { teardown: (fn: () => Promise<void>) => void }, modules = ['core.c', 'mod_so.c', 'http_core.c']) {
  const dir = await mkdtemp(join(tmpdir(), 'wsgi-probe-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const runs = join(dir, 'runs');
  const httpd = join(dir, 'httpd');
  await writeFile(
    httpd,
    [
      '#!/bin/sh',
      `echo "$1" >> ${runs}`,
      'if [ "$1" = -v ]; then echo "Server version: Apache/2.4.99 (Unix)"; fi',
      `if [ "$1" = -l ]; then echo "Compiled in modules:"; for m in ${modules.join(' ')}; do echo "  $m"; done; fi`,
      '',
    ].join('\n'),
  );
  await chmod(httpd, 0o755);
  const count = async () => (await readFile(runs, 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
  return { dir, httpd, count, facts: { dir: join(dir, 'facts') } };
}

test('asked once per layer key, then remembered; another layer asks again', async (t) => {
  const { httpd, count, facts } = await fakeHttpd(t);
  const first = await rememberedHttpdProbe(facts, 'a'.repeat(64), httpd);
  t.deepEqual(first, { version: '2.4.99', compiledIn: ['core.c', 'mod_so.c', 'http_core.c'] });
  t.is(await count(), 2, 'httpd -v and httpd -l');
  t.deepEqual(await rememberedHttpdProbe(facts, 'a'.repeat(64), httpd), first);
  t.is(await count(), 2, 'the second time, no httpd run');
  await rememberedHttpdProbe(facts, 'b'.repeat(64), httpd);
  t.is(await count(), 4, 'another httpd layer is asked');
});

test('an answer that lists no compiled-in modules is not remembered; without a layer key nothing is', async (t) => {
  const { httpd, count, facts } = await fakeHttpd(t, []);
  t.deepEqual((await rememberedHttpdProbe(facts, 'c'.repeat(64), httpd)).compiledIn, []);
  await rememberedHttpdProbe(facts, 'c'.repeat(64), httpd);
  t.is(await count(), 4, 'asked both times');
  const other = await fakeHttpd(t);
  await rememberedHttpdProbe(other.facts, undefined, other.httpd);
  await rememberedHttpdProbe(other.facts, undefined, other.httpd);
  t.is(await other.count(), 4);
});

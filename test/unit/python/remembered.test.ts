import { removeTempDirs, tempDir } from '../../helpers/temp.js';
import test from 'ava';
import { chmod, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { detectPython } from '../../../src/python/detect.js';

const python = '/usr/bin/python3';

test.after.always(removeTempDirs);

test('an interpreter run directly is asked once; later detections read its answer from the facts cache', async (t) => {
  const dir = await tempDir('py-facts-');
  const first = await detectPython({ python, cache: { dir } });
  const [file, ...more] = (await readdir(dir)).filter((f) => f.startsWith('python-'));
  t.truthy(file);
  t.is(more.length, 0);
  // Proof the second answer comes from the file, not from running Python: edit what it holds.
  const saved = JSON.parse(await readFile(join(dir, file!), 'utf8'));
  saved.value.version = '3.99.1';
  await writeFile(join(dir, file!), JSON.stringify(saved));
  t.is((await detectPython({ python, cache: { dir } })).version, '3.99.1');
  t.not(first.version, '3.99.1');
  // A damaged file is asked again, not trusted.
  await writeFile(join(dir, file!), JSON.stringify({ key: saved.key, value: { version: 3 } }));
  t.is((await detectPython({ python, cache: { dir } })).version, first.version);
});

test('a wrapper (a pyenv shim picks its Python when it runs) is never remembered; a read-only cache writes nothing', async (t) => {
  const dir = await tempDir('py-facts-');
  const wrapper = join(dir, 'python3-wrapper');
  await writeFile(wrapper, `#!/bin/sh\nexec ${python} "$@"\n`);
  await chmod(wrapper, 0o755);
  const cache = join(dir, 'facts');
  await detectPython({ python: wrapper, cache: { dir: cache } });
  t.deepEqual(await readdir(cache).catch(() => []), []);
  await detectPython({ python, cache: { dir: cache, readOnly: true } });
  t.deepEqual(await readdir(cache).catch(() => []), []);
});

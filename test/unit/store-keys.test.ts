/** Keys read from records name files in the store: one that is not a sha256 is refused, never used as a path. */
import test from 'ava';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Store } from '../../src/store/store.js';
import { removeTempDirs, tempDir } from '../helpers/temp.js';

test.after.always(removeTempDirs);

test('a layer or stack key that is not a sha256 is refused; a stack record not named by its own key is not listed', async (t) => {
  const dir = await tempDir('store-keys-');
  const store = new Store(join(dir, 'store'));
  await mkdir(join(dir, 'store', 'stacks'), { recursive: true });
  await writeFile(join(dir, 'precious.json'), 'theirs\n');
  const outside = '../../precious';
  await t.throwsAsync(store.layer(outside), { message: /layer key "\.\.\/\.\.\/precious" is not a sha256/ });
  await t.throwsAsync(store.removeStack(outside), { message: /stack key "\.\.\/\.\.\/precious" is not a sha256/ });
  t.is(await readFile(join(dir, 'precious.json'), 'utf8'), 'theirs\n');
  // A forged record (cache prune removes the stacks whose layers are gone, by their key).
  await writeFile(join(dir, 'store', 'stacks', 'evil.json'), JSON.stringify({ key: outside, layers: [], createdAt: '' }));
  const good = 'a'.repeat(64);
  await writeFile(join(dir, 'store', 'stacks', `${good}.json`), JSON.stringify({ key: good, layers: [], createdAt: '' }));
  t.deepEqual(
    (await store.stacks()).map((s) => s.key),
    [good],
  );
  t.deepEqual((await readdir(join(dir, 'store', 'stacks'))).sort(), [
    'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.json',
    'evil.json',
  ]);
});

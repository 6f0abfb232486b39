/** cache prune's build logs (src/store/prune.ts): nothing is removed through a logs/ that is a link to elsewhere. */
import test from 'ava';
import { mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pruneStore } from '../../src/store/prune.js';
import { Store } from '../../src/store/store.js';
import { removeTempDirs, tempDir } from '../helpers/temp.js';

test.after.always(removeTempDirs);

test('a store whose logs/ is a symbolic link: prune refuses it, naming it, and the files it points at stay', async (t) => {
  const dir = await tempDir('prune-logs-');
  const victim = join(dir, 'victim');
  await mkdir(victim);
  for (let i = 0; i < 25; i++) await writeFile(join(victim, `build-${String(i).padStart(2, '0')}.log`), 'theirs\n');
  await mkdir(join(dir, 'store'));
  await symlink(victim, join(dir, 'store', 'logs'));
  await t.throwsAsync(pruneStore(new Store(join(dir, 'store')), { keep: 0, dryRun: false }), { message: /logs is a symbolic link/ });
  t.is((await readdir(victim)).length, 25);
});

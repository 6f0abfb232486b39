/** `lock` prints the lock on stdout, as its help says; `--output FILE` writes the same bytes to FILE instead. */
import test from 'ava';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../helpers/cli.js';
import { snapshotTree } from '../../helpers/tree.js';

let work: string;
test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'wsgi-cli-lock-'));
});
test.after.always(async () => {
  await rm(work, { recursive: true, force: true });
});

test.serial('lock without --output prints the lock JSON on stdout and writes no file; with --output FILE it writes exactly that', async (t) => {
  const prefix = join(work, 'prefix');
  const env = { WSGI_HTTPD_CACHE_DIR: join(work, 'cache') };
  const args = ['lock', '--prefix', prefix, '--python', '/usr/bin/python3', '--mod-wsgi', '5.0.2'];
  const before = await snapshotTree(work);

  const printed = await runCli(args, { env, timeoutMs: 120_000 });
  t.is(printed.code, 0, printed.stderr);
  const lock = JSON.parse(printed.stdout) as { lockfileVersion: number; components: { name: string; version: string }[] };
  t.is(lock.lockfileVersion, 1);
  t.is(lock.components.find((c) => c.name === 'mod_wsgi')?.version, '5.0.2');
  t.false(existsSync(prefix), 'no prefix, no lock file in it');
  t.deepEqual(await snapshotTree(work), before, 'no file written anywhere in the work directory');

  const file = join(work, 'ci.lock.json');
  const written = await runCli([...args, '--output', file], { env, timeoutMs: 120_000 });
  t.is(written.code, 0, written.stderr);
  t.is(written.stdout, `wrote ${file}\n`);
  t.is(await readFile(file, 'utf8'), printed.stdout);

  const quiet = await runCli([...args, '-o', file, '--json'], { env, timeoutMs: 120_000 });
  t.is(quiet.code, 0, quiet.stderr);
  t.is(quiet.stdout, '', '--json with --output prints nothing');
});

/**
 * Issue 14.2: no predictable name is ever written through. A download resumes `<dest>.partial` (its one stable name);
 * a symbolic link planted there is neither read nor written through: the download stops with a FileSystemError
 * (exit 9, ELOOP) naming the partial, and the file it points at is unchanged.
 */
import test from 'ava';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExitCode, FileSystemError } from '../../../src/errors.js';
import { downloadVerified } from '../../../src/fetch/download.js';
import { startLoopbackServer } from '../../helpers/loopback-server.js';
import { fast, makeFixture } from './fixtures.js';

test('14.2 a link planted at the .partial of a download is never written through: exit 9 naming it, its target unchanged', async (t) => {
  const fx = makeFixture(t);
  const server = await startLoopbackServer({ root: fx.root });
  t.teardown(() => server.close());
  const dest = join(fx.cacheDir, 'downloads', fx.sha256, fx.file);
  mkdirSync(join(fx.cacheDir, 'downloads', fx.sha256), { recursive: true });
  const victim = join(fx.cacheDir, 'victim');
  writeFileSync(victim, 'precious\n');
  symlinkSync(victim, `${dest}.partial`);
  const error = await t.throwsAsync(
    downloadVerified({ ...fast, urls: [`http://127.0.0.1:${server.port}/pkg/pkg-1.0.tar.gz`], sha256: fx.sha256, dest }),
  );
  t.true(error instanceof FileSystemError, String(error));
  t.is((error as FileSystemError).exitCode, ExitCode.filesystem);
  t.is((error as FileSystemError).code, 'ELOOP');
  t.true(error!.message.startsWith(`cannot write to ${dest}.partial: too many levels of symbolic links`), error!.message);
  t.is(readFileSync(victim, 'utf8'), 'precious\n');
});

/** `--mirror /abs/dir` is `--mirror file:///abs/dir`; a relative path is a usage error, not silently ignored. */
import test from 'ava';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mirrorUrl } from '../../../src/cli/build-options.js';
import { UsageError } from '../../../src/errors.js';
import { runCli } from '../../helpers/cli.js';
import { type FixtureSet, makeFixtureSet } from '../../helpers/fixtures.js';

let work: string;
let fixtures: FixtureSet;
test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'wsgi-cli-mirror-'));
  fixtures = await makeFixtureSet(join(work, 'fixtures'));
});
test.after.always(async () => {
  await rm(work, { recursive: true, force: true });
});

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const common = () => ['--recipes', fixtures.recipesDir, '--python', '/usr/bin/python3'];

test('mirror URLs and absolute paths are taken; a relative path or another scheme is refused, naming it', (t) => {
  t.is(mirrorUrl('https://mirror.example/apache', '--mirror'), 'https://mirror.example/apache');
  t.is(mirrorUrl('file:///srv/mirror', '--mirror'), 'file:///srv/mirror');
  t.is(mirrorUrl('/srv/mirror', '--mirror'), 'file:///srv/mirror');
  t.is(mirrorUrl('/srv/a mirror#1', '--mirror'), 'file:///srv/a%20mirror%231');
  for (const bad of ['mirror/dir', 'ftp://mirror.example/apache', './dir'])
    t.throws(() => mirrorUrl(bad, '--mirror'), { instanceOf: UsageError, message: new RegExp(`^--mirror ${escapeRegExp(bad)} is not a URL`) });
});

test.serial('fetch --dest DIR, then build --mirror DIR --offline --dry-run finds every file there, as with file://DIR', async (t) => {
  const dest = join(work, 'fetched');
  const fetched = await runCli(['fetch', '--offline', '--sources', fixtures.sourcesDir, '--dest', dest, ...common()], {
    env: { WSGI_HTTPD_CACHE_DIR: join(work, 'cache-fetch') },
  });
  t.is(fetched.code, 0, fetched.stderr);

  // An empty cache (a dry run puts nothing there): the files can only come from the mirror.
  const cache = join(work, 'cache-dry-run');
  const dryRun = (...extra: string[]) =>
    runCli(['build', '--prefix', join(work, 'prefix'), ...common(), '--offline', '--dry-run', ...extra], { env: { WSGI_HTTPD_CACHE_DIR: cache } });
  const [path, url, none] = await Promise.all([dryRun('--mirror', dest), dryRun('--mirror', `file://${dest}`), dryRun()]);
  for (const r of [path, url]) t.is(r.code, 0, r.stderr);
  t.is(none.code, 4, `a dry run exits as the build would (offline, files missing): ${none.stderr}`);
  t.is(path.stdout, url.stdout);
  t.true(path.stdout.includes(`file://${dest}/httpd/httpd-${fixtures.versions.httpd}.tar.gz`), path.stdout);
  t.false(path.stdout.includes('The build would stop here'), path.stdout);
  // without the mirror the same dry run names the files it lacks: the comparison above can fail
  t.regex(none.stdout, /The build would stop here:\n.*offline, and these files are not available locally/);
  t.false(existsSync(join(work, 'prefix')));
  t.false(existsSync(cache));
});

test('--mirror relative/dir: exit 2 naming it, nothing created', async (t) => {
  const cache = join(work, 'cache-relative');
  const result = await runCli(['build', '--prefix', join(work, 'rel-prefix'), ...common(), '--mirror', 'relative/dir', '--dry-run'], {
    env: { WSGI_HTTPD_CACHE_DIR: cache },
  });
  t.is(result.code, 2, result.stderr);
  t.regex(
    result.stderr,
    /^wsgi-toolchain: error: --mirror relative\/dir is not a URL \(http:\/\/, https:\/\/, file:\/\/\) or an absolute path \(fix: /,
  );
  t.is(result.stderr.trim().split('\n').length, 1);
  t.false(existsSync(join(work, 'rel-prefix')));
  t.false(existsSync(cache));
});

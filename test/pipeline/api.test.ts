/**
 * The programmatic API (src/index.ts, the package's main export) on fixture builds: plan() touches nothing, build()
 * builds and then reports "up to date", locate() finds every path (and builds first when asked), info() and
 * uninstall() read and remove the build, and failures are the exported typed errors.
 */
import { removeTempDirs, tempDir } from '../helpers/temp.js';
import test from 'ava';
import { existsSync } from 'node:fs';
import { access, chmod, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeFixtureSet, fixtureVersions, type FixtureSet } from '../helpers/fixtures.js';
import * as api from '../../src/index.js';
import { build, info, locate, NotBuiltError, plan, ToolchainError, uninstall, UsageError, verify } from '../../src/index.js';

let work: string;
let fixtures: FixtureSet;

test.after.always(removeTempDirs);

test.before(async () => {
  work = await tempDir('wsgi-api-');
  await chmod(work, 0o755);
  fixtures = await makeFixtureSet(join(work, 'fixtures'));
});

const env = () => ({ ...process.env, WSGI_HTTPD_CACHE_DIR: join(work, 'cache'), WSGI_HTTPD_PREFIX: '', VIRTUAL_ENV: '' });
const fixtureOptions = () => ({
  recipesDirs: [fixtures.recipesDir],
  sourcesDirs: [fixtures.sourcesDir],
  offline: true,
  python: '/usr/bin/python3',
  verify: false,
  pythonPackage: false,
  jobs: 2,
  env: env(),
});

test.serial('plan() shows the build as data and touches nothing', async (t) => {
  const prefix = join(work, 'planned');
  const p = await plan({ prefix, ...fixtureOptions() });
  t.deepEqual(
    p.components.map((c) => c.name),
    ['pcre2', 'apr', 'apr-util', 'httpd', 'mod_wsgi'],
  );
  t.is(p.layout.prefix, prefix);
  t.is(p.lock.python.executable, '/usr/bin/python3');
  t.false(existsSync(prefix));
  t.false(existsSync(join(work, 'cache', 'downloads')));
});

test.serial('locate() on an empty prefix throws NotBuiltError (exit code 2) with the command to run', async (t) => {
  const prefix = join(work, 'p1');
  const error = await t.throwsAsync(locate(prefix), { instanceOf: NotBuiltError });
  t.true(error instanceof UsageError && error instanceof ToolchainError);
  t.is(error!.exitCode, 2);
  t.regex(error!.hint, /wsgi-toolchain build --prefix /);
  t.false(existsSync(prefix));
});

test.serial('build() builds silently, a second build() is up to date, locate() returns paths that exist', async (t) => {
  const prefix = join(work, 'p1');
  const report = await build({ prefix, ...fixtureOptions() });
  t.false(report.upToDate);
  t.deepEqual(
    report.layers.map((l) => `${l.component} ${l.version}`),
    ['pcre2', 'apr', 'apr-util', 'httpd', 'mod_wsgi'].map((n) => `${n} ${fixtureVersions[n as keyof typeof fixtureVersions]}`),
  );
  t.true(existsSync(report.logFile));

  const again = await build({ prefix, ...fixtureOptions() });
  t.true(again.upToDate);
  t.is(again.root, report.root);

  const where = await locate(prefix);
  t.is(where.prefix, prefix);
  t.is(where.root, report.root);
  t.is(where.link, join(prefix, 'httpd'));
  for (const path of [where.root, where.httpd, where.apxs, where.apachectl, where.modWsgi, where.modulesDir, where.lockFile, where.logFile])
    await t.notThrowsAsync(access(path), path);
  t.is(where.httpd, join(prefix, 'httpd', 'bin', 'httpd'));
  t.is(where.modWsgi, join(prefix, 'httpd', 'modules', 'mod_wsgi.so'));
  t.is(where.python.executable, '/usr/bin/python3');
  t.regex(where.python.version, /^3\.\d+\.\d+/);
  t.truthy(where.python.abi);
  t.is(where.versions.httpd, fixtureVersions.httpd);
  t.is(where.versions.mod_wsgi, fixtureVersions.mod_wsgi);
  t.is(JSON.parse(await readFile(where.lockFile, 'utf8')).python.version, where.python.version);
  t.false(Number.isNaN(Date.parse(where.builtAt)));
});

test.serial('locate() without a prefix looks at WSGI_HTTPD_PREFIX, then VIRTUAL_ENV', async (t) => {
  const prefix = join(work, 'p1');
  t.is((await locate(undefined, { env: { WSGI_HTTPD_PREFIX: prefix } })).prefix, prefix);
  t.is((await locate(undefined, { env: { WSGI_HTTPD_PREFIX: join(work, 'nothing-here'), VIRTUAL_ENV: prefix } })).prefix, prefix);
  const error = await t.throwsAsync(locate(undefined, { env: { WSGI_HTTPD_PREFIX: join(work, 'nothing-here') } }), { instanceOf: NotBuiltError });
  t.true(error!.message.includes(join(work, 'nothing-here')));
});

test.serial('locate(prefix, { buildIfMissing }) builds first', async (t) => {
  const prefix = join(work, 'p2');
  const where = await locate(prefix, { buildIfMissing: fixtureOptions() });
  await t.notThrowsAsync(access(where.httpd));
  t.is(where.versions.apr, fixtureVersions.apr);
});

test.serial('info() describes the build; uninstall() removes it; verify() of an empty prefix is a typed error', async (t) => {
  const prefix = join(work, 'p2');
  const described = await info(prefix);
  t.is(described.components.length, 5);
  t.true(described.size.total > 0);
  t.true(described.lockFileMatches);
  const removed = await uninstall(prefix, { env: env() });
  t.deepEqual(removed.removed, [join(prefix, 'httpd'), join(prefix, 'wsgi-toolchain.lock.json'), join(prefix, '.wsgi-httpd')]);
  t.false(existsSync(join(prefix, 'httpd')));
  await t.throwsAsync(locate(prefix), { instanceOf: NotBuiltError });
  await t.throwsAsync(verify(prefix), { instanceOf: UsageError });
});

test.serial('locate() refuses a build that was moved away from the directory it was built for', async (t) => {
  const prefix = join(work, 'p3');
  await build({ prefix, ...fixtureOptions() });
  const { rename } = await import('node:fs/promises');
  await rename(prefix, join(work, 'p3-moved'));
  const error = await t.throwsAsync(locate(join(work, 'p3-moved')), { instanceOf: NotBuiltError });
  t.regex(error!.message, /was made for .*p3\/\.wsgi-httpd\/stacks\/\S+ and has been moved/);
  t.regex(error!.hint, /--force/);
});

test('the package exports the error classes and defaults', (t) => {
  for (const name of [
    'ToolchainError',
    'UsageError',
    'PrerequisiteError',
    'DownloadError',
    'ChecksumError',
    'BuildStepError',
    'VerifyError',
    'LockedError',
    'NotBuiltError',
  ])
    t.is(typeof (api as Record<string, unknown>)[name], 'function', name);
  t.is(api.ExitCode.usage, 2);
  t.is(typeof api.version, 'string');
  t.true(api.packagePrefix.endsWith('prefix'));
  t.deepEqual(api.candidatePrefixes({ WSGI_HTTPD_PREFIX: '/a', VIRTUAL_ENV: '/b' }), ['/a', '/b', api.packagePrefix]);
});

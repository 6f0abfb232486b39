/**
 * `info` and `locate()` for a `--httpd system` build name the system Apache (its httpd, apxs, apachectl and modules
 * directory, as its apxs reports them) and the prefix's own mod_wsgi.so; when that Apache is gone they say so.
 *
 * The fixture mod_wsgi cannot be compiled against Debian's apxs, so the prefix here is a fixture build whose manifest is
 * then rewritten the way a system-mode build writes it (lock.httpdMode "system", lock.systemApache); what is tested is
 * how info and locate() read it. The real system-mode build, its mod_wsgi-express and serve are in
 * test/e2e/real-build-5.test.ts.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { info, locate, NotBuiltError } from '../../src/index.js';
import { runCli } from '../helpers/cli.js';
import { fixtureBuildArgs, isolatedEnv, makeFixtureSet } from '../helpers/fixtures.js';

const apxs = '/usr/bin/apxs';
const systemApache = existsSync(apxs) && existsSync('/usr/sbin/apache2');
const why = 'no Debian Apache here (apt-get install apache2 apache2-dev)';
const needsApache = systemApache ? test.serial : process.env.CI ? test.serial : test.skip;
const titled = (title: string) => (systemApache ? title : `${title} (skipped: ${why})`);

let work: string;
let prefix: string;

test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'wsgi-system-info-'));
  await chmod(work, 0o755);
  const fixtures = await makeFixtureSet(join(work, 'fixtures'));
  prefix = join(work, 'prefix');
  const built = await runCli(fixtureBuildArgs(fixtures, prefix), { env: isolatedEnv(join(work, 'cache')) });
  if (built.code !== 0) throw new Error(built.stderr);
});

test.after.always(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** Makes the live manifest that of a system-mode build on the Apache `apxsPath` describes. */
async function asSystemBuild(apxsPath: string, httpd: string): Promise<void> {
  const manifestFile = join(prefix, await readlink(join(prefix, 'httpd')), '.wsgi-toolchain-manifest.json');
  const manifest = JSON.parse(await readFile(manifestFile, 'utf8'));
  manifest.lock.httpdMode = 'system';
  manifest.lock.systemApache = { apxs: apxsPath, httpd, version: '2.4' };
  await writeFile(manifestFile, JSON.stringify(manifest, null, 2));
}

const query = (name: string) => execFileSync(apxs, ['-q', name]).toString().trim();

needsApache(titled("info and locate() of a --httpd system build name the system's httpd, apxs and modules dir, and our mod_wsgi.so"), async (t) => {
  t.true(systemApache, `CI must have ${why}`);
  const httpd = join(query('SBINDIR'), query('TARGET'));
  await asSystemBuild(apxs, httpd);
  const located = await locate(prefix);
  t.is(located.httpd, httpd);
  t.is(located.apxs, apxs);
  t.is(located.modulesDir, query('LIBEXECDIR'));
  t.true(existsSync(located.apachectl), located.apachectl);
  t.is(located.modWsgi, join(prefix, 'httpd', 'modules', 'mod_wsgi.so'));
  t.false(located.httpd.startsWith(prefix), 'not <prefix>/httpd/bin/httpd, which a system build does not have');

  const described = await info(prefix);
  t.is(described.httpdMode, 'system');
  t.is(described.httpd, httpd);
  const cli = await runCli(['info', '--prefix', prefix, '--json']);
  t.is(cli.code, 0, cli.stderr);
  const json = JSON.parse(cli.stdout);
  t.deepEqual([json.httpd, json.apxs, json.modulesDir], [httpd, apxs, query('LIBEXECDIR')]);
});

test.serial('a --httpd system build whose Apache is gone: exit 2, naming it and what to do', async (t) => {
  await asSystemBuild(join(work, 'gone', 'apxs'), '/usr/sbin/apache2');
  const error = await t.throwsAsync(locate(prefix), { instanceOf: NotBuiltError });
  t.regex(error!.message, /runs on the system Apache \(\/usr\/sbin\/apache2\), which is gone or broken/);
  t.regex(error!.hint, /apt-get install apache2 apache2-dev.*wsgi-toolchain build --prefix /);
  const cli = await runCli(['info', '--prefix', prefix]);
  t.is(cli.code, 2);
  t.regex(cli.stderr, /^wsgi-toolchain: error: the build in .* runs on the system Apache/m);
});

/**
 * A component added by a recipe file alone: test/fixtures/recipes-extra/mod_extra.json (a second root: an Apache
 * module built against the stack's httpd) and its project test/fixtures/projects/mod_extra, with no change to the
 * tool. It is planned, built into its own layer, locked, listed, and shown by info like the six components.
 */
import test from 'ava';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { fixtureBuildArgs, fixtureRecipesDir, fixturesDir, isolatedEnv, makeFixtureSet, type FixtureSet } from '../helpers/fixtures.js';

let work: string;
let fixtures: FixtureSet;

test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'wsgi-added-'));
  await chmod(work, 0o755);
  fixtures = await makeFixtureSet(join(work, 'fixtures'), { recipeDirs: [fixtureRecipesDir, join(fixturesDir, 'recipes-extra')] });
});

test.after.always(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const env = () => isolatedEnv(join(work, 'cache'));
const buildArgs = (prefix: string, ...extra: string[]) => fixtureBuildArgs(fixtures, prefix, ...extra);

test('a component added by a recipe file is planned, built into its own layer, locked, listed and shown by info', async (t) => {
  const prefix = join(work, 'prefix');
  const extra = fixtures.files.find((f) => f.component === 'mod_extra')!;
  t.is(extra.version, '1.0.0');

  const plan = await runCli(buildArgs(prefix, '--dry-run'), { env: env() });
  t.is(plan.code, 0, plan.stderr);
  t.regex(plan.stdout, /^mod_extra 1\.0\.0 \(after httpd\): layer [0-9a-f]{16}$/m);
  t.true(plan.stdout.includes(`  source  mod_extra-1.0.0.tar.gz  sha256 ${extra.sha256}`));
  // The configure line carries the build's environment (CONFIG_SHELL where the machine has dash), then the arguments.
  t.regex(plan.stdout, /^ {2}configure (?:[A-Z_]+=\S+ )*\.\/configure --with-apxs=\S+\/bin\/apxs$/m);
  const order = [...plan.stdout.matchAll(/^(\S+) \S+( \(after [^)]*\))?: layer /gm)].map((m) => m[1]);
  t.deepEqual(order, ['pcre2', 'apr', 'apr-util', 'httpd', 'mod_extra', 'mod_wsgi'], 'the roots in name order, each after what it needs');

  const built = await runCli(buildArgs(prefix), { env: env() });
  t.is(built.code, 0, built.stderr);
  const module = await readFile(join(prefix, 'httpd', 'modules', 'mod_extra.so'));
  t.true(module.includes(Buffer.from('mod_extra/1.0.0 Apache/2.4.99')), 'built against the fixture httpd of the stack');

  const lock = JSON.parse(await readFile(join(prefix, 'wsgi-toolchain.lock.json'), 'utf8'));
  const locked = lock.components.find((c: { name: string }) => c.name === 'mod_extra');
  t.like(locked, { version: '1.0.0', dependencies: ['httpd'], configureArgs: ['--with-apxs={apxs}'], provides: ['modules/mod_extra.so'] });
  t.deepEqual(
    locked.artifacts.map((a: { file: string; sha256: string }) => [a.file, a.sha256]),
    [['mod_extra-1.0.0.tar.gz', extra.sha256]],
  );

  const list = await runCli(['list', '--recipes', fixtures.recipesDir], { env: env() });
  t.is(list.code, 0, list.stderr);
  t.regex(list.stdout, /^mod_extra +1\.0\.0\*$/m);

  const info = await runCli(['info', '--prefix', prefix], { env: env() });
  t.is(info.code, 0, info.stderr);
  t.regex(info.stdout, /^versions: .*, httpd 2\.4\.99, mod_extra 1\.0\.0, mod_wsgi 9\.0\.0$/m);
  t.regex(info.stdout, /^ {2}mod_extra +--with-apxs=\{apxs\}$/m);
  const infoJson = JSON.parse((await runCli(['info', '--prefix', prefix, '--json'], { env: env() })).stdout);
  t.is(infoJson.versions.mod_extra, '1.0.0');
  t.like(
    infoJson.components.find((c: { name: string }) => c.name === 'mod_extra'),
    { version: '1.0.0', sha256: extra.sha256 },
  );

  const store = await runCli(['cache', 'list', '--json'], { env: env() });
  t.is(store.code, 0, store.stderr);
  const layers = JSON.parse(store.stdout).layers as { component: string; version: string; usedBy: string[] }[];
  t.deepEqual(
    layers.filter((l) => l.component === 'mod_extra').map((l) => [l.version, l.usedBy]),
    [['1.0.0', [prefix]]],
    'its own layer, used by the prefix',
  );

  const again = await runCli(buildArgs(prefix, '--lock', join(prefix, 'wsgi-toolchain.lock.json'), '--dry-run'), { env: env() });
  t.is(again.code, 0, again.stderr);
  t.regex(
    again.stdout,
    /^mod_extra 1\.0\.0 \(after httpd\): layer [0-9a-f]{16}, in the store: nothing to build$/m,
    'the lock builds it again from the store',
  );
});

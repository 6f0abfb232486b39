/**
 * The layered store on fixture builds: the same inputs into a new prefix compile nothing and stand alone; a changed
 * httpd flag or patch rebuilds only httpd and what is built against it; `cache list` shows layers, sizes, last use and
 * who uses them; `cache prune --dry-run` removes nothing and a bare prune keeps what live prefixes use; a layer edited
 * in the store is discarded and rebuilt, never installed, or refused with exit 5 when it cannot be rebuilt.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { compiledComponents as compiled, runCli } from '../helpers/cli.js';
import { closeFixtureWorld, type FixtureWorld, openFixtureWorld } from '../helpers/fixture-world.js';
import { snapshotTree } from '../helpers/tree.js';

let world: FixtureWorld;
test.before(async () => {
  world = await openFixtureWorld('store');
});
test.after.always(() => closeFixtureWorld(world));

const store = () => join(world.work, 'store');
const env = () => ({ WSGI_HTTPD_CACHE_DIR: store(), WSGI_HTTPD_PREFIX: '', VIRTUAL_ENV: '' });
const args = (prefix: string, ...extra: string[]) => [
  'build',
  '--prefix',
  prefix,
  '--recipes',
  world.fixtures.recipesDir,
  '--python',
  '/usr/bin/python3',
  '--no-verify',
  '--plain',
  ...extra,
];
const fromStore = (stdout: string) => [...stdout.matchAll(/^\[[\d:]+\] (\S+) [\d.]+: in the store, nothing to build$/gm)].map((m) => m[1]);

function grepTree(dir: string, needle: string): string {
  try {
    return execFileSync('grep', ['-rlF', needle, dir]).toString();
  } catch {
    return '';
  }
}

test.serial('a second prefix with the same inputs compiles nothing, downloads nothing, and stands alone', async (t) => {
  const first = join(world.work, 'first');
  const cold = await runCli(args(first), { env: env() });
  t.is(cold.code, 0, cold.stderr);
  t.deepEqual(compiled(cold.stdout), ['pcre2', 'apr', 'apr-util', 'httpd', 'mod_wsgi']);

  const requests = world.server.requests.length;
  const second = join(world.work, 'second-prefix-with-a-longer-name');
  const warm = await runCli(args(second), { env: env() });
  t.is(warm.code, 0, warm.stderr);
  t.deepEqual(compiled(warm.stdout), [], 'nothing compiled');
  t.deepEqual(fromStore(warm.stdout), ['pcre2', 'apr', 'apr-util', 'httpd', 'mod_wsgi']);
  t.is(world.server.requests.length, requests, 'nothing downloaded');

  const listing = JSON.parse((await runCli(['cache', 'list', '--json'], { env: env() })).stdout);
  const placeholders = new Set<string>();
  for (const key of await readdir(join(store(), 'layers')))
    placeholders.add(JSON.parse(await readFile(join(store(), 'layers', key, 'layer.json'), 'utf8')).placeholder);
  t.is(listing.layers.length, 5);
  for (const placeholder of placeholders) t.is(grepTree(join(second, '.wsgi-httpd'), placeholder), '', `no file mentions ${placeholder}`);
  t.is(grepTree(join(second, '.wsgi-httpd'), first), '', 'no file mentions the first prefix');
  const runpath = execFileSync('readelf', ['-d', join(second, 'httpd', 'bin', 'httpd')]).toString();
  t.regex(runpath, /RUNPATH.*\$ORIGIN\/\.\.\/lib/);
  await rm(first, { recursive: true, force: true });
  t.regex(execFileSync(join(second, 'httpd', 'bin', 'httpd'), ['-V'], { env: { PATH: process.env.PATH } }).toString(), /Apache\/2\.4\.99/);
  t.true(
    execFileSync(join(second, 'httpd', 'bin', 'apxs'), ['-q', 'PREFIX'])
      .toString()
      .trim()
      .startsWith(join(second, '.wsgi-httpd', 'stacks')),
  );
});

test.serial("changing only httpd's configure flags or its patches rebuilds httpd and mod_wsgi, nothing else", async (t) => {
  const noSsl = await runCli(args(join(world.work, 'no-ssl'), '--without-ssl'), { env: env() });
  t.is(noSsl.code, 0, noSsl.stderr);
  t.deepEqual(compiled(noSsl.stdout), ['httpd', 'mod_wsgi']);
  t.deepEqual(fromStore(noSsl.stdout), ['pcre2', 'apr', 'apr-util']);

  // An overlay that adds a patch to the fixture httpd (pinned by sha256, applied to its version range).
  const overlay = join(world.work, 'patched-recipes');
  await mkdir(join(overlay, 'patches', 'httpd'), { recursive: true });
  const patch = ['--- a/VERSION', '+++ b/VERSION', '@@ -1 +1,2 @@', ` ${world.fixtures.versions.httpd}`, '+patched', ''].join('\n');
  await writeFile(join(overlay, 'patches', 'httpd', 'mark.patch'), patch);
  const recipe = JSON.parse(await readFile(join(world.fixtures.recipesDir, 'httpd.json'), 'utf8'));
  recipe.patches = [
    { file: 'mark.patch', sha256: createHash('sha256').update(patch).digest('hex'), versions: '>=2.4.0', strip: 1, description: 'test patch' },
  ];
  await writeFile(join(overlay, 'httpd.json'), JSON.stringify(recipe));
  const patched = await runCli(args(join(world.work, 'patched'), '--recipes', overlay), { env: env() });
  t.is(patched.code, 0, patched.stderr + patched.stdout);
  t.deepEqual(compiled(patched.stdout), ['httpd', 'mod_wsgi']);
  t.regex(patched.stdout, /httpd 2\.4\.99: patch mark\.patch/);
});

test.serial('cache list shows layers and stacks; prune --dry-run removes nothing; prune keeps what live prefixes use', async (t) => {
  const list = await runCli(['cache', 'list'], { env: env() });
  t.is(list.code, 0, list.stderr);
  console.log(list.stdout);
  t.regex(list.stdout, /store \S+: 9 layer\(s\), [\d.]+ (KiB|MiB)/);
  t.regex(
    list.stdout,
    /^ {2}httpd {5}2\.4\.99 {3}[0-9a-f]{12} +[\d.]+ KiB {2}last used \d{4}-\d\d-\d\d \d\d:\d\d:\d\d {2}used by \S+second-prefix-with-a-longer-name/m,
  );
  t.regex(list.stdout, /^stacks: 3$/m);

  await runCli(['uninstall', '--prefix', join(world.work, 'patched')], { env: env() });
  // Logs of old builds (older names sort first) beside those of this file's builds: prune keeps the 20 most recent.
  const logsDir = join(store(), 'logs');
  for (let i = 0; i < 25; i++) await writeFile(join(logsDir, `build-2000-01-01T00-00-${String(i).padStart(2, '0')}-000Z-old.log`), 'x'.repeat(100));
  const logs = (await readdir(logsDir)).sort();
  const before = await readdir(join(store(), 'layers'));
  const dry = await runCli(['cache', 'prune', '--dry-run'], { env: env() });
  t.is(dry.code, 0, dry.stderr);
  t.regex(dry.stdout, /^would remove 2 layer\(s\)/m);
  t.regex(dry.stdout, new RegExp(`^would remove ${logs.length - 20} old build log\\(s\\) \\([\\d.]+ (B|KiB|MiB)\\); kept the 20 most recent$`, 'm'));
  t.deepEqual(await readdir(join(store(), 'layers')), before, '--dry-run deletes nothing');
  t.deepEqual((await readdir(logsDir)).sort(), logs, '--dry-run deletes no log');

  const keep = await runCli(['cache', 'prune', '--keep', '1'], { env: env() });
  t.regex(keep.stdout, /^removed 0 layer\(s\)/m, 'the one unused httpd and mod_wsgi are the most recent of their kind');
  t.deepEqual((await readdir(logsDir)).sort(), logs.slice(-20), 'the 20 most recent logs are kept, the older ones gone');
  const pruned = await runCli(['cache', 'prune'], { env: env() });
  t.regex(pruned.stdout, /^removed 2 layer\(s\)/m);
  t.is((await readdir(join(store(), 'layers'))).length, 7);
  for (const prefix of ['second-prefix-with-a-longer-name', 'no-ssl']) {
    const again = await runCli(args(join(world.work, prefix), ...(prefix === 'no-ssl' ? ['--without-ssl'] : [])), { env: env() });
    t.regex(again.stdout, /^up to date: /m, `${prefix} still has every layer`);
  }
});

test.serial('a layer edited in the store is discarded and rebuilt, never installed; offline without its source: exit 5', async (t) => {
  const layers = join(store(), 'layers');
  let httpdKey = '';
  for (const key of await readdir(layers)) {
    const record = JSON.parse(await readFile(join(layers, key, 'layer.json'), 'utf8'));
    if (record.component === 'httpd' && !record.inputs.configureArgs.includes('--disable-ssl')) httpdKey = key;
  }
  t.truthy(httpdKey);
  const apachectl = join(layers, httpdKey, 'tree', 'bin', 'apachectl');
  await writeFile(apachectl, '\necho tampered\n', { flag: 'a' });

  const prefix = join(world.work, 'after-tamper');
  const rebuilt = await runCli(args(prefix), { env: env() });
  t.is(rebuilt.code, 0, rebuilt.stderr + rebuilt.stdout);
  t.regex(
    rebuilt.stdout,
    /layer httpd 2\.4\.99 \([0-9a-f]{12}\) .* is damaged or was tampered with: bin\/apachectl has .*: discarded, building it again/,
  );
  t.deepEqual(compiled(rebuilt.stdout), ['httpd']);
  t.notRegex(await readFile(join(prefix, 'httpd', 'bin', 'apachectl'), 'utf8'), /tampered/);

  // Tampered again, and this time the build cannot get httpd's source: exit 5, the prefix stays as it was.
  await writeFile(join(layers, httpdKey, 'tree', 'bin', 'apachectl'), '\necho tampered\n', { flag: 'a' });
  await rm(join(store(), 'downloads'), { recursive: true, force: true });
  const target = join(world.work, 'second-prefix-with-a-longer-name');
  const before = await snapshotTree(target);
  const refused = await runCli([...args(target), '--offline', '--force'], { env: env() });
  t.is(refused.code, 5, refused.stderr + refused.stdout);
  t.regex(refused.stderr.trim().split('\n').at(-1)!, /layer httpd 2\.4\.99 .* is damaged or was tampered with: bin\/apachectl has/);
  t.deepEqual(await snapshotTree(target), before);
  t.false(existsSync(join(target, '.wsgi-httpd', 'lock')));
});

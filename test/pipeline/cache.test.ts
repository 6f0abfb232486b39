/**
 * The build cache: the same inputs into a new prefix compile nothing (the cached tree is relocated and still works
 * after the first prefix is gone); a changed flag or patch is a different build.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import type { FixtureSet } from '../helpers/fixtures.js';
import type { LoopbackServer } from '../helpers/loopback-server.js';
import { closeFixtureWorld, openFixtureWorld, type FixtureWorld } from '../helpers/fixture-world.js';

let work: string;
let server: LoopbackServer;
let fixtures: FixtureSet;

let world: FixtureWorld | undefined;

test.before(async () => {
  world = await openFixtureWorld('cache');
  ({ work, server, fixtures } = world);
});
test.after.always(() => closeFixtureWorld(world));

const env = () => ({ WSGI_HTTPD_CACHE_DIR: join(work, 'cache') });
const args = (prefix: string, ...extra: string[]) => [
  'build',
  '--prefix',
  prefix,
  '--recipes',
  fixtures.recipesDir,
  '--python',
  '/usr/bin/python3',
  '--no-verify',
  '--no-python-package',
  '--plain',
  ...extra,
];

function grepTree(dir: string, needle: string): string {
  try {
    return execFileSync('grep', ['-rlF', needle, dir]).toString();
  } catch {
    return '';
  }
}

test.serial('a second prefix with the same inputs is relocated from the cache, compiles nothing, and stands alone', async (t) => {
  const first = join(work, 'first');
  const cold = await runCli(args(first), { env: env() });
  t.is(cold.code, 0, cold.stderr);
  t.notRegex(cold.stdout, /reusing/);

  const requests = server.requests.length;
  const second = join(work, 'second-prefix-with-a-longer-name');
  const warm = await runCli(args(second), { env: env() });
  t.is(warm.code, 0, warm.stderr);
  t.regex(warm.stdout, /reusing [0-9a-f]{16} from the build cache/);
  t.notRegex(warm.stdout, /configure|compile/, 'no component step ran');
  t.is(server.requests.length, requests, 'nothing downloaded');

  const placeholder = JSON.parse(
    execFileSync(process.execPath, ['--import=tsx', join(process.cwd(), 'src/cli/main.ts'), 'cache', 'list', '--json'], {
      env: { ...process.env, ...env() },
    }).toString(),
  ).builds[0].placeholder as string;
  t.true(placeholder.length >= 150);
  t.is(grepTree(join(second, '.wsgi-httpd'), placeholder), '', 'no file mentions the placeholder');
  t.is(grepTree(join(second, '.wsgi-httpd'), first), '', 'no file mentions the first prefix');

  const runpath = execFileSync('readelf', ['-d', join(second, 'httpd', 'bin', 'httpd')]).toString();
  t.regex(runpath, /RUNPATH.*\$ORIGIN\/\.\.\/lib/);
  await rm(first, { recursive: true, force: true });
  const version = execFileSync(join(second, 'httpd', 'bin', 'httpd'), ['-V'], { env: { PATH: process.env.PATH } }).toString();
  t.regex(version, /Apache\/2\.4\.99/);
  const apxsPrefix = execFileSync(join(second, 'httpd', 'bin', 'apxs'), ['-q', 'PREFIX'])
    .toString()
    .trim();
  t.true(apxsPrefix.startsWith(join(second, '.wsgi-httpd', 'stacks')), apxsPrefix);
});

test.serial('a changed configure flag or a new patch is a different build', async (t) => {
  const noSsl = await runCli(args(join(work, 'no-ssl'), '--without-ssl'), { env: env() });
  t.is(noSsl.code, 0, noSsl.stderr);
  t.notRegex(noSsl.stdout, /reusing/);

  // An overlay that adds a patch to the fixture httpd (pinned by sha256, applied to its version range).
  const overlay = join(work, 'patched-recipes');
  await mkdir(join(overlay, 'patches', 'httpd'), { recursive: true });
  const patch = ['--- a/VERSION', '+++ b/VERSION', '@@ -1 +1,2 @@', ` ${fixtures.versions.httpd}`, '+patched', ''].join('\n');
  await writeFile(join(overlay, 'patches', 'httpd', 'mark.patch'), patch);
  const recipe = JSON.parse(await readFile(join(fixtures.recipesDir, 'httpd.json'), 'utf8'));
  recipe.patches = [
    { file: 'mark.patch', sha256: createHash('sha256').update(patch).digest('hex'), versions: '>=2.4.0', strip: 1, description: 'test patch' },
  ];
  await writeFile(join(overlay, 'httpd.json'), JSON.stringify(recipe));
  const patched = await runCli(args(join(work, 'patched'), '--recipes', overlay), { env: env() });
  t.is(patched.code, 0, patched.stderr + patched.stdout);
  t.notRegex(patched.stdout, /reusing/);
  t.regex(patched.stdout, /patch/);

  const list = await runCli(['cache', 'list', '--json'], { env: env() });
  t.is(JSON.parse(list.stdout).builds.length, 3);
  const prune = await runCli(['cache', 'prune', '--keep', '1'], { env: env() });
  t.is(prune.code, 0);
  t.regex(prune.stdout, /removed 2 cached build/);
  t.true(existsSync(join(work, 'no-ssl', 'httpd', 'bin', 'httpd')), 'pruning the cache never touches an installed prefix');
});

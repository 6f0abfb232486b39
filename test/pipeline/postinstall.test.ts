/**
 * What `npm install wsgi-httpd` runs: the plain-JS launcher (scripts/postinstall.mjs) and the build it hands over to
 * (scripts/postinstall.ts, compiled to dist/scripts/postinstall.js). Each run gets a clean environment (no inherited
 * CC, VIRTUAL_ENV or WSGI_HTTPD_*), pipes instead of a terminal, and only WSGI_HTTPD_* variables as configuration.
 */
import { removeTempDirs, tempDir } from '../helpers/temp.js';
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { access, chmod, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot, tsxImport } from '../helpers/cli.js';
import { fixtureVersions, makeFixtureSet, type FixtureSet } from '../helpers/fixtures.js';

let work: string;
let fixtures: FixtureSet;
let emptyBin: string;

test.after.always(removeTempDirs);

test.before(async () => {
  work = await tempDir('wsgi-postinstall-');
  await chmod(work, 0o755);
  fixtures = await makeFixtureSet(join(work, 'fixtures'));
  emptyBin = join(work, 'empty-bin');
  await mkdir(emptyBin);
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Like npm runs a dependency's install script: its own environment, no TTY on any stream. */
function runNode(args: string[], env: Record<string, string>, cwd = repoRoot): Promise<Run> {
  return new Promise((resolve, reject) => {
    const base: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? work, LANG: 'C' };
    const child = spawn(process.execPath, args, { cwd, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const postinstall = (env: Record<string, string>) => runNode([tsxImport, join(repoRoot, 'scripts', 'postinstall.ts')], env);
const launcher = join(repoRoot, 'scripts', 'postinstall.mjs');
const fixtureEnv = (name: string): Record<string, string> => ({
  WSGI_HTTPD_PREFIX: join(work, name),
  WSGI_HTTPD_CACHE_DIR: join(work, `cache-${name}`),
  WSGI_HTTPD_RECIPES: fixtures.recipesDir,
  WSGI_HTTPD_PYTHON: '/usr/bin/python3',
  WSGI_HTTPD_VERIFY: '0',
  WSGI_HTTPD_PYTHON_PACKAGE: '0',
});
// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes are what this test looks for
const ansi = /\x1b\[/;

test('WSGI_HTTPD_SKIP_BUILD=1: exit 0, one line, nothing built', async (t) => {
  const env = { ...fixtureEnv('skipped'), WSGI_HTTPD_SKIP_BUILD: '1', WSGI_HTTPD_SOURCES: fixtures.sourcesDir };
  for (const result of [await runNode([launcher], env), await postinstall(env)]) {
    t.is(result.code, 0, result.stderr);
    t.is(result.stdout.trim().split('\n').length, 1);
    t.regex(result.stdout, /^wsgi-httpd: WSGI_HTTPD_SKIP_BUILD=1: .*npx wsgi-toolchain build --prefix/);
  }
  t.false(existsSync(join(work, 'skipped')));
});

test("in this repository's own checkout (npm ci) the launcher builds nothing and needs no dist/", async (t) => {
  const env = { ...fixtureEnv('own-checkout'), WSGI_HTTPD_SOURCES: fixtures.sourcesDir, INIT_CWD: repoRoot, npm_lifecycle_event: 'postinstall' };
  const result = await runNode([launcher], env);
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /checkout itself: nothing to build/);
  t.false(existsSync(join(work, 'own-checkout')));
});

test('the launcher in an installed package hands over to dist/scripts/postinstall.js, and survives its absence', async (t) => {
  const pkg = join(work, 'node_modules', 'wsgi-httpd');
  await mkdir(join(pkg, 'scripts'), { recursive: true });
  await copyFile(launcher, join(pkg, 'scripts', 'postinstall.mjs'));
  const env = { INIT_CWD: work, npm_lifecycle_event: 'postinstall' };
  const missing = await runNode([join(pkg, 'scripts', 'postinstall.mjs')], env, pkg);
  t.is(missing.code, 0, missing.stderr);
  t.regex(missing.stdout, /not built: .*dist\/scripts\/postinstall\.js is missing/);
  const forced = await runNode([join(pkg, 'scripts', 'postinstall.mjs')], { ...env, WSGI_HTTPD_FORCE_BUILD: '1' }, pkg);
  t.not(forced.code, 0);

  await mkdir(join(pkg, 'dist', 'scripts'), { recursive: true });
  await writeFile(
    join(pkg, 'dist', 'scripts', 'postinstall.js'),
    'export async function runPostinstall(env) { process.stdout.write(`handed over ${env.INIT_CWD}\\n`); return 0; }\n',
  );
  const handed = await runNode([join(pkg, 'scripts', 'postinstall.mjs')], env, pkg);
  t.is(handed.code, 0, handed.stderr);
  t.is(handed.stdout, `handed over ${work}\n`);
});

test('no compiler: exit 0 with the reason and the command to run later; WSGI_HTTPD_FORCE_BUILD=1 makes it fail', async (t) => {
  // PATH holds no cc, gcc, clang or make, and CC is not set (the runner starts from a clean environment).
  const env = { ...fixtureEnv('no-cc'), WSGI_HTTPD_SOURCES: fixtures.sourcesDir, PATH: emptyBin };
  const soft = await postinstall(env);
  t.is(soft.code, 0, soft.stderr);
  const lines = soft.stdout.trim().split('\n');
  t.is(lines.length, 1, soft.stdout);
  t.regex(
    lines[0]!,
    /^wsgi-httpd: not built: .*compiler.*\(fix: .*build-essential.*\); once fixed, run: npx wsgi-toolchain build --prefix \S+no-cc --python \/usr\/bin\/python3 --recipes \S+ --sources \S+ --no-verify/i,
  );
  t.false(ansi.test(soft.stdout + soft.stderr));
  t.false(existsSync(join(work, 'no-cc')));

  const forced = await postinstall({ ...env, WSGI_HTTPD_FORCE_BUILD: '1' });
  t.is(forced.code, 3, forced.stdout + forced.stderr);
  t.regex(forced.stderr, /wsgi-httpd: postinstall build failed: .*compiler/i);
  t.regex(forced.stderr, /WSGI_HTTPD_SKIP_BUILD=1 npm install/);
  t.false(existsSync(join(work, 'no-cc')));
});

test('offline without the sources: exit 0 with the reason (files not available locally)', async (t) => {
  const result = await postinstall({ ...fixtureEnv('offline'), WSGI_HTTPD_OFFLINE: '1' });
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /^wsgi-httpd: not built: offline, and these files are not available locally.*--offline/);
  t.false(existsSync(join(work, 'offline', 'httpd')));
  const forced = await postinstall({ ...fixtureEnv('offline'), WSGI_HTTPD_OFFLINE: '1', WSGI_HTTPD_FORCE_BUILD: '1' });
  t.is(forced.code, 4);
});

test.serial('a fixture build configured only by WSGI_HTTPD_* variables: one summary line with the log path, then up to date', async (t) => {
  const env = { ...fixtureEnv('built'), WSGI_HTTPD_SOURCES: fixtures.sourcesDir, WSGI_HTTPD_OFFLINE: '1' };
  const result = await postinstall(env);
  t.is(result.code, 0, result.stdout + result.stderr);
  t.is(result.stderr, '');
  const lines = result.stdout.trim().split('\n');
  t.is(lines.length, 1, result.stdout);
  t.false(ansi.test(result.stdout));
  const m =
    /^wsgi-httpd: built pcre2 10\.99, apr 1\.9\.0, apr-util 1\.9\.0, httpd 2\.4\.99, mod_wsgi 9\.0\.0 into (\S+) in \d+ s \(log: (\S+)\)$/.exec(
      lines[0]!,
    );
  t.truthy(m, lines[0]);
  t.is(m![1], join(work, 'built'));
  await t.notThrowsAsync(access(m![2]!));
  t.regex(await readFile(m![2]!, 'utf8'), /configure/);
  await t.notThrowsAsync(access(join(work, 'built', 'httpd', 'bin', 'httpd')));
  const lock = JSON.parse(await readFile(join(work, 'built', 'wsgi-toolchain.lock.json'), 'utf8'));
  t.is(lock.components.find((c: { name: string }) => c.name === 'httpd').version, fixtureVersions.httpd);
  t.is(lock.python.executable, '/usr/bin/python3');

  const again = await postinstall(env);
  t.is(again.code, 0, again.stderr);
  t.regex(again.stdout, /^wsgi-httpd: up to date: /);
  t.is(again.stdout.trim().split('\n').length, 1);
});

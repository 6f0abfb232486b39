/**
 * scripts/ci-image.sh, the recipe the README's Dockerfile runs (Docker cannot run here, so the recipe itself is what is
 * tested): its package step on this Debian machine, then the build from a lock and --sources offline with the
 * package's own CLI, a second run that changes nothing, a virtualenv prefix, and its usage errors.
 */
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot, runCli } from '../helpers/cli.js';
import { closeFixtureWorld, type FixtureWorld, openFixtureWorld } from '../helpers/fixture-world.js';
import { snapshotTree } from '../helpers/tree.js';

const script = join(repoRoot, 'scripts', 'ci-image.sh');

/** The packages the recipe installs, as its own list says, and those of them missing here. */
const listed = (/^packages=\((.*)\)$/m.exec(readFileSync(script, 'utf8'))?.[1] ?? '').split(/\s+/).filter(Boolean);
const installed = (name: string) =>
  spawnSync('dpkg-query', ['-W', '-f=${Status}', name], { encoding: 'utf8' }).stdout?.includes('install ok installed');
const missing = spawnSync('dpkg-query', ['--version']).status === 0 ? [...listed, 'python3-venv'].filter((p) => !installed(p)) : ['dpkg-query'];
// Off CI the test never installs anything: it needs the packages there already. CI runs `ci-image.sh packages` first.
const ready = missing.length === 0 ? test.serial : process.env.CI ? test.serial : test.skip;
const title = (text: string) => (missing.length === 0 ? text : `${text} (skipped: not installed here: ${missing.join(' ')})`);

let world: FixtureWorld | undefined;
let work: string;

test.before(async () => {
  world = await openFixtureWorld('ci-image');
  work = world.work;
});

test.after.always(() => closeFixtureWorld(world));

function runScript(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    // From another directory, as a Dockerfile's RUN does: the script finds its package by its own path.
    const child = spawn('bash', [script, ...args], { cwd: work, env: { ...process.env, CI: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 600_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

ready(title('the image recipe: packages present, then exactly the lock built from --sources offline; a second run changes nothing'), async (t) => {
  t.deepEqual(missing, [], 'CI runs `scripts/ci-image.sh packages` (in .ci/run) before the tests');
  const { fixtures, server } = world!;
  const env = { WSGI_HTTPD_CACHE_DIR: join(work, 'cache'), WSGI_HTTPD_PREFIX: '', VIRTUAL_ENV: '' };
  const lock = join(work, 'wsgi-toolchain.lock.json');
  const locked = await runCli(['lock', '--python', '/usr/bin/python3', '--recipes', fixtures.recipesDir, '--output', lock], { env });
  t.is(locked.code, 0, locked.stderr);
  const prefix = join(work, 'opt-web');
  const seen = server.requests.length;
  const args = ['build', '--prefix', prefix, '--lock', lock, '--sources', fixtures.sourcesDir, '--', '--recipes', fixtures.recipesDir, '--no-verify'];
  const first = await runScript(args, env);
  t.is(first.code, 0, first.out);
  t.regex(first.out, /^ci-image: the packages a build needs are installed \(build-essential .*python3-dev .*\)$/m);
  t.notRegex(first.out, /setuptools/, 'the recipe needs no setuptools');
  t.is(server.requests.length, seen, 'offline: no download');
  t.is(await readFile(join(prefix, 'wsgi-toolchain.lock.json'), 'utf8'), await readFile(lock, 'utf8'), 'exactly the locked set');
  t.true(existsSync(join(prefix, 'bin', 'mod_wsgi-express')), 'with mod_wsgi-express');

  const before = await snapshotTree(prefix);
  const second = await runScript(args, env);
  t.is(second.code, 0, second.out);
  t.regex(second.out, /^up to date: /m);
  t.notRegex(second.out, /apt-get/);
  t.deepEqual(await snapshotTree(prefix), before);
});

ready(title('the image recipe with --venv: the prefix becomes a virtualenv, mod_wsgi-express goes into it'), async (t) => {
  const { fixtures } = world!;
  const env = { WSGI_HTTPD_CACHE_DIR: join(work, 'cache'), WSGI_HTTPD_PREFIX: '', VIRTUAL_ENV: '' };
  const venv = join(work, 'venv');
  const result = await runScript(
    ['build', '--prefix', venv, '--venv', '--sources', fixtures.sourcesDir, '--', '--recipes', fixtures.recipesDir, '--no-verify'],
    env,
  );
  t.is(result.code, 0, result.out);
  t.true(existsSync(join(venv, 'pyvenv.cfg')));
  const lock = JSON.parse(await readFile(join(venv, 'wsgi-toolchain.lock.json'), 'utf8'));
  t.is(lock.python.executable, join(venv, 'bin', 'python'), "built for the venv's Python");
  t.true(existsSync(join(venv, 'bin', 'mod_wsgi-express')));
});

test('usage errors: exit 2 with one line; unknown commands and options are refused', async (t) => {
  const noPrefix = await runScript(['build'], {});
  t.is(noPrefix.code, 2);
  t.is(noPrefix.out, 'ci-image: error: build needs --prefix DIR\n');
  const noLock = await runScript(['build', '--prefix', join(work, 'x'), '--lock', join(work, 'missing.json')], {});
  t.is(noLock.code, 2);
  t.is(noLock.out, `ci-image: error: --lock ${join(work, 'missing.json')}: no such file\n`);
  t.is((await runScript(['build', '--prefix', join(work, 'x'), '--frobnicate'], {})).code, 2);
  t.is((await runScript(['frobnicate'], {})).code, 2);
  const help = await runScript(['--help'], {});
  t.is(help.code, 0);
  t.regex(help.out, /ci-image\.sh build --prefix DIR/);
  t.false(existsSync(join(work, 'x')));
});

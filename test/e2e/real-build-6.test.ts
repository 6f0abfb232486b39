/**
 * The newest set CI can obtain, chosen by --tested: httpd 2.4.68, APR 1.7.6 (the default), APR-util 1.6.4, PCRE2
 * 10.48, mod_wsgi 6.0.5 (the default; from its upstream git tag through an overlay recipe that pins that archive's
 * sha256). Built for real, verified, the seed workflow run on it; then the layered store on it: a new venv compiles
 * nothing, every name of one Python is one key, a second Python compiles only mod_wsgi, httpd's flags rebuild only
 * httpd and mod_wsgi, and the store lists and prunes layers.
 */
import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { compiledComponents as compiled, runCli } from '../helpers/cli.js';
import { missingRegistryTools, startRegistry } from '../helpers/registry.js';
import { python, registerRealStack } from './real-stack.js';

const { real, world } = registerRealStack({
  label: 'mod_wsgi 6.0.5 set (--tested)',
  select: ['--tested'],
  overlays: ['test/e2e/overlays/mod_wsgi-git-tag'],
  expect: { httpd: '2.4.68', apr: '1.7.6', aprUtil: '1.6.4', pcre2: '10.48', modWsgi: '6.0.5' },
  terminal: true,
});

const layerKeys = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
  const result = await runCli([...args, '--dry-run', '--json'], { env: { ...world.env(), ...env } });
  if (result.code !== 0) throw new Error(result.stderr);
  return Object.fromEntries((JSON.parse(result.stdout).plan.components as { name: string; layerKey: string }[]).map((c) => [c.name, c.layerKey]));
};

/** A pyenv interpreter of this minor version, when the machine has one (CI machines of this kind do). */
function pyenv(minor: string): string | undefined {
  const root = '/root/.pyenv/versions';
  try {
    const found = readdirSync(root)
      .filter((v) => v.startsWith(`${minor}.`))
      .sort()
      .at(-1);
    return found ? join(root, found, 'bin', 'python') : undefined;
  } catch {
    return undefined;
  }
}
/** A test that needs an interpreter: it fails under CI when the machine lacks it (CI installs it), else is skipped. */
const interpreterTest = (py: string | undefined, missing: string, title: string, fn: (py: string) => (t: ExecutionContext) => Promise<void>) => {
  if (py) real(title, fn(py));
  else if (process.env.CI) real(title, (t) => t.fail(missing));
  else test.serial.skip(`${title} (skipped: ${missing})`, () => {});
};
const pyenvTest = (minor: string, title: string, fn: (py: string) => (t: ExecutionContext) => Promise<void>) =>
  interpreterTest(pyenv(minor), `no pyenv Python ${minor} under /root/.pyenv/versions`, title, fn);

real('a new venv of the same Python compiles nothing: every layer comes from the store, and it verifies', async (t) => {
  const venv = join(world.work, 'venv-new');
  execFileSync(python, ['-m', 'venv', '--without-pip', venv]);
  const started = Date.now();
  const result = await runCli(['build', '--prefix', venv, '--python', join(venv, 'bin', 'python'), ...world.buildArgs, '--plain'], {
    env: world.env(),
  });
  const seconds = (Date.now() - started) / 1000;
  t.is(result.code, 0, result.stderr + result.stdout);
  t.deepEqual(compiled(result.stdout), [], 'nothing compiled');
  t.regex(result.stdout, /Verified: GET http:\/\/127\.0\.0\.1:\d+\/ -> 200/);
  t.log(`build --prefix <new venv>: ${seconds.toFixed(1)} s (times are for npm run bench; this is the e2e tier, other tests running beside it)`);
  t.regex(execFileSync(join(venv, 'bin', 'mod_wsgi-express'), ['module-config']).toString(), /LoadModule wsgi_module/);
});

real("httpd's -v/-l answer is remembered per httpd layer; an answer the binary no longer gives is asked again, and the build verifies", async (t) => {
  const facts = join(world.env().WSGI_HTTPD_CACHE_DIR!, 'facts');
  const files = (await readdir(facts)).filter((f) => f.startsWith('httpd-probe-'));
  t.true(files.length > 0, 'a verified build remembered what its httpd said');
  for (const file of files) {
    const saved = JSON.parse(await readFile(join(facts, file), 'utf8')) as { key: string; value: { compiledIn: string[] } };
    t.true(saved.value.compiledIn.includes('mod_so.c'));
    // As if the event MPM were compiled in: verify would then load no MPM and httpd could not start.
    saved.value.compiledIn.push('event.c');
    await writeFile(join(facts, file), JSON.stringify(saved));
  }
  const prefix = join(world.work, 'probe-again');
  const result = await runCli(['build', '--prefix', prefix, '--python', python, ...world.buildArgs, '--plain'], { env: world.env() });
  t.is(result.code, 0, result.stderr + result.stdout);
  t.deepEqual(compiled(result.stdout), [], 'nothing compiled');
  t.regex(result.stdout, /Verified: GET http:\/\/127\.0\.0\.1:\d+\/ -> 200/);
  t.regex(await readFile(join(prefix, '.wsgi-httpd', 'logs', 'build.log'), 'utf8'), /remembered -v\/-l answer was not what it says now/);
  for (const file of files)
    t.false((JSON.parse(await readFile(join(facts, file), 'utf8')) as { value: { compiledIn: string[] } }).value.compiledIn.includes('event.c'));
});

real('python3, python3.X and a venv of either resolve to the same layer keys', async (t) => {
  const minor = execFileSync(python, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])']).toString().trim();
  const venv = join(world.work, 'venv-keys');
  execFileSync(python, ['-m', 'venv', '--without-pip', venv]);
  const base = ['build', '--prefix', join(world.work, 'keys'), ...world.buildArgs];
  // python3 and python3.X found on PATH, as a user types them (a PATH where they are Debian's).
  const path = { PATH: `/usr/bin:/bin:${process.env.PATH}` };
  const viaPython3 = await layerKeys([...base, '--python', 'python3'], path);
  t.deepEqual(await layerKeys([...base, '--python', `python${minor}`], path), viaPython3);
  t.deepEqual(await layerKeys([...base, '--python', join(venv, 'bin', 'python')]), viaPython3);
  t.deepEqual(await layerKeys([...base, '--prefix', venv, '--python', join(venv, 'bin', 'python3')]), viaPython3);
});

pyenvTest('3.13', 'a second Python (pyenv 3.13) compiles only mod_wsgi; its stack shares every other layer', (py) => async (t) => {
  const prefix = join(world.work, 'py313');
  const started = Date.now();
  // As root the server account cannot read /root/.pyenv, so verify (which serves through it) is off.
  const result = await runCli(['build', '--prefix', prefix, '--python', py, ...world.buildArgs, '--no-verify', '--plain'], { env: world.env() });
  t.is(result.code, 0, result.stderr + result.stdout);
  t.deepEqual(compiled(result.stdout), ['mod_wsgi']);
  t.log(`a second Python: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const location = execFileSync(join(prefix, 'bin', 'mod_wsgi-express'), ['module-location'])
    .toString()
    .trim();
  t.regex(location, /mod_wsgi-py313\.cpython-313/);
  const keys = await layerKeys(['build', '--prefix', prefix, '--python', py, ...world.buildArgs]);
  const ours = await layerKeys(['build', '--prefix', world.prefix, '--python', python, ...world.buildArgs]);
  t.deepEqual(
    Object.keys(keys).filter((n) => keys[n] !== ours[n]),
    ['mod_wsgi'],
  );
});

pyenvTest('3.9', 'pyenv 3.9: the resolver picks the newest mod_wsgi that fits (5.0.2), and only it is compiled', (py) => async (t) => {
  const prefix = join(world.work, 'py39');
  const result = await runCli(['build', '--prefix', prefix, '--python', py, ...world.buildArgs, '--no-verify', '--plain'], { env: world.env() });
  t.is(result.code, 0, result.stderr + result.stdout);
  t.deepEqual(compiled(result.stdout), ['mod_wsgi']);
  t.regex(result.stdout, /mod_wsgi\s+5\.0\.2\s+[0-9a-f]{12}\s+built in/);
  const lock = JSON.parse(execFileSync('cat', [join(prefix, 'wsgi-toolchain.lock.json')]).toString());
  t.deepEqual(
    lock.components.map((c: { name: string; version: string }) => `${c.name} ${c.version}`),
    ['pcre2 10.48', 'apr 1.7.6', 'apr-util 1.6.4', 'httpd 2.4.68', 'mod_wsgi 5.0.2'],
  );
});

/** Debian's debug build of the machine's Python (python3-dbg: ABI flags "d"); .ci/run installs it. */
const debugPython = existsSync('/usr/bin/python3d') ? '/usr/bin/python3d' : undefined;
interpreterTest(
  debugPython,
  'no /usr/bin/python3d: apt-get install python3-dbg',
  'a debug Python (python3-dbg, ABI "d") of the same version compiles only mod_wsgi, links its own libpython and serves',
  (py) => async (t) => {
    const prefix = join(world.work, 'debug-python');
    const result = await runCli(['build', '--prefix', prefix, '--python', py, ...world.buildArgs, '--plain'], { env: world.env() });
    t.is(result.code, 0, result.stderr + result.stdout);
    t.deepEqual(compiled(result.stdout), ['mod_wsgi'], 'the same version, another ABI: another mod_wsgi layer, every other layer shared');
    t.regex(result.stdout, /Verified: GET http:\/\/127\.0\.0\.1:\d+\/ -> 200/);
    const [version, soabi] = execFileSync(py, [
      '-c',
      'import sys, sysconfig; print("%d.%d" % sys.version_info[:2], sysconfig.get_config_var("SOABI"))',
    ])
      .toString()
      .trim()
      .split(' ');
    t.regex(soabi!, /d-/, 'a debug SOABI');
    const needed = execFileSync('readelf', ['-d', join(prefix, 'httpd', 'modules', 'mod_wsgi.so')]).toString();
    t.true(needed.includes(`[libpython${version}d.so`), needed);
    const release = await layerKeys(['build', '--prefix', world.prefix, '--python', python, ...world.buildArgs]);
    const debug = await layerKeys(['build', '--prefix', prefix, '--python', py, ...world.buildArgs]);
    t.deepEqual(
      Object.keys(debug).filter((n) => debug[n] !== release[n]),
      ['mod_wsgi'],
    );
  },
);

real("changing only httpd's configure flags rebuilds only httpd and mod_wsgi", async (t) => {
  const prefix = join(world.work, 'no-ssl');
  const result = await runCli(['build', '--prefix', prefix, '--python', python, ...world.buildArgs, '--without-ssl', '--no-verify', '--plain'], {
    env: world.env(),
    timeoutMs: 30 * 60_000,
  });
  t.is(result.code, 0, result.stderr + result.stdout);
  t.deepEqual(compiled(result.stdout), ['httpd', 'mod_wsgi']);
  t.false(existsSync(join(prefix, 'httpd', 'modules', 'mod_ssl.so')));
});

real('cache list shows every layer and stack; prune --dry-run removes nothing; prune keeps what live prefixes use', async (t) => {
  const list = await runCli(['cache', 'list'], { env: world.env() });
  t.is(list.code, 0, list.stderr);
  console.log(list.stdout);
  t.regex(list.stdout, /^ {2}httpd {5}2\.4\.68 {3}[0-9a-f]{12} +[\d.]+ MiB {2}last used .* used by /m);
  const layers = join(world.cacheDir, 'layers');
  const before = await readdir(layers);
  const dry = await runCli(['cache', 'prune', '--dry-run'], { env: world.env() });
  t.is(dry.code, 0, dry.stderr);
  t.deepEqual(await readdir(layers), before, '--dry-run deletes nothing');
  const pruned = await runCli(['cache', 'prune'], { env: world.env() });
  t.is(pruned.code, 0, pruned.stderr);
  t.regex(pruned.stdout, /^removed 0 layer\(s\)/m, 'every layer is used by a live prefix');
  const again = await runCli(['build', '--prefix', world.prefix, '--python', python, ...world.buildArgs], { env: world.env() });
  t.regex(again.stdout, /^up to date: /m);
});

real('pack, then --from-archive into a new venv with an empty store: nothing compiled, the new venv is the Python home, verify passes', async (t) => {
  const archive = join(world.work, 'stack.tar');
  const packed = await runCli(['pack', '--prefix', world.prefix, '--output', archive], { env: world.env() });
  t.is(packed.code, 0, packed.stderr);
  const target = join(world.work, 'venv-from-archive');
  execFileSync(python, ['-m', 'venv', '--without-pip', target]);
  const result = await runCli(['build', '--from-archive', archive, '--prefix', target, '--python', join(target, 'bin', 'python'), '--plain'], {
    env: { ...world.env(), WSGI_HTTPD_CACHE_DIR: join(world.work, 'empty-store-archive') },
  });
  t.is(result.code, 0, result.stderr + result.stdout);
  t.deepEqual(compiled(result.stdout), []);
  t.regex(result.stdout, /Verified: GET http:\/\/127\.0\.0\.1:\d+\/ -> 200/);
  const config = execFileSync(join(target, 'bin', 'mod_wsgi-express'), ['module-config']).toString();
  t.true(config.includes(`WSGIPythonHome "${target}"`), config);
});

const registryMissing = missingRegistryTools();
(registryMissing.length === 0 ? real : process.env.CI ? real : test.serial.skip)(
  'push to a loopback registry, then a new venv with an empty store from --cache-from: nothing compiled, verify passes',
  async (t) => {
    if (registryMissing.length > 0) return t.fail(`needs ${registryMissing.join(', ')}`);
    const registry = await startRegistry({ dir: join(world.work, 'registry') });
    try {
      const ref = `${registry.host}/wsgi-httpd/stack:tested`;
      const pushed = await runCli(['push', '--prefix', world.prefix, ref], { env: world.env() });
      t.is(pushed.code, 0, pushed.stderr);
      t.regex(pushed.stdout, /^5 of 5 layers uploaded/m);
      const venv = join(world.work, 'venv-from-registry');
      execFileSync(python, ['-m', 'venv', '--without-pip', venv]);
      const started = Date.now();
      const result = await runCli(
        // Not --offline (that never asks a registry): the sources stay at hand for what the registry lacks.
        [
          'build',
          '--prefix',
          venv,
          '--python',
          join(venv, 'bin', 'python'),
          ...world.buildArgs.filter((a) => a !== '--offline'),
          '--cache-from',
          ref,
          '--plain',
        ],
        {
          env: { ...world.env(), WSGI_HTTPD_CACHE_DIR: join(world.work, 'empty-store-registry') },
        },
      );
      t.is(result.code, 0, result.stderr + result.stdout);
      t.log(
        `an empty store to a verified venv from the registry: ${((Date.now() - started) / 1000).toFixed(1)} s (times are for npm run bench; other tests ran beside this one)`,
      );
      t.deepEqual(compiled(result.stdout), []);
      t.is((result.stdout.match(/pulled from /g) ?? []).length, 5);
      t.regex(result.stdout, /Verified: GET http:\/\/127\.0\.0\.1:\d+\/ -> 200/);
    } finally {
      await registry.stop();
    }
  },
);

/**
 * doctor checks the directory the build will compile in (one rule, buildRootFor, used by both): WSGI_HTTPD_BUILD_DIR,
 * else `<store>/build`; never TMPDIR, which the build does not use.
 */
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runDoctor } from '../../../src/doctor/doctor.js';
import { buildRootFor } from '../../../src/pipeline/build-root.js';
import { defaultBuildOptions } from '../../../src/pipeline/options.js';
import { prepareBuild } from '../../../src/pipeline/prepare.js';
import { readPythonInfo } from '../../../src/python/detect.js';
import { runCli } from '../../helpers/cli.js';

let tmp: string;

test.before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'wsgi-doctor-build-dir-'));
});

test.after.always(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

function envWith(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['WSGI_HTTPD_BUILD_DIR', 'WSGI_HTTPD_CACHE_DIR', 'TMPDIR', 'CC', 'CPPFLAGS', 'WSGI_HTTPD_PREFIX', 'VIRTUAL_ENV'])
    delete env[name];
  return { ...env, ...extra };
}

/** The directory a build with this environment compiles in: the parent of its plan's build directory. */
async function buildsIn(env: NodeJS.ProcessEnv): Promise<string> {
  const prepared = await prepareBuild({ ...defaultBuildOptions(path.join(tmp, 'prefix'), env), python: '/usr/bin/python3' });
  return path.dirname(prepared.plan.buildDir);
}

test('buildRootFor: the API option, else WSGI_HTTPD_BUILD_DIR, else <store>/build; an empty variable is unset', (t) => {
  t.is(buildRootFor('/s', { buildRoot: '/api', env: { WSGI_HTTPD_BUILD_DIR: '/env' } }), '/api');
  t.is(buildRootFor('/s', { env: { WSGI_HTTPD_BUILD_DIR: '/env' } }), '/env');
  t.is(buildRootFor('/s', { env: {} }), '/s/build');
  t.is(buildRootFor('/s', { env: { WSGI_HTTPD_BUILD_DIR: '' } }), '/s/build');
  t.is(buildRootFor('/s', { env: { WSGI_HTTPD_BUILD_DIR: 'relative' } }), path.resolve('relative'));
});

test('doctor checks <store>/build, where the build compiles, and not TMPDIR', async (t) => {
  const store = path.join(tmp, 'store');
  const env = envWith({ WSGI_HTTPD_CACHE_DIR: store, TMPDIR: path.join(tmp, 'elsewhere') });
  const python = await readPythonInfo('/usr/bin/python3', '--python');
  const { facts, checks } = await runDoctor({ python, env });
  t.is(facts.buildDir, path.join(store, 'build'));
  t.is(facts.buildDir, await buildsIn(env), 'the build compiles in the directory doctor checked');
  t.is(checks.find((c) => c.id === 'build-exec')?.detail, `scripts can run in ${path.join(store, 'build')}`);
  t.true(checks.find((c) => c.id === 'disk-build')?.detail.endsWith(`free for ${path.join(store, 'build')}`));
});

test('doctor checks WSGI_HTTPD_BUILD_DIR when it is set, as the build uses it', async (t) => {
  const custom = path.join(tmp, 'custom-build');
  const env = envWith({ WSGI_HTTPD_CACHE_DIR: path.join(tmp, 'store2'), WSGI_HTTPD_BUILD_DIR: custom });
  const python = await readPythonInfo('/usr/bin/python3', '--python');
  const { facts } = await runDoctor({ python, env });
  t.is(facts.buildDir, custom);
  t.is(await buildsIn(env), custom);
});

test('wsgi-toolchain doctor names the build directory the build will use', async (t) => {
  const store = path.join(tmp, 'store3');
  const result = await runCli(['doctor', '--python', '/usr/bin/python3'], {
    env: envWith({ WSGI_HTTPD_CACHE_DIR: store, TMPDIR: path.join(tmp, 'elsewhere') }),
    timeoutMs: 120_000,
  });
  t.regex(result.stdout, new RegExp(`^ok\\s+Build dir executable\\s+scripts can run in ${path.join(store, 'build').replaceAll('.', '\\.')}$`, 'm'));
  t.notRegex(result.stdout, /elsewhere/);

  const other = path.join(tmp, 'store-flag');
  const flagged = await runCli(['doctor', '--python', '/usr/bin/python3', '--cache-dir', other], {
    env: envWith({ WSGI_HTTPD_CACHE_DIR: store }),
    timeoutMs: 120_000,
  });
  t.regex(
    flagged.stdout,
    new RegExp(`^ok\\s+Build dir executable\\s+scripts can run in ${path.join(other, 'build').replaceAll('.', '\\.')}$`, 'm'),
    '--cache-dir wins, as in build',
  );
});

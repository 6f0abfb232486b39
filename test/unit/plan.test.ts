import { removeTempDirs, tempDir } from '../helpers/temp.js';
import test from 'ava';
import { formatPlan, layerKeys, makePlan, mirrorUrls, type PlanOptions } from '../../src/pipeline/plan.js';
import { buildFlags, platformMismatch, type PythonIdentity } from '../../src/store/keys.js';
import { lockComponents, readLock, serializeLock, type Lock } from '../../src/resolve/lock.js';
import { resolve } from '../../src/resolve/resolve.js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fixturesDir, loadFixtureRecipes } from '../helpers/fixtures.js';

const recipes = await loadFixtureRecipes();

function lockFor(requests = {}, features = { ssl: true, zlib: true, expat: false }): Lock {
  const resolved = resolve({ recipes, requests, pythonVersion: '3.11.2', features });
  return {
    lockfileVersion: 1,
    generatedBy: 'wsgi-httpd test',
    platform: 'linux-x64',
    compiler: { cc: '/usr/bin/cc', version: 'cc (Debian 12.2.0-14) 12.2.0' },
    python: { executable: '/usr/bin/python3', version: '3.11.2', abi: 'cpython-311-x86_64-linux-gnu' },
    features,
    httpdMode: 'source',
    components: lockComponents(resolved, features),
  };
}

const python311: PythonIdentity = {
  implementation: 'cpython',
  version: '3.11.2',
  abiFlags: '',
  soabi: 'cpython-311-x86_64-linux-gnu',
  enableShared: true,
  libpython: 'libpython3.11.so.1.0',
  libDir: '/usr/lib/x86_64-linux-gnu',
};
const machine = {
  platform: 'linux-x64',
  libc: 'glibc',
  compiler: { cc: '/usr/bin/cc', version: 'cc (Debian 12.2.0-14) 12.2.0' },
  flags: { CFLAGS: '-O2' },
};
const options: PlanOptions = {
  prefix: '/srv/app',
  cacheDir: '/cache',
  buildRoot: '/cache/build',
  jobs: 2,
  mirrors: [],
  verify: true,
  withManual: false,
  machine,
  python: { identity: python311, buildExecutable: '/usr/bin/python3.11' },
};
// Not the defaults: the versions with a patch (mod_wsgi 8.0.0) and with alternative files (mod_wsgi 8.0.0, pcre2 10.98).
const pinned = { httpd: '2.4.98', apr: '1.8.0', 'apr-util': '1.8.0', pcre2: '10.98', mod_wsgi: '8.0.0' } as const;

test.after.always(removeTempDirs);

test('the dry-run plan of a pinned fixture set (snapshot: every step, URL, sha256 and command line)', (t) => {
  const plan = makePlan(lockFor(pinned), options);
  // Patch files live in this checkout, wherever it is: the snapshot names them relative to it.
  t.snapshot(formatPlan(plan).replaceAll(fixturesDir, '<fixtures>/'));
});

test('the plan builds in a placeholder, installs under one stack directory and activates it through <prefix>/httpd', (t) => {
  const plan = makePlan(lockFor(), options);
  t.is(plan.layout.link, '/srv/app/httpd');
  t.true(plan.layout.root.startsWith('/srv/app/.wsgi-httpd/stacks/'));
  const httpd = plan.components.find((c) => c.name === 'httpd')!;
  const configure = httpd.steps.find((s) => s.kind === 'configure')!.argv!;
  // Components are built in a long placeholder directory and relocated into the stack afterwards.
  t.true(plan.stageRoot.length >= 150);
  t.true(plan.stageRoot.startsWith('/cache/build/stage/'));
  t.true(configure.includes(`--prefix=${plan.stageRoot}`));
  t.true(configure.includes(`--with-pcre=${plan.stageRoot}/bin/pcre2-config`));
  t.true(configure.includes('--enable-mpms-shared=all'));
  t.is(httpd.env.LDFLAGS, `-Wl,-rpath,${plan.stageRoot}/lib`);
  const modWsgi = plan.components.find((c) => c.name === 'mod_wsgi')!;
  t.deepEqual(modWsgi.steps.find((s) => s.kind === 'configure')!.argv, [
    './configure',
    `--with-apxs=${plan.stageRoot}/bin/apxs`,
    '--with-python=/usr/bin/python3.11',
  ]);
  t.true(
    plan.components.every((c) => c.sourceDir.startsWith('/cache/build/')),
    'sources are built outside the prefix',
  );
});

const keysOf = (lock: Lock, opts: Partial<PlanOptions> = {}) =>
  Object.fromEntries([...layerKeys(lock, { ...options, ...opts })].map(([n, k]) => [n, k.key]));

test("the configure shell (dash where there is one) is in every layer key and in each component's environment", (t) => {
  const withDash = { ...options, machine: { ...machine, shell: '/bin/dash' } };
  const plain = keysOf(lockFor(pinned));
  const dash = keysOf(lockFor(pinned), withDash);
  t.deepEqual(
    Object.keys(plain).filter((n) => plain[n] === dash[n]),
    [],
    'libtool and config_vars.mk name the shell: no layer is shared',
  );
  for (const c of makePlan(lockFor(pinned), withDash).components) t.is(c.env.CONFIG_SHELL, '/bin/dash', c.name);
  for (const c of makePlan(lockFor(pinned), options).components) t.false('CONFIG_SHELL' in c.env, c.name);
});

test("build flags: -O2 by default, -g -O2 with --debug-symbols, the environment's CFLAGS, CPPFLAGS, LDFLAGS and LIBS over both", (t) => {
  t.deepEqual(buildFlags({}, false), { CFLAGS: '-O2' });
  t.deepEqual(buildFlags({}, true), { CFLAGS: '-g -O2' });
  t.deepEqual(buildFlags({ CFLAGS: ' -O1 -fno-plt ', CPPFLAGS: '-I/opt/x', LDFLAGS: '', LIBS: '-lm', CXXFLAGS: '-O3' }, true), {
    CFLAGS: '-O1 -fno-plt',
    CPPFLAGS: '-I/opt/x',
    LIBS: '-lm',
  });
  const base = keysOf(lockFor(pinned));
  const debug = keysOf(lockFor(pinned), { machine: { ...machine, flags: buildFlags({}, true) } });
  const cppflags = keysOf(lockFor(pinned), { machine: { ...machine, flags: buildFlags({ CPPFLAGS: '-DX' }, false) } });
  for (const [name, other] of [
    ['--debug-symbols', debug],
    ['CPPFLAGS', cppflags],
  ] as const)
    t.true(
      Object.keys(base).every((n) => base[n] !== other[n]),
      `${name} is in every key: a layer built with other flags is another layer`,
    );
  const plan = makePlan(lockFor(pinned), { ...options, machine: { ...machine, flags: buildFlags({ CFLAGS: '-O1' }, false) } });
  for (const c of plan.components) t.is(c.env.CFLAGS, '-O1', `${c.name} configures with the flags its key holds`);
  const recipeOwn = lockFor(pinned);
  recipeOwn.components.find((c) => c.name === 'apr')!.env.CFLAGS = '-O3';
  t.is(makePlan(recipeOwn, options).components.find((c) => c.name === 'apr')!.env.CFLAGS, '-O3', "a recipe's own env wins for its layer");
});

test('layer keys: each holds its own inputs and the keys it is built against; only mod_wsgi holds the Python', (t) => {
  const base = keysOf(lockFor(pinned));
  t.deepEqual(keysOf(lockFor(pinned)), base, 'the same inputs give the same keys');
  t.is(makePlan(lockFor(pinned), { ...options, prefix: '/elsewhere' }).key, makePlan(lockFor(pinned), options).key, 'the prefix is in no key');

  const otherPython = keysOf(lockFor(pinned), {
    python: { identity: { ...python311, version: '3.13.0', soabi: 'cpython-313-x86_64-linux-gnu' }, buildExecutable: '/x' },
  });
  t.deepEqual(
    Object.keys(base).filter((n) => base[n] !== otherPython[n]),
    ['mod_wsgi'],
    'a second Python changes only the mod_wsgi layer',
  );
  const sameIdentityOtherPath = keysOf(lockFor(pinned), { python: { identity: python311, buildExecutable: '/root/venv/bin/python' } });
  t.deepEqual(sameIdentityOtherPath, base, 'the interpreter path (a venv, python3 vs python3.11) is in no key');

  const httpdFlags = lockFor(pinned);
  httpdFlags.components.find((c) => c.name === 'httpd')!.configureArgs.push('--enable-example');
  const changed = keysOf(httpdFlags);
  t.deepEqual(
    Object.keys(base).filter((n) => base[n] !== changed[n]),
    ['httpd', 'mod_wsgi'],
    "httpd's flags change httpd and what is built against it",
  );
  const pcre = keysOf(lockFor({ ...pinned, pcre2: '10.99' }));
  t.deepEqual(
    Object.keys(base).filter((n) => base[n] !== pcre[n]),
    ['pcre2', 'httpd', 'mod_wsgi'],
  );
  const otherCompiler = keysOf(lockFor(pinned), { machine: { ...machine, compiler: { cc: 'clang', version: 'clang 16' } } });
  t.true(
    Object.keys(base).every((n) => base[n] !== otherCompiler[n]),
    'the compiler is in every key',
  );
  const otherLibc = keysOf(lockFor(pinned), { machine: { ...machine, libc: 'musl' } });
  t.true(
    Object.keys(base).every((n) => base[n] !== otherLibc[n]),
    'the libc family is in every key (its version is checked where a layer is installed from a registry)',
  );
  t.not(
    makePlan(lockFor(pinned), { ...options, withManual: true }).key,
    makePlan(lockFor(pinned), options).key,
    '--with-manual is another stack of the same layers',
  );
});

test('mirrors come first in the download chain, in upstream layout', (t) => {
  t.deepEqual(mirrorUrls(['file:///srv/mirror/', 'https://m.example/apache'], 'httpd/{file}', 'httpd-2.4.98.tar.gz'), [
    'file:///srv/mirror/httpd/httpd-2.4.98.tar.gz',
    'https://m.example/apache/httpd/httpd-2.4.98.tar.gz',
  ]);
  const plan = makePlan(lockFor(pinned), { ...options, mirrors: ['https://m.example'] });
  const httpd = plan.components.find((c) => c.name === 'httpd')!;
  t.deepEqual(httpd.urls, ['https://m.example/httpd/httpd-2.4.98.tar.gz', 'https://downloads.fixtures.invalid/httpd/httpd-2.4.98.tar.gz']);
});

test('a lock file round-trips: written, read back, same plan', async (t) => {
  const lock = lockFor(pinned);
  const dir = await tempDir('lock-');
  const file = join(dir, 'wsgi-toolchain.lock.json');
  await writeFile(file, serializeLock(lock));
  const read = await readLock(file, (component) => `/patches/${component}`);
  t.deepEqual(keysOf(read), keysOf(lock));
  t.deepEqual(
    read.components.map((c) => [c.name, c.version, c.artifacts[0]!.sha256]),
    lock.components.map((c) => [c.name, c.version, c.artifacts[0]!.sha256]),
  );
});

test('a damaged lock file is refused with what is wrong', async (t) => {
  const dir = await tempDir('lock-');
  const file = join(dir, 'bad.lock.json');
  await writeFile(file, JSON.stringify({ ...lockFor(), lockfileVersion: 99 }));
  await t.throwsAsync(
    readLock(file, () => ''),
    { message: /lockfileVersion 99/ },
  );
  const lock = lockFor();
  lock.components[0]!.artifacts[0]!.sha256 = 'nope';
  await writeFile(file, JSON.stringify(lock));
  await t.throwsAsync(
    readLock(file, () => ''),
    { message: /pcre2 has no artifact with a sha256/ },
  );
});

test('a layer runs where the os, arch and libc family match and its glibc is not newer than the machine', (t) => {
  const here = { os: 'linux', arch: 'x64', libc: 'glibc', glibc: '2.36' };
  t.is(platformMismatch({ ...here, glibc: '2.31' }, here), undefined);
  t.is(platformMismatch(here, here), undefined);
  t.regex(platformMismatch({ ...here, glibc: '2.41' }, here) ?? '', /needs glibc 2\.41, this machine has 2\.36/);
  t.regex(platformMismatch({ ...here, arch: 'arm64' }, here) ?? '', /linux-arm64/);
  t.regex(platformMismatch({ os: 'linux', arch: 'x64', libc: 'musl' }, here) ?? '', /for musl/);
});

/**
 * The real pipeline on fixture C projects: tarballs served over loopback, sha256-verified, unpacked, configured, built
 * with cc and make, installed and activated, driven through the CLI exactly as a user runs it.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, readlink, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { makeFixtureSet, type FixtureSet } from '../helpers/fixtures.js';
import type { LoopbackServer } from '../helpers/loopback-server.js';
import { closeFixtureWorld, openFixtureWorld, type FixtureWorld } from '../helpers/fixture-world.js';
import { snapshotTree } from '../helpers/tree.js';

let work: string;
let server: LoopbackServer;
let fixtures: FixtureSet;
let broken: FixtureSet;

let world: FixtureWorld | undefined;

test.before(async () => {
  world = await openFixtureWorld('pipeline');
  ({ work, server, fixtures } = world);
  broken = await makeFixtureSet(join(work, 'broken'), { baseUrl: server.url, broken: { apr: 'configure' } });
});

test.after.always(() => closeFixtureWorld(world));

const common = () => ['--recipes', fixtures.recipesDir, '--python', '/usr/bin/python3', '--no-verify', '--no-python-package', '--plain', '-j', '2'];
const envFor = (name: string) => ({ WSGI_HTTPD_CACHE_DIR: join(work, `cache-${name}`) });

test.serial('build over loopback: download, verify, unpack, configure, make, install, activate', async (t) => {
  const prefix = join(work, 'p1');
  const result = await runCli(['build', '--prefix', prefix, ...common()], { env: envFor('p1') });
  t.is(result.code, 0, result.stderr + result.stdout);
  for (const c of ['pcre2', 'apr', 'apr-util', 'httpd', 'mod_wsgi'])
    t.true(
      server.requests.some((r) => r.startsWith(`GET /${c}/`)),
      c,
    );
  const httpd = join(prefix, 'httpd', 'bin', 'httpd');
  const version = execFileSync(httpd, ['-V'], { env: { PATH: process.env.PATH } }).toString();
  t.regex(version, /Apache\/2\.4\.99/);
  t.true((await readlink(join(prefix, 'httpd'))).startsWith('.wsgi-httpd/stacks/'));
  const lock = JSON.parse(await readFile(join(prefix, 'wsgi-toolchain.lock.json'), 'utf8'));
  t.deepEqual(
    lock.components.map((c: { name: string }) => c.name),
    ['pcre2', 'apr', 'apr-util', 'httpd', 'mod_wsgi'],
  );
  t.is(lock.python.executable, '/usr/bin/python3');
  t.true(existsSync(join(prefix, '.wsgi-httpd', 'logs', 'build.log')));
  t.regex(result.stdout, /layers:\n\s+pcre2\s+10\.99\s+[0-9a-f]{12}\s+built in/);
  t.regex(result.stdout, /\d\d:\d\d:\d\d/, 'plain output carries timestamps');

  const again = await runCli(['build', '--prefix', prefix, ...common()], { env: envFor('p1') });
  t.is(again.code, 0);
  t.regex(again.stdout, /^up to date: /m);
});

test.serial('a failing configure: exit 6, the last lines and a hint, the log path, and the earlier prefix untouched', async (t) => {
  const prefix = join(work, 'p1');
  const before = await snapshotTree(prefix);
  const result = await runCli(['build', '--prefix', prefix, ...common(), '--recipes', broken.recipesDir, '--sources', broken.sourcesDir, '--force'], {
    env: envFor('p1'),
  });
  t.is(result.code, 6, result.stderr);
  t.regex(result.stderr, /Last lines of the failing step:\n(.|\n)*C compiler cannot create executables/);
  const logLine = /Full log: (\S+)/.exec(result.stderr);
  t.truthy(logLine);
  t.true(existsSync(logLine![1]!), 'the log is kept outside the prefix');
  const last = result.stderr.trim().split('\n').at(-1)!;
  t.regex(
    last,
    /^wsgi-toolchain: error: apr 1\.9\.0: configure failed .*\(fix: the C compiler cannot build a test program: check CFLAGS, CPPFLAGS, LDFLAGS and LIBS .*build-essential/,
  );
  t.deepEqual(await snapshotTree(prefix), before);
});

test.serial('a failing first build leaves no prefix behind', async (t) => {
  const prefix = join(work, 'never');
  const result = await runCli(['build', '--prefix', prefix, ...common(), '--recipes', broken.recipesDir, '--sources', broken.sourcesDir], {
    env: envFor('never'),
  });
  t.is(result.code, 6);
  t.false(existsSync(prefix));
});

test.serial('--dry-run prints the plan and touches nothing; --json gives it as data', async (t) => {
  const prefix = join(work, 'dry');
  const text = await runCli(['build', '--prefix', prefix, ...common(), '--dry-run'], { env: envFor('dry') });
  t.is(text.code, 0, text.stderr);
  t.regex(text.stdout, /configure\s+CFLAGS=-O2 LDFLAGS=\S+ (?:[A-Z_]+=\S+ )*\.\/configure --prefix=/);
  t.regex(text.stdout, new RegExp(`${server.url.replaceAll('.', '\\.')}/httpd/httpd-2\\.4\\.99\\.tar\\.gz`));
  const json = await runCli(['build', '--prefix', prefix, ...common(), '--dry-run', '--json'], { env: envFor('dry') });
  const plan = JSON.parse(json.stdout).plan;
  t.is(plan.components.length, 5);
  t.false(existsSync(prefix));
  t.false(existsSync(join(work, 'cache-dry', 'downloads')));
});

test.serial('--offline with an empty cache lists every missing file and opens no connection', async (t) => {
  const seen = server.requests.length;
  const prefix = join(work, 'offline');
  const result = await runCli(['build', '--prefix', prefix, ...common(), '--offline'], { env: envFor('offline') });
  t.is(result.code, 4, result.stderr);
  for (const f of fixtures.files.filter((f) => f.component !== 'expat')) t.true(result.stderr.includes(f.sha256), f.file);
  t.is(server.requests.length, seen);
  t.false(existsSync(prefix));
});

test.serial('--sources finds renamed tarballs by sha256, offline', async (t) => {
  const { mkdir, copyFile } = await import('node:fs/promises');
  const renamed = join(work, 'renamed');
  await mkdir(renamed);
  for (const f of fixtures.files)
    await copyFile(join(fixtures.sourcesDir, f.component, f.file), join(renamed, `${f.component}_${f.version}.orig.tar.gz`));
  const seen = server.requests.length;
  const prefix = join(work, 'from-sources');
  const result = await runCli(['build', '--prefix', prefix, ...common(), '--offline', '--sources', renamed], { env: envFor('sources') });
  t.is(result.code, 0, result.stderr);
  t.is(server.requests.length, seen);
  t.regex(result.stdout, /sources:.*apr_1\.9\.0\.orig\.tar\.gz/);
});

test.serial('bad input gets one error line naming the problem and the fix', async (t) => {
  const cases: [string[], number, RegExp][] = [
    [['build', '--prefix', join(work, 'x'), '--httpd', '9.9.9', ...common()], 2, /no httpd version matches "9\.9\.9".*\(fix: pick one of those/],
    [
      ['build', '--prefix', join(work, 'x'), '--python', '/nonexistent/python', '--no-verify', '--no-python-package'],
      2,
      /--python=\/nonexistent\/python is not a Python interpreter/,
    ],
    [['build', '--prefix', join(work, 'x'), '--frobnicate'], 2, /unknown option --frobnicate for build \(fix: run 'wsgi-toolchain help build'/],
    [['build', '--prefix', join(work, 'x'), '--lock', join(work, 'missing.lock.json')], 2, /cannot read lock file/],
    [['explode'], 2, /unknown command "explode"/],
  ];
  for (const [args, code, pattern] of cases) {
    const result = await runCli(args, { env: envFor('bad') });
    t.is(result.code, code, args.join(' '));
    const lines = result.stderr.trim().split('\n');
    t.regex(lines.at(-1)!, pattern, args.join(' '));
    t.regex(lines.at(-1)!, /\(fix: /);
  }
  t.false(existsSync(join(work, 'x')));
});

test.serial('--with-expat builds expat first and APR-util uses it', async (t) => {
  const prefix = join(work, 'with-expat');
  const result = await runCli(['build', '--prefix', prefix, ...common(), '--with-expat'], { env: envFor('expat') });
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /expat [\d.]+: configure/);
  const lock = JSON.parse(await readFile(join(prefix, 'wsgi-toolchain.lock.json'), 'utf8'));
  const names = lock.components.map((c: { name: string }) => c.name);
  t.true(names.indexOf('expat') >= 0 && names.indexOf('expat') < names.indexOf('apr-util'));
  t.true(lock.features.expat);
  const aprUtil = lock.components.find((c: { name: string }) => c.name === 'apr-util');
  t.true(aprUtil.configureArgs.includes('--with-expat={prefix}'));
  t.true(existsSync(join(prefix, 'httpd', 'lib', 'libexpat.so')));
});

test.serial('CI image recipe: fetch in one stage, build offline from the lock in another, twice: same files and versions', async (t) => {
  const lockFile = join(work, 'ci.lock.json');
  const locked = await runCli(['lock', '--output', lockFile, ...common()], { env: envFor('ci-lock') });
  t.is(locked.code, 0, locked.stderr);
  const dest = join(work, 'ci-sources');
  const fetched = await runCli(['fetch', '--lock', lockFile, '--dest', dest, '--recipes', fixtures.recipesDir, '--python', '/usr/bin/python3'], {
    env: envFor('ci-fetch'),
  });
  t.is(fetched.code, 0, fetched.stderr);
  const seen = server.requests.length;
  const builds = [];
  for (const name of ['image-a', 'image-b']) {
    const prefix = join(work, name);
    // A fresh cache each time: nothing but the lock and the fetched directory goes into the image build.
    const result = await runCli(
      [
        'build',
        '--prefix',
        prefix,
        '--lock',
        lockFile,
        // A lock names versions; the overlay that defines them comes with it.
        '--recipes',
        fixtures.recipesDir,
        '--sources',
        dest,
        '--offline',
        '--python',
        '/usr/bin/python3',
        '--no-verify',
        '--no-python-package',
        '--plain',
      ],
      { env: envFor(`ci-${name}`) },
    );
    t.is(result.code, 0, result.stderr);
    const tree = await snapshotTree(await realpath(join(prefix, 'httpd')));
    builds.push({ files: Object.keys(tree).sort(), lock: JSON.parse(await readFile(join(prefix, 'wsgi-toolchain.lock.json'), 'utf8')) });
  }
  t.is(server.requests.length, seen, 'the image builds open no connection');
  t.deepEqual(builds[0]!.files, builds[1]!.files);
  t.deepEqual(
    builds[0]!.lock.components.map((c: { name: string; version: string }) => `${c.name} ${c.version}`),
    builds[1]!.lock.components.map((c: { name: string; version: string }) => `${c.name} ${c.version}`),
  );
  t.true(builds[0]!.files.length > 20);
});

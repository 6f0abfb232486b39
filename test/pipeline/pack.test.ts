/**
 * `wsgi-toolchain pack` and `build --from-archive`: a fixture build packed into one tarball installs into another
 * prefix with the build cache gone, offline and without compiling; an archive changed after packing is refused.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildKey } from '../../src/plan/plan.js';
import { runCli } from '../helpers/cli.js';
import type { FixtureSet } from '../helpers/fixtures.js';
import type { LoopbackServer } from '../helpers/loopback-server.js';
import { closeFixtureWorld, openFixtureWorld, type FixtureWorld } from '../helpers/fixture-world.js';

let work: string;
let server: LoopbackServer;
let fixtures: FixtureSet;

let world: FixtureWorld | undefined;

test.before(async () => {
  world = await openFixtureWorld('pack');
  ({ work, server, fixtures } = world);
});
test.after.always(() => closeFixtureWorld(world));

const cacheEnv = (name: string) => ({ WSGI_HTTPD_CACHE_DIR: join(work, name) });
const fromArchive = (archive: string, prefix: string) => [
  'build',
  '--from-archive',
  archive,
  '--prefix',
  prefix,
  '--no-verify',
  '--no-python-package',
  '--plain',
];
const httpdVersion = (prefix: string) => execFileSync(join(prefix, 'httpd', 'bin', 'httpd'), ['-V'], { env: { PATH: process.env.PATH } }).toString();
/** Lines of component steps ("apr: configure"): a build from an archive has none. */
const componentStep = /^\S+ \[[\d:]+\] [\w-]+: (unpack|patch|configure|compile|install|check)\b/m;

function grepTree(dir: string, needle: string): string {
  try {
    return execFileSync('grep', ['-rlF', needle, dir]).toString();
  } catch {
    return '';
  }
}

/** Unpacks an archive with the system tar, lets `change` edit it, packs it again. */
async function tamper(archive: string, output: string, change: (top: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(work, 'tamper-'));
  execFileSync('tar', ['-xzf', archive, '-C', dir]);
  const [top] = await readdir(dir);
  await change(join(dir, top!));
  execFileSync('tar', ['-czf', output, '-C', dir, top!]);
  await rm(dir, { recursive: true, force: true });
}

let archive: string;
let lockText: string;

test.serial('pack, delete the cache, build --from-archive into a new prefix: offline, no compile step, httpd -V works', async (t) => {
  const prefix = join(work, 'p');
  const built = await runCli(
    ['build', '--prefix', prefix, '--recipes', fixtures.recipesDir, '--python', '/usr/bin/python3', '--no-verify', '--no-python-package', '--plain'],
    { env: cacheEnv('cache') },
  );
  t.is(built.code, 0, built.stderr + built.stdout);
  lockText = await readFile(join(prefix, 'wsgi-toolchain.lock.json'), 'utf8');

  archive = join(work, 'out', 'stack.tar.gz');
  const packed = await runCli(['pack', '--prefix', prefix, '--output', archive], { env: cacheEnv('cache') });
  t.is(packed.code, 0, packed.stderr);
  t.regex(packed.stdout, /packed .* into .*stack\.tar\.gz: \d+ files/);
  t.regex(packed.stdout, /from the build cache/);
  const entries = execFileSync('tar', ['-tzf', archive]).toString().split('\n');
  t.true(entries.some((e) => /^wsgi-httpd-[0-9a-f]{16}\/manifest\.json$/.test(e)));
  t.true(entries.some((e) => /^wsgi-httpd-[0-9a-f]{16}\/tree\/bin\/httpd$/.test(e)));
  t.false(existsSync(join(work, 'cache', 'tmp')) && (await readdir(join(work, 'cache', 'tmp'))).length > 0, 'no scratch left in the cache');

  await rm(join(work, 'cache'), { recursive: true, force: true });
  const requests = server.requests.length;
  const target = join(work, 'q');
  const installed = await runCli([...fromArchive(archive, target), '--offline'], { env: cacheEnv('cache') });
  t.is(installed.code, 0, installed.stderr + installed.stdout);
  t.is(server.requests.length, requests, 'no download');
  t.notRegex(installed.stdout, componentStep, 'no component step ran');
  t.regex(installed.stdout, /Installing the build in .*stack\.tar\.gz \(\d+ files, every sha256 matches its manifest\)/);
  t.regex(httpdVersion(target), /Apache\/2\.4\.99/);
  const apxsPrefix = execFileSync(join(target, 'httpd', 'bin', 'apxs'), ['-q', 'PREFIX'])
    .toString()
    .trim();
  t.true(apxsPrefix.startsWith(join(target, '.wsgi-httpd', 'stacks')), apxsPrefix);
  t.is(await readFile(join(target, 'wsgi-toolchain.lock.json'), 'utf8'), lockText, 'the lock of the packed build');

  const again = await runCli(fromArchive(archive, target), { env: cacheEnv('cache') });
  t.is(again.code, 0, again.stderr);
  t.regex(again.stdout, /^up to date: /m);
});

test.serial('a tampered archive is refused naming the file, and nothing is installed or cached', async (t) => {
  const changedFile = join(work, 'out', 'changed-file.tar.gz');
  await tamper(archive, changedFile, async (top) => {
    await writeFile(join(top, 'tree', 'bin', 'apxs'), '\n# changed after packing\n', { flag: 'a' });
  });
  const prefix = join(work, 'tampered');
  const refused = await runCli(fromArchive(changedFile, prefix), { env: cacheEnv('cache-tampered') });
  t.is(refused.code, 5, refused.stderr);
  t.regex(refused.stderr, /checksum mismatch for tree\/bin\/apxs in \S+changed-file\.tar\.gz: expected sha256 [0-9a-f]{64}, got [0-9a-f]{64}/);
  t.false(existsSync(prefix), 'no prefix was made');
  t.deepEqual(await readdir(join(work, 'cache-tampered', 'builds')).catch(() => []), [], 'nothing entered the build cache');
  t.deepEqual(await readdir(join(work, 'cache-tampered', 'tmp')).catch(() => []), [], 'no scratch left');

  const extraFile = join(work, 'out', 'extra-file.tar.gz');
  await tamper(archive, extraFile, async (top) => writeFile(join(top, 'tree', 'modules', 'mod_evil.so'), 'not in the manifest'));
  const extra = await runCli(fromArchive(extraFile, prefix), { env: cacheEnv('cache-tampered') });
  t.is(extra.code, 5, extra.stderr);
  t.regex(extra.stderr, /tree\/modules\/mod_evil\.so .*expected sha256 \(not in the manifest\)/);

  const changedLock = join(work, 'out', 'changed-lock.tar.gz');
  await tamper(archive, changedLock, async (top) => {
    const manifest = JSON.parse(await readFile(join(top, 'manifest.json'), 'utf8'));
    manifest.lock.components[0].version = '99.0';
    await writeFile(join(top, 'manifest.json'), JSON.stringify(manifest));
  });
  const lock = await runCli(fromArchive(changedLock, prefix), { env: cacheEnv('cache-tampered') });
  t.is(lock.code, 5, lock.stderr);
  t.regex(lock.stderr, /checksum mismatch for manifest\.json in .*does not match its build key/);
  t.false(existsSync(prefix));
});

test.serial('an archive for another Python is refused before anything is touched', async (t) => {
  const otherPython = join(work, 'out', 'other-python.tar.gz');
  await tamper(archive, otherPython, async (top) => {
    // a consistent archive (the key recomputed) for a Python this machine does not have
    const manifest = JSON.parse(await readFile(join(top, 'manifest.json'), 'utf8'));
    manifest.lock.python.version = '3.0.1';
    manifest.key = buildKey(manifest.lock);
    await writeFile(join(top, 'manifest.json'), JSON.stringify(manifest));
  });
  const prefix = join(work, 'other-python');
  const result = await runCli(fromArchive(otherPython, prefix), { env: cacheEnv('cache-python') });
  t.is(result.code, 2, result.stderr);
  t.regex(result.stderr, /was built for Python 3\.0\.1 \(\S+\) but \/usr\/bin\/python3 is \d+\.\d+/);
  t.false(existsSync(prefix));
  t.false(existsSync(join(work, 'cache-python', 'builds')));
});

test.serial('without its cache entry the installed stack is packed; it installs only where the stack path is no longer', async (t) => {
  // The cache was deleted in the first test: pack the stack of q (installed from the archive; its cache is cache/).
  await rm(join(work, 'cache'), { recursive: true, force: true });
  const fromStack = join(work, 'out', 'from-stack.tar.gz');
  const packed = await runCli(['pack', '--prefix', join(work, 'q'), '--output', fromStack], { env: cacheEnv('cache') });
  t.is(packed.code, 0, packed.stderr);
  t.regex(packed.stdout, /from the installed stack .* at most \d+ characters long/);

  const same = join(work, 's'); // as long as "q": fits
  const ok = await runCli([...fromArchive(fromStack, same), '--offline'], { env: cacheEnv('cache-stack') });
  t.is(ok.code, 0, ok.stderr + ok.stdout);
  t.regex(httpdVersion(same), /Apache\/2\.4\.99/);
  const apxsPrefix = execFileSync(join(same, 'httpd', 'bin', 'apxs'), ['-q', 'PREFIX'])
    .toString()
    .trim();
  t.true(apxsPrefix.startsWith(join(same, '.wsgi-httpd', 'stacks')), apxsPrefix);
  t.is(grepTree(join(same, '.wsgi-httpd'), join(work, 'q', '.wsgi-httpd')), '', 'no file mentions the packed prefix');

  const longer = join(work, 'a-longer-prefix');
  await mkdir(longer);
  const refused = await runCli(fromArchive(fromStack, longer), { env: cacheEnv('cache-stack') });
  t.is(refused.code, 2, refused.stderr);
  t.regex(
    refused.stderr,
    /was packed from a stack installed at \S+ \(\d+ characters\), so it installs only where the stack path is no longer.*\(fix: choose a --prefix of at most \d+ characters/,
  );
  t.deepEqual(await readdir(longer), [], 'the prefix is untouched');
});

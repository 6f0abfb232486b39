/**
 * The product proven for real: httpd + APR + APR-util + PCRE2 + mod_wsgi built from upstream release tarballs (Debian's
 * byte-identical copies, fetched by scripts/fetch-test-sources.sh) through the CLI, then checked the way a user would.
 * WSGI_HTTPD_REAL_SOURCES names the directory; in CI its absence fails, elsewhere the test is skipped with the reason.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { snapshotTree } from '../helpers/tree.js';
import { registerSeedWorkflowTests } from './seed-workflow.js';

const sources = process.env.WSGI_HTTPD_REAL_SOURCES;
const python = '/usr/bin/python3';
const versions = { httpd: '2.4.68', apr: '1.7.5', 'apr-util': '1.6.3', pcre2: '10.46', 'mod-wsgi': '5.0.2' };
const versionFlags = Object.entries(versions).flatMap(([flag, v]) => [`--${flag}`, v]);
const why =
  'WSGI_HTTPD_REAL_SOURCES is not set: run `bash scripts/fetch-test-sources.sh` and export WSGI_HTTPD_REAL_SOURCES=<the directory it prints>';

if (!sources) {
  if (process.env.CI) test('real build: upstream sources are available', (t) => t.fail(`CI must build the real stack, but ${why}`));
  else {
    console.log(`real build skipped: ${why}`);
    test.skip(`real build (skipped: ${why})`, () => {});
  }
}

const real = sources ? test.serial : test.skip;

let work = '';
let prefix = '';
let cacheDir = '';
const env = () => ({ WSGI_HTTPD_CACHE_DIR: cacheDir, LD_LIBRARY_PATH: '' });

/** PIDs of processes running a binary from under dir, or naming it on their command line (a server's config). */
function processesUnder(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (Number(entry) !== process.pid && (readlinkSync(`/proc/${entry}/exe`).startsWith(dir) || cmdline.includes(dir))) pids.push(Number(entry));
    } catch {
      /* gone, or not ours to read */
    }
  }
  return pids;
}

test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'wsgi-real-'));
  // Apache's children run unprivileged: the prefix must be readable by them.
  await chmod(work, 0o755);
  prefix = join(work, 'prefix');
  cacheDir = join(work, 'cache');
});

test.after.always(async () => {
  // Stop anything a failed assertion may have left running under the work dir, then remove it.
  for (const pid of work ? processesUnder(work) : []) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  if (work && !process.env.WSGI_HTTPD_KEEP_E2E) await rm(work, { recursive: true, force: true });
});

real('build of the real stack from upstream tarballs, found by sha256 in --sources, offline', async (t) => {
  const started = Date.now();
  const result = await runCli(['build', '--prefix', prefix, '--sources', sources!, '--offline', '--python', python, ...versionFlags, '--plain'], {
    env: env(),
    timeoutMs: 40 * 60_000,
  });
  console.log(
    result.stdout
      .split('\n')
      .filter((l) => !/^\s*$/.test(l))
      .slice(-25)
      .join('\n'),
  );
  t.log(`wall time of the whole build command: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  t.is(result.code, 0, result.stderr);
  const expectedPython = execFileSync(python, ['-c', 'import sys; print(sys.version.split()[0])']).toString().trim();
  t.regex(result.stdout, new RegExp(`Verified: GET http://127\\.0\\.0\\.1:\\d+/ -> 200 .*Python ${expectedPython.replaceAll('.', '\\.')}`));
});

real('httpd -V names the APR, APR-util and PCRE2 it was built with, without LD_LIBRARY_PATH', (t) => {
  const out = execFileSync(join(prefix, 'httpd', 'bin', 'httpd'), ['-V'], { env: { PATH: process.env.PATH } }).toString();
  console.log(out);
  t.regex(out, /Server version: Apache\/2\.4\.68/);
  t.regex(out, /Server loaded:\s+APR 1\.7\.5, APR-UTIL 1\.6\.3, PCRE 10\.46/);
  t.regex(out, /Server MPM:/);
});

real('ldd finds every library of httpd, every module and mod_wsgi.so', async (t) => {
  const root = join(prefix, 'httpd');
  const modules = (await readdir(join(root, 'modules'))).filter((f) => f.endsWith('.so')).map((f) => join(root, 'modules', f));
  t.true(modules.some((m) => m.endsWith('mod_wsgi.so')));
  const bins = ['httpd', 'ab', 'htpasswd', 'pcre2grep'].map((b) => join(root, 'bin', b));
  for (const file of [...bins, ...modules]) {
    const out = execFileSync('ldd', [file], { env: { PATH: process.env.PATH } }).toString();
    t.false(out.includes('not found'), `${file}:\n${out}`);
  }
  t.log(`${bins.length + modules.length} binaries and modules resolve all their libraries`);
  const runpath = execFileSync('readelf', ['-d', join(root, 'bin', 'httpd')]).toString();
  t.regex(runpath, /RUNPATH.*\[\$ORIGIN\/\.\.\/lib\]/, 'libraries are found relative to the binary');
});

real('apxs answers and every module mod_wsgi-express loads is installed', async (t) => {
  const root = join(prefix, 'httpd');
  const apxsPrefix = execFileSync(join(root, 'bin', 'apxs'), ['-q', 'PREFIX'])
    .toString()
    .trim();
  t.is(apxsPrefix, readlinkSync(root).startsWith('/') ? readlinkSync(root) : join(prefix, readlinkSync(root)));
  const expressModules = [
    'access_compat',
    'unixd',
    'authn_core',
    'authz_core',
    'authz_host',
    'mime',
    'rewrite',
    'alias',
    'dir',
    'env',
    'headers',
    'filter',
    'reqtimeout',
    'log_config',
    'deflate',
    'autoindex',
    'auth_basic',
    'auth_digest',
    'authz_user',
    'proxy',
    'proxy_http',
    'status',
    'cgid',
    'mpm_event',
    'mpm_worker',
    'mpm_prefork',
    'ssl',
    'wsgi',
  ];
  const present = new Set(await readdir(join(root, 'modules')));
  for (const m of expressModules) t.true(present.has(`mod_${m}.so`), `mod_${m}.so`);
});

real('verify runs again on the installed prefix and leaves no httpd running', async (t) => {
  const result = await runCli(['verify', '--prefix', prefix, '--json'], { env: env(), timeoutMs: 120_000 });
  t.is(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout) as { status: number; pythonVersion: string; body: string };
  t.is(report.status, 200);
  console.log(`verify: ${report.body.trim()}`);
  t.deepEqual(processesUnder(work), []);
});

real('the same build again is a no-op', async (t) => {
  const result = await runCli(['build', '--prefix', prefix, '--sources', sources!, '--offline', '--python', python, ...versionFlags], { env: env() });
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /^up to date: /m);
});

// The seed's workflow on this very stack: mod_wsgi-express, runmodwsgi, the pip drop-in, serve (issue: seed workflow).
if (sources) registerSeedWorkflowTests(test, () => ({ prefix, sources: sources!, python }));

real('a flipped byte in a cached tarball: checksum error naming the file and both sha256, prefix untouched', async (t) => {
  const before = await snapshotTree(prefix);
  const downloads = join(cacheDir, 'downloads');
  const aprDir = (await readdir(downloads)).find((d) => d === 'cd0f5d52b9ab1704c72160c5ee3ed5d3d4ca2df4a7f8ab564e3cb352b67232f2')!;
  t.truthy(aprDir, 'apr 1.7.5 is in the cache');
  const [file] = await readdir(join(downloads, aprDir));
  const path = join(downloads, aprDir, file!);
  const bytes = await readFile(path);
  bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
  await writeFile(path, bytes);
  const result = await runCli(['build', '--prefix', prefix, '--offline', '--force', '--python', python, ...versionFlags, '--plain'], { env: env() });
  t.is(result.code, 5, result.stderr);
  const line = result.stderr.trim().split('\n').at(-1)!;
  t.regex(
    line,
    /checksum mismatch for .*apr-1\.7\.5\.tar\.bz2: expected sha256 cd0f5d52b9ab1704c72160c5ee3ed5d3d4ca2df4a7f8ab564e3cb352b67232f2, got [0-9a-f]{64}/,
  );
  t.deepEqual(await snapshotTree(prefix), before);
  t.deepEqual(processesUnder(work), []);
});

real('the second combination (APR 1.7.2, PCRE2 10.42) resolves and its upstream files are found by sha256', async (t) => {
  const dest = join(work, 'second-set');
  const flags = ['--python', python, '--httpd', '2.4.68', '--apr', '1.7.2', '--apr-util', '1.6.3', '--pcre2', '10.42', '--mod-wsgi', '5.0.2'];
  const result = await runCli(['fetch', '--offline', '--sources', sources!, '--dest', dest, ...flags, '--json'], { env: env() });
  t.is(result.code, 0, result.stderr);
  const written = JSON.parse(result.stdout)
    .files.map((f: { path?: string; file?: string }) => f.path ?? f.file)
    .join(' ');
  t.regex(written, /apr-1\.7\.2\.tar\.bz2/);
  t.regex(written, /pcre2-10\.42\.tar\.gz/);
});

real("--httpd system: mod_wsgi built against Debian's apxs into the prefix, served by Debian's apache2, system untouched", async (t) => {
  const systemModules = '/usr/lib/apache2/modules';
  const before = await snapshotTree(systemModules);
  const prefix = join(work, 'system-mode');
  const result = await runCli(
    [
      'build',
      '--prefix',
      prefix,
      '--httpd',
      'system',
      '--apxs',
      '/usr/bin/apxs',
      '--mod-wsgi',
      '5.0.2',
      '--sources',
      sources!,
      '--offline',
      '--python',
      python,
      '--plain',
    ],
    { env: env() },
  );
  t.is(result.code, 0, result.stderr + result.stdout);
  const apacheVersion = /Apache\/(\d+\.\d+\.\d+)/.exec(execFileSync('/usr/sbin/apache2', ['-v']).toString())![1]!;
  t.regex(result.stdout, new RegExp(`Verified: GET http://127\\.0\\.0\\.1:\\d+/ -> 200 from ${apacheVersion.replaceAll('.', '\\.')}`));
  t.truthy(readlinkSync(join(prefix, 'httpd')));
  t.deepEqual(await snapshotTree(systemModules), before, "the system's modules directory is not touched");
  const verify = await runCli(['verify', '--prefix', prefix, '--json'], { env: env() });
  t.is(verify.code, 0, verify.stderr);
  t.deepEqual(processesUnder(work), []);
});

real('uninstall removes the stack, the lock and the mod_wsgi-express launcher, and nothing else', async (t) => {
  const { writeFile: write } = await import('node:fs/promises');
  const { existsSync } = await import('node:fs');
  await write(join(prefix, 'bin', 'user-script'), '#!/bin/sh\n');
  t.true(existsSync(join(prefix, 'bin', 'mod_wsgi-express')));
  const result = await runCli(['uninstall', '--prefix', prefix, '--json'], { env: env() });
  t.is(result.code, 0, result.stderr);
  t.false(existsSync(join(prefix, 'httpd')));
  t.false(existsSync(join(prefix, 'bin', 'mod_wsgi-express')));
  t.false(existsSync(join(prefix, '.wsgi-httpd')));
  t.true(existsSync(join(prefix, 'bin', 'user-script')), 'unrelated files stay');
});

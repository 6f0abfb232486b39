/**
 * The mod_wsgi 5.0.2 set (httpd 2.4.68, APR 1.7.5, APR-util 1.6.3, PCRE2 10.46), built for real, with the cases that
 * need a built prefix: a flipped byte in a cached tarball, a second combination's sources, --httpd system, uninstall.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readlinkSync } from 'node:fs';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { snapshotTree } from '../helpers/tree.js';
import { processesUnder, python, registerRealStack, sources } from './real-stack.js';

const versions = { httpd: '2.4.68', apr: '1.7.5', 'apr-util': '1.6.3', pcre2: '10.46', 'mod-wsgi': '5.0.2' };
const { real, world } = registerRealStack({
  label: 'mod_wsgi 5.0.2 set',
  select: Object.entries(versions).flatMap(([flag, v]) => [`--${flag}`, v]),
  overlays: [],
  expect: { httpd: '2.4.68', apr: '1.7.5', aprUtil: '1.6.3', pcre2: '10.46', modWsgi: '5.0.2' },
});

real('a flipped byte in a cached tarball: checksum error naming the file and both sha256, prefix untouched', async (t) => {
  const before = await snapshotTree(world.prefix);
  // Without its layers the store must build again from the cached tarballs.
  await rm(join(world.cacheDir, 'layers'), { recursive: true, force: true });
  const downloads = join(world.cacheDir, 'downloads');
  const aprDir = (await readdir(downloads)).find((d) => d === 'cd0f5d52b9ab1704c72160c5ee3ed5d3d4ca2df4a7f8ab564e3cb352b67232f2')!;
  t.truthy(aprDir, 'apr 1.7.5 is in the cache');
  const [file] = await readdir(join(downloads, aprDir));
  const path = join(downloads, aprDir, file!);
  const bytes = await readFile(path);
  bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
  await writeFile(path, bytes);
  const flags = Object.entries(versions).flatMap(([flag, v]) => [`--${flag}`, v]);
  const result = await runCli(['build', '--prefix', world.prefix, '--offline', '--force', '--python', python, ...flags, '--plain'], {
    env: world.env(),
  });
  t.is(result.code, 5, result.stderr);
  const line = result.stderr.trim().split('\n').at(-1)!;
  t.regex(
    line,
    /checksum mismatch for .*apr-1\.7\.5\.tar\.bz2: expected sha256 cd0f5d52b9ab1704c72160c5ee3ed5d3d4ca2df4a7f8ab564e3cb352b67232f2, got [0-9a-f]{64}/,
  );
  t.deepEqual(await snapshotTree(world.prefix), before);
  t.deepEqual(processesUnder(world.work), []);
});

real('the second combination (APR 1.7.2, PCRE2 10.42) resolves and its upstream files are found by sha256', async (t) => {
  const dest = join(world.work, 'second-set');
  const flags = ['--python', python, '--httpd', '2.4.68', '--apr', '1.7.2', '--apr-util', '1.6.3', '--pcre2', '10.42', '--mod-wsgi', '5.0.2'];
  const result = await runCli(['fetch', '--offline', '--sources', sources!, '--dest', dest, ...flags, '--json'], { env: world.env() });
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
  const prefix = join(world.work, 'system-mode');
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
    { env: world.env() },
  );
  t.is(result.code, 0, result.stderr + result.stdout);
  const apacheVersion = /Apache\/(\d+\.\d+\.\d+)/.exec(execFileSync('/usr/sbin/apache2', ['-v']).toString())![1]!;
  t.regex(result.stdout, new RegExp(`Verified: GET http://127\\.0\\.0\\.1:\\d+/ -> 200 from ${apacheVersion.replaceAll('.', '\\.')}`));
  t.truthy(readlinkSync(join(prefix, 'httpd')));
  t.deepEqual(await snapshotTree(systemModules), before, "the system's modules directory is not touched");
  const verify = await runCli(['verify', '--prefix', prefix, '--json'], { env: world.env() });
  t.is(verify.code, 0, verify.stderr);
  t.deepEqual(processesUnder(world.work), []);
});

real('uninstall removes the stack, the lock and the mod_wsgi-express launcher, and nothing else', async (t) => {
  await writeFile(join(world.prefix, 'bin', 'user-script'), '#!/bin/sh\n');
  t.true(existsSync(join(world.prefix, 'bin', 'mod_wsgi-express')));
  const result = await runCli(['uninstall', '--prefix', world.prefix, '--json'], { env: world.env() });
  t.is(result.code, 0, result.stderr);
  t.false(existsSync(join(world.prefix, 'httpd')));
  t.false(existsSync(join(world.prefix, 'bin', 'mod_wsgi-express')));
  t.false(existsSync(join(world.prefix, '.wsgi-httpd')));
  t.true(existsSync(join(world.prefix, 'bin', 'user-script')), 'unrelated files stay');
});

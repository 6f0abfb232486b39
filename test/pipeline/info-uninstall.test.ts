/**
 * `wsgi-toolchain info` and `uninstall` on fixture builds in a prefix that also holds files of others (a virtualenv's
 * bin/python, a project's notes): info reads without changing anything; uninstall removes exactly the tool's own
 * entries and leaves every other file byte for byte as it was; a prefix without a build is a clear exit 2.
 */
import { removeTempDirs, tempDir } from '../helpers/temp.js';
import test from 'ava';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { fixtureBuildArgs, fixtureVersions, isolatedEnv, makeFixtureSet, type FixtureSet } from '../helpers/fixtures.js';
import { snapshotTree } from '../helpers/tree.js';

let work: string;
let fixtures: FixtureSet;

test.after.always(removeTempDirs);

test.before(async () => {
  work = await tempDir('wsgi-info-');
  await chmod(work, 0o755);
  fixtures = await makeFixtureSet(join(work, 'fixtures'));
});

const cache = () => join(work, 'cache');
const env = () => isolatedEnv(cache());
const buildArgs = (prefix: string) => fixtureBuildArgs(fixtures, prefix);

/** A prefix that already holds someone else's files: a venv-like bin/python, a symlink, a project file. */
async function foreignPrefix(name: string): Promise<string> {
  const prefix = join(work, name);
  await mkdir(join(prefix, 'bin'), { recursive: true });
  await mkdir(join(prefix, 'lib', 'python3', 'site-packages'), { recursive: true });
  await writeFile(join(prefix, 'bin', 'python'), '#!/bin/sh\necho not really python\n', { mode: 0o755 });
  await symlink('python', join(prefix, 'bin', 'python3'));
  await writeFile(join(prefix, 'lib', 'python3', 'site-packages', 'app.py'), 'print("hello")\n');
  await writeFile(join(prefix, 'NOTES.md'), "my notes, not the tool's\n");
  await mkdir(join(prefix, 'empty-dir'));
  return prefix;
}

test.serial('info and uninstall on a build in a shared prefix: other files stay byte for byte', async (t) => {
  const prefix = await foreignPrefix('shared');
  const before = await snapshotTree(prefix);
  const built = await runCli(buildArgs(prefix), { env: env() });
  t.is(built.code, 0, built.stderr);

  const text = await runCli(['info', '--prefix', prefix], { env: env() });
  t.is(text.code, 0, text.stderr);
  t.regex(text.stdout, new RegExp(`versions:\\s+pcre2 ${fixtureVersions.pcre2}, apr ${fixtureVersions.apr}`));
  t.regex(text.stdout, /python:\s+3\.\d+\.\d+ \(\S+\) \/usr\/bin\/python3/);
  t.regex(text.stdout, /features:\s+ssl (yes|no), zlib (yes|no), expat (built|system)/);
  t.regex(text.stdout, /stack:\s+\S+\.wsgi-httpd\/stacks\/\S+ \(\d+\.\d (KiB|MiB|GiB)[:)]/);
  t.regex(text.stdout, /built:\s+\d{4}-\d\d-\d\dT/);
  t.true(text.stdout.includes(`lock:       ${join(prefix, 'wsgi-toolchain.lock.json')}\n`));
  t.regex(text.stdout, /flags:\n\s+pcre2\s+/);

  const afterBuild = await snapshotTree(prefix);
  const data = await runCli(['info', '--prefix', prefix, '--json'], { env: env() });
  t.is(data.code, 0, data.stderr);
  const info = JSON.parse(data.stdout);
  t.is(info.versions.httpd, fixtureVersions.httpd);
  t.is(info.python.executable, '/usr/bin/python3');
  t.true(info.size.total > 0 && info.size.dirs.bin > 0);
  t.true(info.lockFileMatches);
  t.is(info.components.find((c: { name: string }) => c.name === 'httpd').configureArgs[0].startsWith('--'), true);
  t.deepEqual(await snapshotTree(prefix), afterBuild, 'info changes nothing');

  const dry = await runCli(['uninstall', '--prefix', prefix, '--dry-run', '--json'], { env: env() });
  t.is(dry.code, 0, dry.stderr);
  t.deepEqual(JSON.parse(dry.stdout).removed, [join(prefix, 'httpd'), join(prefix, 'wsgi-toolchain.lock.json'), join(prefix, '.wsgi-httpd')]);
  t.deepEqual(await snapshotTree(prefix), afterBuild, '--dry-run changes nothing');

  const removed = await runCli(['uninstall', '--prefix', prefix], { env: env() });
  t.is(removed.code, 0, removed.stderr);
  t.regex(removed.stdout, /^removed .*\/httpd$/m);
  t.regex(removed.stdout, /nothing else in .* was touched/);
  t.deepEqual(await snapshotTree(prefix), before, 'exactly the files that were there before the build remain, unchanged');

  const again = await runCli(['uninstall', '--prefix', prefix], { env: env() });
  t.is(again.code, 2);
  t.regex(again.stderr.trim(), /^wsgi-toolchain: error: .* holds no wsgi-toolchain build: nothing to uninstall \(fix: /);
  t.deepEqual(await snapshotTree(prefix), before);
});

test.serial('uninstall keeps a lock file that is not the one the build wrote', async (t) => {
  const prefix = await foreignPrefix('edited-lock');
  t.is((await runCli(buildArgs(prefix), { env: env() })).code, 0);
  const lockFile = join(prefix, 'wsgi-toolchain.lock.json');
  const edited = (await readFile(lockFile, 'utf8')).replace('"lockfileVersion": 1', '"lockfileVersion": 1, "note": "mine"');
  await writeFile(lockFile, edited);
  const info = JSON.parse((await runCli(['info', '--prefix', prefix, '--json'], { env: env() })).stdout);
  t.false(info.lockFileMatches);
  const result = await runCli(['uninstall', '--prefix', prefix, '--json'], { env: env() });
  t.is(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout);
  t.deepEqual(
    report.kept.map((k: { path: string }) => k.path),
    [lockFile],
  );
  t.is(await readFile(lockFile, 'utf8'), edited);
  t.false(existsSync(join(prefix, 'httpd')));
  t.false(existsSync(join(prefix, '.wsgi-httpd')));
  t.true(existsSync(join(prefix, 'bin', 'python')));
});

test.serial('uninstall takes the prefix lock: while a build holds it, exit 8 and nothing changes', async (t) => {
  const prefix = await foreignPrefix('locked');
  t.is((await runCli(buildArgs(prefix), { env: env() })).code, 0);
  // The prefix's lock, held by this (live) test process: not stale.
  const lock = join(prefix, '.wsgi-httpd', 'lock');
  await writeFile(lock, JSON.stringify({ pid: process.pid, host: hostname(), started: new Date().toISOString(), what: 'a build of the test' }));
  const before = await snapshotTree(prefix);
  try {
    const result = await runCli(['uninstall', '--prefix', prefix], { env: env() });
    t.is(result.code, 8, result.stderr);
    t.regex(result.stderr, new RegExp(`a build of the test holds ${lock.replaceAll('.', '\\.')} \\(process ${process.pid} `));
    t.deepEqual(await snapshotTree(prefix), before);
  } finally {
    const { rm } = await import('node:fs/promises');
    await rm(lock, { force: true });
  }
});

test('a prefix without a build: info and uninstall exit 2 with one clear error line and touch nothing', async (t) => {
  const prefix = await foreignPrefix('never-built');
  const before = await snapshotTree(prefix);
  for (const command of ['info', 'uninstall']) {
    const result = await runCli([command, '--prefix', prefix], { env: env() });
    t.is(result.code, 2, command);
    const lines = result.stderr.trim().split('\n');
    t.is(lines.length, 1, result.stderr);
    t.regex(lines[0]!, /holds no wsgi-toolchain build.*\(fix: /, command);
  }
  const missing = await runCli(['uninstall', '--prefix', join(work, 'does-not-exist')], { env: env() });
  t.is(missing.code, 2);
  t.regex(missing.stderr, /does not exist/);
  t.deepEqual(await snapshotTree(prefix), before);
});

test('uninstall refuses a prefix whose httpd is not ours', async (t) => {
  const prefix = await foreignPrefix('foreign-httpd');
  await mkdir(join(prefix, 'httpd', 'bin'), { recursive: true });
  await writeFile(join(prefix, 'httpd', 'bin', 'httpd'), "someone else's\n");
  await mkdir(join(prefix, '.wsgi-httpd'));
  const before = await snapshotTree(prefix);
  const result = await runCli(['uninstall', '--prefix', prefix], { env: env() });
  t.is(result.code, 2);
  t.regex(result.stderr, /exists and was not made by wsgi-toolchain/);
  t.deepEqual(await snapshotTree(prefix), before);
});

test('info and uninstall without --prefix or WSGI_HTTPD_PREFIX: usage error', async (t) => {
  for (const command of ['info', 'uninstall']) {
    const result = await runCli([command], { env: env() });
    t.is(result.code, 2, command);
    t.regex(result.stderr, /no --prefix given/);
  }
});

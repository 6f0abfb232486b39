/**
 * The Python package (mod_wsgi-express) on fixture builds: laid out by the tool from the verified source, with no
 * setuptools and no pip, into a plain prefix (launcher + the stack's package directory) or a virtualenv made without
 * pip (site-packages, a .dist-info, the console script). Files another installer owns are never replaced without
 * --force, and uninstall removes exactly what the tool installed.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, readlinkSync, realpathSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { closeFixtureWorld, type FixtureWorld, openFixtureWorld } from '../helpers/fixture-world.js';
import { snapshotTree } from '../helpers/tree.js';

let world: FixtureWorld;
test.before(async () => {
  world = await openFixtureWorld('pypkg');
});
test.after.always(() => closeFixtureWorld(world));

const env = () => ({ WSGI_HTTPD_CACHE_DIR: join(world.work, 'cache'), WSGI_HTTPD_PREFIX: '', VIRTUAL_ENV: '' });
const build = (prefix: string, python: string, ...extra: string[]) =>
  runCli(['build', '--prefix', prefix, '--recipes', world.fixtures.recipesDir, '--python', python, '--no-verify', '--plain', '-j', '2', ...extra], {
    env: env(),
  });
const sitePackages = (python: string) => execFileSync(python, ['-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])']).toString().trim();

test.serial('plain prefix: a launcher runs the package laid out in the stack; module-location names the stack module', async (t) => {
  const prefix = join(world.work, 'plain');
  const built = await build(prefix, '/usr/bin/python3');
  t.is(built.code, 0, built.stderr);
  t.regex(built.stdout, /Python package .*: mod_wsgi 9\.0\.0, \d+ files, nothing compiled/);
  const express = join(prefix, 'bin', 'mod_wsgi-express');
  const location = execFileSync(express, ['module-location'], { env: { PATH: process.env.PATH } })
    .toString()
    .trim();
  t.true(location.startsWith(join(prefix, 'httpd', 'python', 'mod_wsgi', 'server', 'mod_wsgi-py')), location);
  t.is(realpathSync(location), realpathSync(join(prefix, 'httpd', 'modules', 'mod_wsgi.so')));
  const config = await readFile(join(prefix, 'httpd', 'python', 'mod_wsgi', 'express', 'apxs_config.py'), 'utf8');
  t.regex(config, new RegExp(`BINDIR = '${join(prefix, 'httpd', 'bin').replaceAll('/', '\\/')}'`), 'the stable link, not the stack directory');
  t.regex(config, /^WITH_HTTPD_PACKAGE = False$/m);
  // apxs was asked once, when the layer was built; the answers were relocated with the layer to this stack.
  const record = JSON.parse(await readFile(join(prefix, 'httpd', 'python', '.wsgi-toolchain-package.json'), 'utf8'));
  t.is(record.apxsAnswers.BINDIR, join(realpathSync(join(prefix, 'httpd')), 'bin'));
  const envvars = await readFile(join(prefix, 'httpd', 'python', 'wsgi-toolchain-envvars'), 'utf8');
  t.true(envvars.includes(`PYTHONPATH='${join(prefix, 'httpd', 'python')}'`));
});

test.serial('a virtualenv without pip or setuptools gets the package, a .dist-info and the console script', async (t) => {
  const venv = join(world.work, 'venv-bare');
  execFileSync('/usr/bin/python3', ['-m', 'venv', '--without-pip', venv]);
  const python = join(venv, 'bin', 'python');
  t.is(execFileSync(python, ['-c', 'import importlib.util as u; print(u.find_spec("setuptools") is None)']).toString().trim(), 'True');
  const built = await build(venv, python);
  t.is(built.code, 0, built.stderr);
  const site = sitePackages(python);
  const distInfo = join(site, 'mod_wsgi-9.0.0.dist-info');
  t.is((await readFile(join(distInfo, 'INSTALLER'), 'utf8')).trim(), 'wsgi-toolchain');
  const record = await readFile(join(distInfo, 'RECORD'), 'utf8');
  t.regex(record, /^mod_wsgi\/express\/cli\.py,sha256=[\w-]{43},\d+$/m);
  t.regex(record, /^\.\.\/\.\.\/\.\.\/bin\/mod_wsgi-express,sha256=/m);
  const location = execFileSync(join(venv, 'bin', 'mod_wsgi-express'), ['module-location'])
    .toString()
    .trim();
  t.is(readlinkSync(location), join(venv, 'httpd', 'modules', 'mod_wsgi.so'), 'the extension goes through the stable link');
  t.true(existsSync(location));
  const meta = execFileSync(python, ['-c', 'from importlib import metadata as m; print(m.version("mod_wsgi"))']).toString().trim();
  t.is(meta, '9.0.0');

  const removed = await runCli(['uninstall', '--prefix', venv, '--json'], { env: env() });
  t.is(removed.code, 0, removed.stderr);
  t.false(existsSync(join(site, 'mod_wsgi')));
  t.false(existsSync(distInfo));
  t.false(existsSync(join(venv, 'bin', 'mod_wsgi-express')));
  t.true(existsSync(python), 'the virtualenv itself stays');
});

test.serial("another installer's mod_wsgi in the virtualenv: exit 2 naming it, nothing changed; --force replaces it", async (t) => {
  const venv = join(world.work, 'venv-foreign');
  execFileSync('/usr/bin/python3', ['-m', 'venv', '--without-pip', venv]);
  const python = join(venv, 'bin', 'python');
  const site = sitePackages(python);
  await mkdir(join(site, 'mod_wsgi', 'server'), { recursive: true });
  await writeFile(join(site, 'mod_wsgi', '__init__.py'), '# theirs\n');
  await mkdir(join(site, 'mod_wsgi-5.0.2.dist-info'));
  await writeFile(join(site, 'mod_wsgi-5.0.2.dist-info', 'INSTALLER'), 'pip\n');
  await writeFile(join(venv, 'bin', 'mod_wsgi-express'), '#!/bin/sh\necho theirs\n', { mode: 0o755 });
  const before = await snapshotTree(venv);
  const refused = await build(venv, python);
  t.is(refused.code, 2, refused.stderr);
  t.regex(refused.stderr.trim().split('\n').at(-1)!, /mod_wsgi-5\.0\.2\.dist-info was not installed by wsgi-toolchain.*--force/);
  t.deepEqual(await snapshotTree(venv), before, 'the virtualenv is byte-identical');

  const forced = await build(venv, python, '--force');
  t.is(forced.code, 0, forced.stderr);
  t.false(existsSync(join(site, 'mod_wsgi-5.0.2.dist-info')));
  t.is((await readFile(join(site, 'mod_wsgi-9.0.0.dist-info', 'INSTALLER'), 'utf8')).trim(), 'wsgi-toolchain');
  t.notRegex(await readFile(join(venv, 'bin', 'mod_wsgi-express'), 'utf8'), /theirs/);
});

test.serial('a mod_wsgi-express of the user in a plain prefix is never overwritten without --force', async (t) => {
  const prefix = join(world.work, 'plain-foreign');
  await mkdir(join(prefix, 'bin'), { recursive: true });
  await writeFile(join(prefix, 'bin', 'mod_wsgi-express'), '#!/bin/sh\necho mine\n', { mode: 0o755 });
  const before = await snapshotTree(prefix);
  const refused = await build(prefix, '/usr/bin/python3');
  t.is(refused.code, 2, refused.stderr);
  t.regex(refused.stderr, /bin\/mod_wsgi-express exists and was not written by wsgi-toolchain/);
  t.deepEqual(await snapshotTree(prefix), before);
  const forced = await build(prefix, '/usr/bin/python3', '--force');
  t.is(forced.code, 0, forced.stderr);
  t.regex(await readFile(join(prefix, 'bin', 'mod_wsgi-express'), 'utf8'), /written by wsgi-toolchain/);
});

/**
 * The pip drop-in (src/install/dropin.ts) in a virtualenv that someone else can write to: its manifest and the
 * directories around it are untrusted. Nothing is ever written or removed through a link the tool did not make, and
 * only the drop-in's own paths are removed, whatever its manifest lists.
 */
import test from 'ava';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { layOutDropIn, uninstallDropIn } from '../../src/install/dropin.js';
import { UsageError } from '../../src/errors.js';
import type { PythonInfo } from '../../src/python/types.js';
import { removeTempDirs, tempDir } from '../helpers/temp.js';
import { snapshotTree } from '../helpers/tree.js';

test.after.always(removeTempDirs);

/** A virtualenv's layout (no interpreter needed) and a built root for the drop-in to point at. */
async function world() {
  const dir = await tempDir('dropin-');
  const venv = join(dir, 'venv');
  const sitePackages = join(venv, 'lib', 'python3.11', 'site-packages');
  await mkdir(sitePackages, { recursive: true });
  await mkdir(join(venv, 'bin'));
  const root = join(dir, 'prefix', 'httpd');
  for (const d of ['bin', 'modules', 'lib', 'include', 'build', 'conf']) await mkdir(join(root, d), { recursive: true });
  await writeFile(join(root, 'bin', 'apxs'), '#!/bin/sh\n');
  await writeFile(join(root, 'bin', 'httpd'), '');
  const victim = join(dir, 'victim');
  await mkdir(victim);
  await writeFile(join(victim, 'precious'), 'keep me\n');
  const python = {
    executable: join(venv, 'bin', 'python'),
    prefix: venv,
    isVirtualenv: true,
    sitePackages,
  } as PythonInfo;
  return { dir, venv, sitePackages, root, victim, python };
}

test('a drop-in is laid out and removed whole: the venv is as it was', async (t) => {
  const w = await world();
  const before = await snapshotTree(w.venv);
  const laid = await layOutDropIn({ venv: w.venv, root: w.root, python: w.python });
  t.true(existsSync(join(w.venv, 'bin', 'mod_wsgi-apxs')));
  const removed = await uninstallDropIn({ venv: w.venv, python: w.python });
  t.deepEqual([...removed].sort(), [...laid.created].sort());
  t.deepEqual(await snapshotTree(w.venv), before);
});

test('uninstall removes only the drop-in’s own paths: a forged manifest entry through a planted link deletes nothing outside', async (t) => {
  const w = await world();
  const laid = await layOutDropIn({ venv: w.venv, root: w.root, python: w.python });
  // Someone who can write the venv plants a link to a victim directory and lists a file "below" it in the manifest.
  await symlink(w.victim, join(w.venv, 'evil'));
  const manifest = JSON.parse(await readFile(laid.manifest, 'utf8')) as { created: string[] };
  manifest.created.unshift(join(w.venv, 'evil', 'precious'), join(w.victim, 'precious'));
  await writeFile(laid.manifest, JSON.stringify(manifest));
  const removed = await uninstallDropIn({ venv: w.venv, python: w.python });
  t.is(await readFile(join(w.victim, 'precious'), 'utf8'), 'keep me\n');
  t.false(
    removed.some((p) => p.includes('evil') || p.includes('victim')),
    removed.join('\n'),
  );
  t.false(existsSync(join(w.venv, 'bin', 'mod_wsgi-apxs')), 'the drop-in itself is gone');
});

test('uninstall removes nothing through mod_wsgi_packages/httpd turned into a link to another directory', async (t) => {
  const w = await world();
  const laid = await layOutDropIn({ venv: w.venv, root: w.root, python: w.python });
  // The package directory is swapped for a link to a victim holding a copy of the manifest and files of the same names.
  const copy = await readFile(laid.manifest, 'utf8');
  await rm(laid.packageDir, { recursive: true });
  await writeFile(join(w.victim, 'wsgi-toolchain-dropin.json'), copy);
  await writeFile(join(w.victim, '__init__.py'), 'victim\n');
  await symlink(w.victim, laid.packageDir);
  await uninstallDropIn({ venv: w.venv, python: w.python });
  t.is(await readFile(join(w.victim, '__init__.py'), 'utf8'), 'victim\n');
  t.is(await readFile(join(w.victim, 'wsgi-toolchain-dropin.json'), 'utf8'), copy);
  t.is(await readFile(join(w.victim, 'precious'), 'utf8'), 'keep me\n');
});

test('a mod_wsgi_packages that is a link to another directory is refused, naming it, and nothing is written into it', async (t) => {
  const w = await world();
  const nsDir = join(w.sitePackages, 'mod_wsgi_packages');
  await symlink(w.victim, nsDir);
  const before = await snapshotTree(w.victim);
  const error = await t.throwsAsync(layOutDropIn({ venv: w.venv, root: w.root, python: w.python }), { instanceOf: UsageError });
  t.is(error?.message, `${nsDir} is not a directory (a symbolic link or a file)`);
  t.deepEqual(await snapshotTree(w.victim), before);
  t.false(existsSync(join(w.venv, 'bin', 'mod_wsgi-apxs')));
});

test('a site-packages that leads out of the virtualenv is refused', async (t) => {
  const w = await world();
  const outside = join(w.dir, 'elsewhere');
  await mkdir(outside);
  const python = { ...w.python, sitePackages: join(w.venv, 'lib', 'linked') };
  await symlink(outside, python.sitePackages);
  const before = await snapshotTree(outside);
  await t.throwsAsync(layOutDropIn({ venv: w.venv, root: w.root, python }), { instanceOf: UsageError, message: /leads out of the virtualenv/ });
  t.deepEqual(await snapshotTree(outside), before);
  t.deepEqual(await uninstallDropIn({ venv: w.venv, python }), []);
});

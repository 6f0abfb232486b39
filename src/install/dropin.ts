/**
 * A drop-in for `pip install mod_wsgi-httpd`: lays out in a virtualenv what mod_wsgi's setup.py looks for, so a later
 * plain `pip install mod_wsgi` (or `--no-index <source>`) in that virtualenv builds against our httpd without APXS, even
 * when Debian's apxs2/apxs is on PATH.
 *
 * mod_wsgi's setup.py (4.x-6.x), when APXS is unset, takes `mod_wsgi-apxs` from PATH or from the directory of
 * sys.executable before it looks for apxs2/apxs, and then sets WITH_HTTPD_PACKAGE: the generated
 * mod_wsgi/server/apxs_config.py finds httpd at run time through the `mod_wsgi_packages.httpd` package
 * (<package>/bin/httpd, <package>/modules, LD_LIBRARY_PATH=<package>/lib). So we create:
 *
 *   <venv>/bin/mod_wsgi-apxs                               runs <prefix>/httpd/bin/apxs (the stable link)
 *   <site-packages>/mod_wsgi_packages/__init__.py          a pkgutil namespace package, as mod_wsgi-httpd's
 *   <site-packages>/mod_wsgi_packages/httpd/__init__.py
 *   <site-packages>/mod_wsgi_packages/httpd/{bin,modules,lib,include,build,conf} -> <prefix>/httpd/...
 *   <site-packages>/mod_wsgi_packages/httpd/wsgi-toolchain-dropin.json   what we created, for uninstallDropIn
 *
 * Every file is written whole or not at all (temp file, then link(2)), and never over an existing one: a
 * mod_wsgi-apxs or mod_wsgi_packages.httpd of another installer stays as it is and the drop-in is skipped.
 *
 * The links go through <prefix>/httpd, so the drop-in follows every rebuild. No dist-info is written: pip does not
 * think mod_wsgi-httpd is installed (mod_wsgi-standalone, which pins a mod_wsgi-httpd version, is not covered).
 */
import { randomBytes } from 'node:crypto';
import { chmod, link, lstat, mkdir, readFile, readdir, rm, rmdir, symlink, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { UsageError } from '../errors.js';
import { insideRealPath } from '../util/path-trust.js';
import type { PythonInfo } from '../python/types.js';

export interface DropInOptions {
  /** The virtualenv (sys.prefix of python). */
  venv: string;
  /** The Apache root to expose, normally the stable link <prefix>/httpd. */
  root: string;
  /** The virtualenv's interpreter (its sitePackages is where the package goes). */
  python: PythonInfo;
}

export interface DropInResult {
  /** Every file, link and directory created, in creation order (what uninstallDropIn removes). */
  created: string[];
  apxs: string;
  packageDir: string;
  manifest: string;
}

const manifestName = 'wsgi-toolchain-dropin.json';
const linkedDirs = ['bin', 'modules', 'lib', 'include', 'build', 'conf'];

const namespaceInit = `# Namespace package shared with mod_wsgi-httpd's layout (written by wsgi-toolchain).
import pkgutil
__path__ = pkgutil.extend_path(__path__, __name__)
`;

function apxsWrapper(root: string): string {
  const quoted = `'${join(root, 'bin', 'apxs').replaceAll("'", `'\\''`)}'`;
  return `#!/bin/sh\n# mod_wsgi-apxs: the apxs of the wsgi-toolchain build at ${root} (written by wsgi-toolchain).\nexec ${quoted} "$@"\n`;
}

/**
 * Writes a new file whole or not at all, and never over anything: the text goes to a temp file beside it (created
 * exclusively), which is then hard-linked to its name (link(2) fails when the name exists, even if something appeared
 * there since we looked).
 */
async function writeNewFile(path: string, text: string, mode: number): Promise<void> {
  const temp = `${path}.wsgi-toolchain-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(temp, text, { mode, flag: 'wx' });
    await chmod(temp, mode);
    await link(temp, path);
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

async function lexists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

async function sitePackagesOf(opts: DropInOptions): Promise<string> {
  const venv = resolve(opts.venv);
  if (!opts.python.isVirtualenv || resolve(opts.python.prefix) !== venv) {
    throw new UsageError(
      `${opts.python.executable} is not the interpreter of the virtualenv ${venv}`,
      `pass the virtualenv's own Python (${join(venv, 'bin', 'python')})`,
    );
  }
  const sitePackages = resolve(opts.python.sitePackages);
  if (!(await insideRealPath(sitePackages, venv)))
    throw new UsageError(`${sitePackages} leads out of the virtualenv ${venv}`, 'lay out the drop-in in a virtualenv whose site-packages is its own');
  return sitePackages;
}

/** Everything a drop-in can consist of. Nothing else is ever removed, whatever a (writable, so untrusted) manifest lists. */
function dropInPaths(venv: string, sitePackages: string) {
  const nsDir = join(sitePackages, 'mod_wsgi_packages');
  const packageDir = join(nsDir, 'httpd');
  const manifest = join(packageDir, manifestName);
  const apxs = join(venv, 'bin', 'mod_wsgi-apxs');
  const all = [
    nsDir,
    join(nsDir, '__init__.py'),
    packageDir,
    join(packageDir, '__init__.py'),
    ...linkedDirs.map((n) => join(packageDir, n)),
    apxs,
    manifest,
  ];
  return { nsDir, packageDir, manifest, apxs, all };
}

/** The first directory between `base` (not included) and `path` that is not a real directory (a link, a file), if any. */
async function linkOnTheWay(base: string, path: string): Promise<string | undefined> {
  let dir = base;
  for (const part of relative(base, dirname(path)).split(sep).filter(Boolean)) {
    dir = join(dir, part);
    const info = await lstat(dir).catch(() => undefined);
    if (info && !info.isDirectory()) return dir;
  }
  return undefined;
}

export async function layOutDropIn(opts: DropInOptions): Promise<DropInResult> {
  const venv = resolve(opts.venv);
  const root = resolve(opts.root);
  const sitePackages = await sitePackagesOf(opts);
  for (const needed of ['bin/apxs', 'bin/httpd', 'modules']) {
    if (!(await lexists(join(root, needed))))
      throw new UsageError(`${join(root, needed)} does not exist`, `build first: wsgi-toolchain build --prefix ${dirname(root)}`);
  }
  const { nsDir, packageDir, manifest, apxs } = dropInPaths(venv, sitePackages);
  // Never write through a link we did not make: mod_wsgi_packages (or bin) must be a directory of the venv's own.
  for (const [base, path] of [
    [sitePackages, join(packageDir, '__init__.py')],
    [venv, apxs],
  ] as const) {
    const link = await linkOnTheWay(base, path);
    if (link) throw new UsageError(`${link} is not a directory (a symbolic link or a file)`, `remove or move it away, then build again`);
  }

  // Replace our own earlier drop-in; never someone else's mod_wsgi-httpd.
  if (await lexists(manifest)) await uninstallDropIn({ venv, python: opts.python });
  const foreign = (await readdir(sitePackages).catch(() => [] as string[])).find((e) => /^mod_wsgi_httpd-.*\.(dist|egg)-info$/i.test(e));
  if (foreign || (await lexists(packageDir)) || (await lexists(apxs))) {
    throw new UsageError(
      `${venv} already has mod_wsgi-httpd (${foreign ? join(sitePackages, foreign) : (await lexists(packageDir)) ? packageDir : apxs})`,
      'remove it first (pip uninstall mod_wsgi-httpd), then lay out the drop-in again',
    );
  }

  const created: string[] = [];
  try {
    if (!(await lexists(nsDir))) {
      await mkdir(nsDir);
      created.push(nsDir);
    }
    if (!(await lexists(join(nsDir, '__init__.py')))) {
      await writeNewFile(join(nsDir, '__init__.py'), namespaceInit, 0o644);
      created.push(join(nsDir, '__init__.py'));
    }
    await mkdir(packageDir);
    created.push(packageDir);
    await writeNewFile(join(packageDir, '__init__.py'), `# The Apache httpd of the wsgi-toolchain build at ${root}.\n`, 0o644);
    created.push(join(packageDir, '__init__.py'));
    for (const name of linkedDirs) {
      if (!(await lexists(join(root, name)))) continue;
      await symlink(join(root, name), join(packageDir, name));
      created.push(join(packageDir, name));
    }
    await mkdir(dirname(apxs), { recursive: true });
    await writeNewFile(apxs, apxsWrapper(root), 0o755);
    created.push(apxs);
    created.push(manifest);
    await writeNewFile(manifest, `${JSON.stringify({ tool: 'wsgi-toolchain', root, venv, created }, null, 2)}\n`, 0o644);
  } catch (error) {
    await removeCreated(created, [sitePackages, venv]);
    throw error;
  }
  return { created, apxs, packageDir, manifest };
}

/** Removes `created`, last first, each only if no directory between its base and it is a link (nothing is removed through one). */
async function removeCreated(created: string[], bases: string[]): Promise<string[]> {
  const removed: string[] = [];
  for (const path of [...created].reverse()) {
    const base = bases.find((b) => path.startsWith(`${b}${sep}`));
    if (!base || (await linkOnTheWay(base, path))) continue;
    try {
      const info = await lstat(path);
      if (info.isDirectory()) {
        // Only what we made: Python may have added __pycache__ beside our files.
        await rm(join(path, '__pycache__'), { recursive: true, force: true });
        await rmdir(path);
      } else await rm(path);
      removed.push(path);
    } catch {
      /* gone already, or a directory someone else put files into: leave it */
    }
  }
  return removed;
}

/** Removes exactly what layOutDropIn created (read from its manifest); returns what was removed ([] when none). */
export async function uninstallDropIn(opts: { venv: string; python: PythonInfo }): Promise<string[]> {
  const venv = resolve(opts.venv);
  let sitePackages: string;
  try {
    sitePackages = await sitePackagesOf({ venv, root: '/', python: opts.python });
  } catch {
    return []; // a site-packages outside the venv: nothing of it is ours to remove
  }
  const paths = dropInPaths(venv, sitePackages);
  if (await linkOnTheWay(sitePackages, paths.manifest)) return [];
  let created: string[];
  try {
    const parsed = JSON.parse(await readFile(paths.manifest, 'utf8')) as { tool?: string; created?: unknown };
    if (parsed.tool !== 'wsgi-toolchain' || !Array.isArray(parsed.created)) return [];
    created = parsed.created.filter((p): p is string => typeof p === 'string');
  } catch {
    return [];
  }
  // The manifest says which of the drop-in's own paths this build made (mod_wsgi_packages may be another installer's);
  // any other path it lists is ignored.
  const ours = created.map((p) => resolve(p)).filter((p) => paths.all.includes(p));
  return removeCreated(ours, [sitePackages, venv]);
}

/** Where a drop-in's mod_wsgi-apxs points (undefined when there is none or it is not ours). */
export async function dropInRoot(venv: string): Promise<string | undefined> {
  try {
    const text = await readFile(join(resolve(venv), 'bin', 'mod_wsgi-apxs'), 'utf8');
    return /^# mod_wsgi-apxs: the apxs of the wsgi-toolchain build at (.*) \(written by wsgi-toolchain\)\.$/m.exec(text)?.[1];
  } catch {
    return undefined;
  }
}

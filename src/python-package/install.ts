/**
 * Installs a laid-out Python package (see layout.ts) for one Python, the way a wheel installer would, but with nothing
 * to build and nothing to download: no pip, no setuptools, so any virtualenv works (Python 3.12+ venvs have no
 * setuptools).
 *
 * - `completePackageTree`: a stack's own `python/` directory, used through PYTHONPATH by the launcher of a plain prefix.
 * - `installIntoVirtualenv`: the virtualenv's site-packages, with a `.dist-info` (RECORD, INSTALLER "wsgi-toolchain",
 *   entry points) so `pip show` / `pip uninstall` know it, and the console script in `<venv>/bin`. Files that another
 *   installer put there are never replaced without `force`. The swap is two renames per top-level entry and is undone
 *   on failure.
 *
 * The extension module is a symlink to the Apache module, through the prefix's stable link (venv) or inside the stack
 * (plain prefix), so the package always loads the module of the stack it belongs to.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { BuildStepError, UsageError } from '../errors.js';
import { pythonProgram } from '../util/package-root.js';
import { pathExists } from '../util/fs.js';
import { insideRealPath } from '../util/path-trust.js';
import { run } from '../util/run.js';
import { type ApxsSource, renderApxsConfig } from './apxs-config.js';

export type { ApxsSource };
import { type PackageRecord, packageRecordName } from './layout.js';
import type { PythonInfo } from '../python/types.js';
import { entryPointOf, extensionPath, moduleOfPath, type ResolvedPythonPackage } from './spec.js';

/** What the install needs to know about the target interpreter. */
export interface PackagePython {
  executable: string;
  /** "3.11" */
  majorMinor: string;
  /** sysconfig EXT_SUFFIX, ".cpython-311-x86_64-linux-gnu.so" */
  extSuffix: string;
  /** purelib */
  sitePackages: string;
  /** sys.prefix (the virtualenv) */
  prefix: string;
}

/** The install's view of a detected interpreter. */
export function packagePython(info: PythonInfo): PackagePython {
  return {
    executable: info.executable,
    majorMinor: info.majorMinor ?? info.version.split('.').slice(0, 2).join('.'),
    extSuffix: info.extSuffix ?? `.${info.abi}.so`,
    sitePackages: info.sitePackages,
    prefix: info.prefix,
  };
}

export const installerName = 'wsgi-toolchain';
const scriptMarker = '# installed by wsgi-toolchain';

/** Environment for every Python we run: nothing from the caller may point the interpreter or pip elsewhere. */
export function pythonEnv(base: NodeJS.ProcessEnv, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(base)) {
    if (key.startsWith('PYTHON') || key.startsWith('PIP_') || key === 'VIRTUAL_ENV' || key === 'APXS' || key === '__PYVENV_LAUNCHER__') continue;
    env[key] = value;
  }
  return { ...env, PIP_DISABLE_PIP_VERSION_CHECK: '1', PIP_NO_INPUT: '1', ...extra };
}

/** The envvars script the launcher hands to mod_wsgi-express, so a later bare `apachectl start` finds the package. */
export const envvarsName = 'wsgi-toolchain-envvars';

/**
 * Completes a stack's package tree in place: the apxs config module, the extension (a relative symlink to the stack's
 * Apache module) and the envvars script. `packagePath` is the directory the launcher puts on PYTHONPATH (through the
 * stable link), which the envvars script exports.
 */
export async function completePackageTree(
  treeDir: string,
  record: PackageRecord,
  opts: { python: PackagePython; source: ApxsSource; stackRoot: string; packagePath: string },
): Promise<string> {
  const pkg = record.package;
  const config = await renderApxsConfig(record, opts.source);
  await writeFile(join(treeDir, pkg.layout.apxsConfig), config, { mode: 0o644 });
  const extension = join(treeDir, extensionPath(pkg, opts.python));
  await rm(extension, { force: true });
  await symlink(relative(dirname(extension), join(opts.stackRoot, pkg.extension.from)), extension);
  // Metadata too, so importlib.metadata (console scripts, `pip show` with this directory on PYTHONPATH) knows it.
  const distInfo = join(treeDir, distInfoName(pkg));
  await mkdir(distInfo, { recursive: true });
  for (const [name, text] of Object.entries(distInfoFiles(pkg))) await writeFile(join(distInfo, name), text, { mode: 0o644 });
  const quoted = `'${opts.packagePath.replaceAll("'", `'\\''`)}'`;
  await writeFile(
    join(treeDir, envvarsName),
    `# Sourced by apachectl (mod_wsgi-express --envvars-script): the ${pkg.distribution} package of this stack.\nPYTHONPATH=${quoted}\${PYTHONPATH:+:$PYTHONPATH}\nexport PYTHONPATH\n`,
    { mode: 0o644 },
  );
  return config;
}

/** urlsafe-base64 sha256, as wheel RECORD files write it. */
function recordHash(bytes: Buffer): string {
  return `sha256=${createHash('sha256').update(bytes).digest('base64url')}`;
}

function distInfoName(pkg: ResolvedPythonPackage): string {
  return `${pkg.distribution.replace(/[^A-Za-z0-9.]+/g, '_')}-${pkg.version}.dist-info`;
}

function metadataText(pkg: ResolvedPythonPackage): string {
  return [
    'Metadata-Version: 2.1',
    `Name: ${pkg.distribution}`,
    `Version: ${pkg.version}`,
    `Summary: ${pkg.summary}`,
    `License: ${pkg.license}`,
    '',
    `Installed by wsgi-toolchain from the sha256-verified ${pkg.distribution} ${pkg.version} source, with no build step.`,
    '',
  ].join('\n');
}

function entryPointsText(pkg: ResolvedPythonPackage): string {
  const scripts = Object.entries(pkg.layout.consoleScripts).map(([name, target]) => `${name} = ${target}`);
  return `[console_scripts]\n${scripts.join('\n')}\n\n`;
}

/** The .dist-info files other than RECORD. */
function distInfoFiles(pkg: ResolvedPythonPackage): Record<string, string> {
  return {
    METADATA: metadataText(pkg),
    INSTALLER: `${installerName}\n`,
    'entry_points.txt': entryPointsText(pkg),
    'top_level.txt': `${topLevel(pkg).join('\n')}\n`,
  };
}

export function consoleScriptText(python: string, module: string, func: string): string {
  return [
    `#!${python}`,
    scriptMarker,
    'import re',
    'import sys',
    `from ${module} import ${func}`,
    "if __name__ == '__main__':",
    "    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])",
    `    sys.exit(${func}())`,
    '',
  ].join('\n');
}

/** An installed distribution of this name in site-packages: its .dist-info/.egg-info and who installed it. */
async function installedDistributions(sitePackages: string, distribution: string): Promise<{ path: string; ours: boolean }[]> {
  const norm = (s: string) => s.toLowerCase().replace(/[-_.]+/g, '_');
  const found: { path: string; ours: boolean }[] = [];
  for (const entry of await readdir(sitePackages).catch(() => [] as string[])) {
    const m = /^(.+?)-[^-]+\.(dist-info|egg-info)$/.exec(entry) ?? /^(.+?)\.egg-info$/.exec(entry);
    if (!m || norm(m[1]!) !== norm(distribution)) continue;
    const installer = (await readFile(join(sitePackages, entry, 'INSTALLER'), 'utf8').catch(() => '')).trim();
    found.push({ path: join(sitePackages, entry), ours: installer === installerName });
  }
  return found;
}

async function isOurScript(path: string): Promise<boolean> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text.split('\n', 3)[1] === scriptMarker;
}

export interface VirtualenvInstall {
  /** Every file written, relative to site-packages (what RECORD lists). */
  files: string[];
  scripts: string[];
  distInfo: string;
  /** Puts back exactly what was there before (for a failure after the install). */
  undo: () => Promise<void>;
  /** Removes what the install replaced; call once the whole activation succeeded. */
  commit: () => Promise<void>;
}

/** What stands in the way of installing `pkg` into a virtualenv: files another installer owns. */
export async function foreignInstallation(python: PackagePython, pkg: ResolvedPythonPackage): Promise<string | undefined> {
  const dists = await installedDistributions(python.sitePackages, pkg.distribution);
  const foreign = dists.find((d) => !d.ours);
  if (foreign) return foreign.path;
  const tops = topLevel(pkg);
  if (dists.length === 0) for (const top of tops) if (await pathExists(join(python.sitePackages, top))) return join(python.sitePackages, top);
  for (const script of Object.keys(pkg.layout.consoleScripts)) {
    const path = join(python.prefix, 'bin', script);
    if ((await pathExists(path)) && !(await isOurScript(path))) return path;
  }
  return undefined;
}

function topLevel(pkg: ResolvedPythonPackage): string[] {
  return [...new Set(pkg.layout.files.map((f) => f.to.split('/')[0]!))];
}

/**
 * Installs the package tree into a virtualenv's site-packages: the package files, the apxs config, the extension (a
 * symlink to `module`), a .dist-info and the console scripts. A distribution or script another installer owns is
 * refused (UsageError, exit 2) unless `force`.
 */
export async function installIntoVirtualenv(
  treeDir: string,
  record: PackageRecord,
  opts: { python: PackagePython; apxsConfig: string; module: string; force: boolean },
): Promise<VirtualenvInstall> {
  const pkg = record.package;
  const { sitePackages } = opts.python;
  await refuseForeignSitePackages(opts.python);
  const foreign = await foreignInstallation(opts.python, pkg);
  if (foreign && !opts.force) {
    throw new UsageError(
      `${foreign} was not installed by wsgi-toolchain, so the ${pkg.distribution} package is not replaced`,
      `remove it first (${opts.python.executable} -m pip uninstall ${pkg.distribution}), pass --force to replace it, or build with --no-python-package`,
    );
  }
  // What a killed install left (only ever ours, by name; the caller holds the prefix lock).
  for (const entry of await readdir(sitePackages).catch(() => [] as string[]))
    if (/^\.wsgi-toolchain-(stage|old)-/.test(entry)) await rm(join(sitePackages, entry), { recursive: true, force: true });
  const stage = await mkdtemp(join(sitePackages, '.wsgi-toolchain-stage-'));
  const old = join(sitePackages, `.wsgi-toolchain-old-${randomBytes(4).toString('hex')}`);
  const moved: { from: string; to: string }[] = [];
  const placed: string[] = [];
  const files: string[] = [];
  const record_: string[] = [];
  const undo = async () => {
    for (const path of placed.reverse()) await rm(path, { recursive: true, force: true });
    for (const m of moved.reverse()) await rename(m.to, m.from).catch(() => undefined);
    await rm(old, { recursive: true, force: true });
    await rm(stage, { recursive: true, force: true });
  };
  try {
    const add = async (rel: string, bytes: Buffer, mode = 0o644) => {
      await mkdir(dirname(join(stage, rel)), { recursive: true });
      await writeFile(join(stage, rel), bytes, { mode });
      files.push(rel);
      record_.push(`${rel},${recordHash(bytes)},${bytes.length}`);
    };
    for (const rel of record.files) await add(rel, await readFile(join(treeDir, rel)));
    await add(pkg.layout.apxsConfig, Buffer.from(opts.apxsConfig));
    const extension = extensionPath(pkg, opts.python);
    await mkdir(dirname(join(stage, extension)), { recursive: true });
    await symlink(opts.module, join(stage, extension));
    files.push(extension);
    record_.push(`${extension},,`);
    const distInfo = distInfoName(pkg);
    for (const [name, text] of Object.entries(distInfoFiles(pkg))) await add(`${distInfo}/${name}`, Buffer.from(text));
    const scripts: string[] = [];
    for (const name of Object.keys(pkg.layout.consoleScripts)) {
      const { module, func } = entryPointOf(pkg, name);
      const text = Buffer.from(consoleScriptText(join(opts.python.prefix, 'bin', 'python'), module, func));
      const path = join(opts.python.prefix, 'bin', name);
      record_.push(`${relative(sitePackages, path)},${recordHash(text)},${text.length}`);
      await writeFile(join(stage, `${name}.script`), text, { mode: 0o755 });
      scripts.push(path);
    }
    record_.push(`${distInfo}/RECORD,,`);
    await writeFile(join(stage, distInfo, 'RECORD'), `${record_.join('\n')}\n`);
    files.push(`${distInfo}/RECORD`);

    // The swap: what is there (ours, or another installer's with force) moves aside, the staged entries move in.
    await mkdir(old);
    const replaced = [...topLevel(pkg), ...(await installedDistributions(sitePackages, pkg.distribution)).map((d) => relative(sitePackages, d.path))];
    for (const name of new Set([...replaced, distInfo])) {
      if (!(await pathExists(join(sitePackages, name)))) continue;
      const to = join(old, name);
      await rename(join(sitePackages, name), to);
      moved.push({ from: join(sitePackages, name), to });
    }
    for (const name of [...topLevel(pkg), distInfo]) {
      await rename(join(stage, name), join(sitePackages, name));
      placed.push(join(sitePackages, name));
    }
    await mkdir(join(opts.python.prefix, 'bin'), { recursive: true });
    for (const path of scripts) {
      if (await pathExists(path)) {
        const to = join(old, `bin-${relative(join(opts.python.prefix, 'bin'), path)}`);
        await rename(path, to);
        moved.push({ from: path, to });
      }
      await rename(join(stage, `${relative(join(opts.python.prefix, 'bin'), path)}.script`), path);
      await chmod(path, 0o755);
      placed.push(path);
    }
    await rm(stage, { recursive: true, force: true });
    return { files, scripts, distInfo: join(sitePackages, distInfo), undo, commit: () => rm(old, { recursive: true, force: true }) };
  } catch (error) {
    await undo();
    throw error;
  }
}

/** Removes a package this tool installed into a virtualenv (RECORD-listed files only); returns what was removed. */
/** The site-packages of a virtualenv, links resolved, must lie inside it: never another venv's or a directory elsewhere. */
async function refuseForeignSitePackages(python: PackagePython): Promise<void> {
  if (!(await insideRealPath(python.sitePackages, python.prefix)))
    throw new UsageError(
      `${python.sitePackages} leads out of the virtualenv ${python.prefix}`,
      'the package goes only into a virtualenv whose site-packages is its own: recreate the virtualenv',
    );
}

export async function uninstallFromVirtualenv(python: PackagePython, distribution: string): Promise<string[]> {
  await refuseForeignSitePackages(python);
  const removed: string[] = [];
  for (const dist of await installedDistributions(python.sitePackages, distribution)) {
    if (!dist.ours) continue;
    const rows = (await readFile(join(dist.path, 'RECORD'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
    const tops = new Set<string>();
    for (const row of rows) {
      const rel = row.split(',')[0]!;
      const path = join(python.sitePackages, rel);
      // Never outside the virtualenv, whatever RECORD says.
      if (!path.startsWith(`${python.prefix}/`)) continue;
      if (rel.startsWith('..')) {
        // A script: only in the venv's own bin/, a real directory (never a link RECORD was made to lead through).
        if (dirname(path) !== join(python.prefix, 'bin') || !(await lstat(dirname(path)).catch(() => undefined))?.isDirectory()) continue;
        if (await isOurScript(path)) {
          await rm(path, { force: true });
          removed.push(path);
        }
        continue;
      }
      tops.add(rel.split('/')[0]!);
    }
    for (const top of tops) {
      const path = join(python.sitePackages, top);
      if (!(await lstat(path).catch(() => undefined))) continue;
      await rm(path, { recursive: true, force: true });
      removed.push(path);
    }
  }
  return removed;
}

export interface PackageCheck {
  /** The httpd the package's apxs config names. */
  httpd: string;
  /** What `<console script> module-location` prints. */
  moduleLocation: string;
}

/** Imports the installed package as its users will and asks it where its Apache module is. */
export async function checkInstalledPackage(
  pkg: ResolvedPythonPackage,
  python: string,
  opts: { env: NodeJS.ProcessEnv; pythonPath?: string; logFile?: string; signal?: AbortSignal },
): Promise<PackageCheck> {
  const script = Object.keys(pkg.layout.consoleScripts)[0]!;
  const { module, func } = entryPointOf(pkg, script);
  const env = pythonEnv(opts.env, opts.pythonPath ? { PYTHONPATH: opts.pythonPath } : {});
  const result = await run([python, pythonProgram('check-package.py'), moduleOfPath(pkg.layout.apxsConfig), module, func], {
    cwd: '/',
    env,
    signal: opts.signal,
  });
  const line = result.stdout.split('\n').find((l) => l.startsWith('WSGI_TOOLCHAIN_PACKAGE '));
  if (result.code !== 0 || !line) {
    throw new BuildStepError(
      `the installed ${pkg.distribution} package does not work with ${python} (exit ${result.code ?? result.signal})`,
      'read the lines above; rebuild with --force, or build with --no-python-package',
      opts.logFile ?? '',
      result.stderr.trim().split('\n').slice(-20),
    );
  }
  return JSON.parse(line.slice('WSGI_TOOLCHAIN_PACKAGE '.length)) as PackageCheck;
}

export { packageRecordName };

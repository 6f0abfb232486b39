/**
 * The component's Python package (mod_wsgi-express, the Django app) as two build steps:
 *  - prepare (before verify): lay the package out from the verified, patched source into `<stack>/python` and complete
 *    it there (apxs config, extension, envvars); for a plain prefix this is what the launcher runs, and it is checked;
 *  - activate (with the switch): install it into the virtualenv prefix, or write the `<prefix>/bin` launcher. Both
 *    are undone when the switch fails, and neither replaces files another installer owns without --force.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { UsageError } from '../errors.js';
import { acquireArtifact } from '../fetch/acquire.js';
import { layOutDropIn } from '../install/dropin.js';
import type { Plan, PlannedComponent } from '../plan/plan.js';
import { readPythonInfo } from '../python/detect.js';
import type { PythonInfo } from '../python/types.js';
import { checkInstalledPackage, completePackageTree, installIntoVirtualenv, packagePython, type PackageCheck } from '../python-package/install.js';
import { launcherScript, parseLauncher } from '../python-package/launcher.js';
import { layOutPythonPackage, type PackageRecord } from '../python-package/layout.js';
import { entryPointOf } from '../python-package/spec.js';
import { unpackArchive } from '../unpack/unpack.js';
import type { BuildOptions } from './options.js';
import { runBuildCommand, type StepContext } from './step-runner.js';

/** The mod_wsgi Python package goes into the venv itself when the prefix is that Python's virtualenv. */
export function pythonPackageTarget(plan: Plan): 'venv' | 'dir' {
  const { prefix } = plan.layout;
  return existsSync(join(prefix, 'pyvenv.cfg')) && plan.lock.python.executable.startsWith(`${prefix}/`) ? 'venv' : 'dir';
}

/** The component that ships a Python package (the recipe's `pythonPackage`). */
export function packageComponent(plan: Plan): PlannedComponent | undefined {
  return plan.components.find((c) => c.locked.pythonPackage);
}

/**
 * The patched source the package is laid out from: the tree this build compiled, or, when the Apache side came from
 * the build cache, the same verified tarball unpacked and patched again.
 */
async function packageSource(
  component: PlannedComponent,
  plan: Plan,
  options: BuildOptions,
  sourceIndex: Map<string, string> | undefined,
  context: StepContext,
): Promise<string> {
  if (existsSync(join(component.sourceDir, 'setup.py'))) return component.sourceDir;
  const archive = await acquireArtifact({
    component: component.name,
    version: component.version,
    artifacts: component.locked.artifacts,
    mirrorPath: component.locked.mirrorPath,
    mirrors: options.mirrors,
    sourceIndex,
    offline: options.offline,
    cacheDir: plan.cacheDir,
    signal: context.signal,
    download: { env: options.env },
  });
  const dir = join(scratchDir(plan), `${component.name}-${component.version}`);
  await rm(scratchDir(plan), { recursive: true, force: true });
  await mkdir(scratchDir(plan), { recursive: true });
  await unpackArchive(archive.path, dir);
  for (const step of component.steps.filter((s) => s.kind === 'patch'))
    await runBuildCommand(`${component.name} ${component.version}: ${step.title}`, step.argv!, dir, {}, context);
  return dir;
}

const scratchDir = (plan: Plan) => `${plan.buildDir}-python`;

export interface PreparedPackage {
  record: PackageRecord;
  treeDir: string;
  python: PythonInfo;
  check?: PackageCheck;
}

/** Lays the package out into the new stack and completes it there; for a plain prefix, checks it as installed. */
export async function preparePythonPackage(
  plan: Plan,
  options: BuildOptions,
  sourceIndex: Map<string, string> | undefined,
  context: StepContext,
): Promise<PreparedPackage> {
  const component = packageComponent(plan)!;
  const pkg = component.locked.pythonPackage!;
  const python = await readPythonInfo(plan.lock.python.executable, '--python');
  const treeDir = join(plan.layout.root, 'python');
  const source = await packageSource(component, plan, options, sourceIndex, context);
  try {
    await rm(treeDir, { recursive: true, force: true });
    const record = await layOutPythonPackage(source, pkg, treeDir);
    const packagePath = join(plan.layout.link, 'python');
    await completePackageTree(treeDir, record, {
      python: packagePython(python),
      source: { apxs: join(plan.layout.root, 'bin', 'apxs'), stable: { from: plan.layout.root, to: plan.layout.link }, env: options.env },
      stackRoot: plan.layout.root,
      packagePath,
    });
    context.log.write(
      `python-package: ${record.files.length} files of ${pkg.distribution} ${pkg.version} laid out in ${treeDir} (layout ${pkg.layout.versions})\n`,
    );
    const prepared: PreparedPackage = { record, treeDir, python };
    if (pythonPackageTarget(plan) === 'dir') {
      prepared.check = await checkInstalledPackage(pkg, python.executable, {
        env: options.env,
        pythonPath: treeDir,
        logFile: context.logFile,
        signal: context.signal,
      });
      context.log.write(`python-package: module-location ${prepared.check.moduleLocation}, httpd ${prepared.check.httpd}\n`);
    }
    return prepared;
  } finally {
    await rm(scratchDir(plan), { recursive: true, force: true });
  }
}

export interface ActivatedPackage {
  expressPath: string;
  undo: () => Promise<void>;
  commit: () => Promise<void>;
}

async function writeLauncher(path: string, text: string, force: boolean): Promise<{ undo: () => Promise<void>; commit: () => Promise<void> }> {
  const previous = await readFile(path, 'utf8').catch(() => undefined);
  if (previous !== undefined && !parseLauncher(previous) && !force) {
    throw new UsageError(
      `${path} exists and was not written by wsgi-toolchain`,
      'move it away, or pass --force to replace it (or build with --no-python-package)',
    );
  }
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.wsgi-toolchain-${randomBytes(4).toString('hex')}`;
  await writeFile(tmp, text, { mode: 0o755, flag: 'wx' });
  const saved = previous !== undefined ? `${path}.wsgi-toolchain-old-${randomBytes(4).toString('hex')}` : undefined;
  if (saved) await rename(path, saved);
  await rename(tmp, path);
  return {
    undo: async () => {
      if (saved) await rename(saved, path);
      else await rm(path, { force: true });
    },
    commit: async () => {
      if (saved) await rm(saved, { force: true });
    },
  };
}

/** At activation: the package into the virtualenv, or the launcher into `<prefix>/bin`. */
export async function activatePythonPackage(
  plan: Plan,
  prepared: PreparedPackage,
  options: BuildOptions,
  context: StepContext,
): Promise<ActivatedPackage> {
  const pkg = prepared.record.package;
  if (pythonPackageTarget(plan) === 'venv') {
    const installed = await installIntoVirtualenv(prepared.treeDir, prepared.record, {
      python: packagePython(prepared.python),
      source: { apxs: join(plan.layout.root, 'bin', 'apxs'), stable: { from: plan.layout.root, to: plan.layout.link }, env: options.env },
      module: join(plan.layout.link, pkg.extension.from),
      force: options.force,
    });
    context.log.write(`python-package: installed into ${prepared.python.sitePackages} (${installed.files.length} files, ${installed.distInfo})\n`);
    return { expressPath: installed.scripts[0] ?? '', undo: installed.undo, commit: installed.commit };
  }
  const expressPath = join(plan.layout.prefix, 'bin', 'mod_wsgi-express');
  const entry = entryPointOf(pkg, 'mod_wsgi-express');
  const written = await writeLauncher(
    expressPath,
    launcherScript(prepared.python.executable, join(plan.layout.link, 'python'), entry),
    options.force,
  );
  return { expressPath, ...written };
}

/**
 * In a venv prefix, what `pip install mod_wsgi-httpd` would have left (bin/mod_wsgi-apxs, mod_wsgi_packages.httpd),
 * so a later plain `pip install mod_wsgi` there builds against our httpd. A real mod_wsgi-httpd already there wins:
 * that is reported, not overwritten.
 */
export async function layOutVenvDropIn(plan: Plan): Promise<string> {
  if (pythonPackageTarget(plan) !== 'venv') return 'not a virtualenv prefix';
  let python: PythonInfo;
  try {
    python = await readPythonInfo(plan.lock.python.executable, 'prefix venv');
    await layOutDropIn({ venv: plan.layout.prefix, root: plan.layout.link, python });
    return `mod_wsgi-apxs and mod_wsgi_packages.httpd point at ${plan.layout.link}`;
  } catch (error) {
    if (error instanceof UsageError) return `drop-in skipped: ${error.message}`;
    throw error;
  }
}

/**
 * The Python package stage (mod_wsgi-express, the Django app), in two steps:
 *  - prepare (after verify): complete the package tree the component's layer brought into `<stack>/python` (the apxs
 *    config for this prefix, the extension, the envvars script); for a plain prefix that is what the launcher runs,
 *    and it is checked as installed;
 *  - activate (with the switch): install it into the virtualenv prefix, or write the `<prefix>/bin` launcher. Both are
 *    undone when the switch fails, and neither replaces files another installer owns without --force.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { UsageError } from '../errors.js';
import { layOutDropIn } from '../install/dropin.js';
import type { PythonInfo } from '../python/types.js';
import {
  type ApxsSource,
  checkInstalledPackage,
  completePackageTree,
  installIntoVirtualenv,
  packagePython,
  type PackageCheck,
} from '../python-package/install.js';
import { launcherScript, parseLauncher } from '../python-package/launcher.js';
import { type PackageRecord, readPackageRecord } from '../python-package/layout.js';
import { entryPointOf } from '../python-package/spec.js';
import type { BuildContext } from './context.js';
import type { Plan, PlannedComponent } from './plan.js';

/** The package goes into the venv itself when the prefix is that Python's virtualenv. */
export function pythonPackageTarget(plan: Plan): 'venv' | 'dir' {
  const { prefix } = plan.layout;
  return existsSync(join(prefix, 'pyvenv.cfg')) && plan.lock.python.executable.startsWith(`${prefix}/`) ? 'venv' : 'dir';
}

/** The component that ships a Python package (the recipe's `pythonPackage`). */
export function packageComponent(plan: Plan): PlannedComponent | undefined {
  return plan.components.find((c) => c.locked.pythonPackage);
}

/** Where apxs_config's values come from: our stack's apxs (through the stable link), or the system's. */
function apxsSource(ctx: BuildContext): ApxsSource {
  const { plan, options } = ctx;
  const system = plan.lock.systemApache;
  if (system) return { apxs: system.apxs, env: options.env };
  return { apxs: join(plan.layout.root, 'bin', 'apxs'), stable: { from: plan.layout.root, to: plan.layout.link }, env: options.env };
}

export interface PreparedPackage {
  record: PackageRecord;
  treeDir: string;
  python: PythonInfo;
  /** The rendered apxs config module (the venv install writes the same text). */
  apxsConfig: string;
  check?: PackageCheck;
}

export async function preparePythonPackage(ctx: BuildContext): Promise<PreparedPackage> {
  const { plan, options, log } = ctx;
  const { python } = ctx;
  const treeDir = plan.layout.packageDir;
  const record = await readPackageRecord(treeDir);
  const apxsConfig = await completePackageTree(treeDir, record, {
    python: packagePython(python),
    source: apxsSource(ctx),
    stackRoot: plan.layout.root,
    packagePath: join(plan.layout.link, 'python'),
  });
  const pkg = record.package;
  log.write(
    `python-package: ${record.files.length} files of ${pkg.distribution} ${pkg.version} completed in ${treeDir} (layout ${pkg.layout.versions})\n`,
  );
  const prepared: PreparedPackage = { record, treeDir, python, apxsConfig };
  if (pythonPackageTarget(plan) === 'dir') {
    prepared.check = await checkInstalledPackage(pkg, python.executable, {
      env: options.env,
      pythonPath: treeDir,
      logFile: ctx.logFile,
      signal: ctx.signal,
    });
    log.write(`python-package: module-location ${prepared.check.moduleLocation}, httpd ${prepared.check.httpd}\n`);
  }
  return prepared;
}

export interface ActivatedPackage {
  expressPath: string;
  undo: () => Promise<void>;
  commit: () => Promise<void>;
}

/** Writes the launcher by temp file and rename; a file there that is not ours is replaced only with --force. */
async function writeLauncher(path: string, text: string, force: boolean): Promise<Omit<ActivatedPackage, 'expressPath'>> {
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

export async function activatePythonPackage(ctx: BuildContext, prepared: PreparedPackage): Promise<ActivatedPackage> {
  const { plan, options, log } = ctx;
  const pkg = prepared.record.package;
  if (pythonPackageTarget(plan) === 'venv') {
    const installed = await installIntoVirtualenv(prepared.treeDir, prepared.record, {
      python: packagePython(prepared.python),
      apxsConfig: prepared.apxsConfig,
      module: join(plan.layout.link, pkg.extension.from),
      force: options.force,
    });
    log.write(`python-package: installed into ${prepared.python.sitePackages} (${installed.files.length} files, ${installed.distInfo})\n`);
    return { expressPath: installed.scripts[0] ?? '', undo: installed.undo, commit: installed.commit };
  }
  const entry = entryPointOf(pkg, Object.keys(pkg.layout.consoleScripts)[0]!);
  const written = await writeLauncher(
    plan.layout.launcher,
    launcherScript(prepared.python.executable, join(plan.layout.link, 'python'), entry),
    options.force,
  );
  return { expressPath: plan.layout.launcher, ...written };
}

/**
 * In a venv prefix, what `pip install mod_wsgi-httpd` would have left (bin/mod_wsgi-apxs, mod_wsgi_packages.httpd),
 * so a later plain `pip install mod_wsgi` there builds against our httpd. A real mod_wsgi-httpd already there wins:
 * that is reported, not overwritten.
 */
export async function layOutVenvDropIn(plan: Plan, python: PythonInfo): Promise<string> {
  if (pythonPackageTarget(plan) !== 'venv' || plan.lock.systemApache) return 'not a virtualenv prefix of our own httpd';
  try {
    await layOutDropIn({ venv: plan.layout.prefix, root: plan.layout.link, python });
    return `mod_wsgi-apxs and mod_wsgi_packages.httpd point at ${plan.layout.link}`;
  } catch (error) {
    if (error instanceof UsageError) return `drop-in skipped: ${error.message}`;
    throw error;
  }
}

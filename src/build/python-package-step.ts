import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { acquireArtifact } from '../fetch/acquire.js';
import { layOutDropIn } from '../install/dropin.js';
import { installPythonPackage, type InstallPythonPackageResult } from '../install/python-package.js';
import type { Plan } from '../plan/plan.js';
import type { PythonInfo } from '../python/types.js';
import { readPythonInfo } from '../python/detect.js';
import { unpackArchive } from '../unpack/unpack.js';
import { UsageError } from '../errors.js';
import type { BuildOptions } from './options.js';
import { runBuildCommand, type StepContext } from './step-runner.js';

/** The mod_wsgi Python package goes into the venv itself when the prefix is that Python's virtualenv. */
export function pythonPackageTarget(plan: Plan): 'venv' | { dir: string } {
  const { prefix, root } = plan.layout;
  const inVenv = existsSync(join(prefix, 'pyvenv.cfg')) && plan.lock.python.executable.startsWith(`${prefix}/`);
  // Elsewhere: inside the stack, so it is switched and removed together with the Apache it belongs to.
  return inVenv ? 'venv' : { dir: join(root, 'python') };
}

/**
 * The patched mod_wsgi source the package is installed from: the tree this build compiled, or, when the Apache side
 * came from the build cache, the same verified tarball unpacked and patched again.
 */
async function modWsgiSource(plan: Plan, options: BuildOptions, sourceIndex: Map<string, string> | undefined, context: StepContext): Promise<string> {
  const component = plan.components.find((c) => c.name === 'mod_wsgi')!;
  if (existsSync(join(component.sourceDir, 'setup.py'))) return component.sourceDir;
  const archive = await acquireArtifact({
    component: 'mod_wsgi',
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
  const dir = join(scratchDir(plan), `mod_wsgi-${component.version}`);
  await rm(scratchDir(plan), { recursive: true, force: true });
  await mkdir(scratchDir(plan), { recursive: true });
  await unpackArchive(archive.path, dir);
  for (const step of component.steps.filter((s) => s.kind === 'patch'))
    await runBuildCommand(`mod_wsgi ${component.version}: ${step.title}`, step.argv!, dir, {}, context);
  return dir;
}

const scratchDir = (plan: Plan) => `${plan.buildDir}-python`;

export async function installModWsgiPackage(
  plan: Plan,
  options: BuildOptions,
  sourceIndex: Map<string, string> | undefined,
  context: StepContext,
): Promise<InstallPythonPackageResult> {
  const sourceDir = await modWsgiSource(plan, options, sourceIndex, context);
  try {
    return await installPythonPackage({
      sourceDir,
      python: plan.lock.python.executable,
      apxs: join(plan.layout.root, 'bin', 'apxs'),
      target: pythonPackageTarget(plan),
      prefix: plan.layout.prefix,
      stableRoot: { from: plan.layout.root, to: plan.layout.link },
      reuseModule: join(plan.layout.root, 'modules', 'mod_wsgi.so'),
      log: (line) => context.log.write(`python-package: ${line}\n`),
      logFile: context.logFile,
      signal: context.signal,
      env: options.env,
    });
  } finally {
    await rm(scratchDir(plan), { recursive: true, force: true });
  }
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

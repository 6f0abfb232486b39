import { readFile } from 'node:fs/promises';
import { satisfiesRange } from '../recipe/version.js';
import { UsageError } from '../errors.js';
import type { ConditionalArgs, ComponentName, PatchSpec } from '../recipe/types.js';
import { type ResolvedPythonPackage, resolvePythonPackage } from '../python-package/spec.js';
import type { ResolvedArtifact, ResolvedComponent } from './resolve.js';

import { lockFileName } from '../install/layout.js';

export { lockFileName };
export const lockfileVersion = 1;

/**
 * The features a build decided (pipeline/lock-stage.ts decideFeatures: ssl, zlib, expat): they turn conditional
 * configure arguments on or off and bring optional components into the build. Recipes name them; this code does not.
 */
export type Features = Record<string, boolean>;

export interface LockedPatch {
  file: string;
  sha256: string;
  strip: number;
  description: string;
  /** Directory the patch file is read from (built-in patches/<component>/ or an overlay's). */
  dir: string;
}

/** Everything needed to build one component, with conditions already decided; placeholders stay ({prefix}...). */
export interface LockedComponent {
  name: ComponentName;
  version: string;
  dependencies: ComponentName[];
  mirrorPath: string;
  artifacts: ResolvedArtifact[];
  patches: LockedPatch[];
  configure: string;
  configureArgs: string[];
  env: Record<string, string>;
  parallelMake: boolean;
  makeTargets: string[];
  installTargets: string[];
  provides: string[];
  /** Documentation left out of the stack unless --with-manual. */
  docs?: string[];
  /** The component's Python package (mod_wsgi-express, the Django app), laid out by the tool: see recipes/README.md. */
  pythonPackage?: ResolvedPythonPackage;
}

export interface LockedPython {
  executable: string;
  version: string;
  abi: string;
}

export interface Lock {
  lockfileVersion: number;
  generatedBy: string;
  platform: string;
  compiler: { cc: string; version: string };
  python: LockedPython;
  features: Features;
  httpdMode: 'source' | 'system';
  /** --httpd system: the existing Apache mod_wsgi is built against (its apxs and version). */
  systemApache?: { apxs: string; httpd: string; version: string };
  components: LockedComponent[];
}

export function conditionHolds(condition: string, features: Features, componentsInBuild: readonly string[]): boolean {
  const negated = condition.startsWith('!');
  const name = negated ? condition.slice(1) : condition;
  let value: boolean;
  if (name.startsWith('dep:')) value = componentsInBuild.includes(name.slice(4));
  else if (Object.hasOwn(features, name)) value = features[name] === true;
  else
    throw new UsageError(
      `unknown recipe condition "${condition}"`,
      `conditions are ${[...Object.keys(features), 'dep:NAME'].join(', ')}, each optionally prefixed with !`,
    );
  return negated ? !value : value;
}

export function evaluateArgs(args: ConditionalArgs[], features: Features, componentsInBuild: readonly string[]): string[] {
  return args.flatMap((arg) => (typeof arg === 'string' ? [arg] : conditionHolds(arg.if, features, componentsInBuild) ? arg.args : []));
}

export function patchesFor(patches: PatchSpec[], version: string, dir: string): LockedPatch[] {
  return patches
    .filter((p) => satisfiesRange(version, p.versions))
    .map((p) => ({ file: p.file, sha256: p.sha256, strip: p.strip, description: p.description, dir }));
}

export function lockComponents(resolved: ResolvedComponent[], features: Features): LockedComponent[] {
  const names = resolved.map((c) => c.name);
  return resolved.map((c) => ({
    name: c.name,
    version: c.version,
    dependencies: c.dependencies,
    mirrorPath: c.recipe.mirrorPath,
    artifacts: c.artifacts,
    patches: patchesFor(c.recipe.patches, c.version, c.recipe.patchesDir),
    configure: c.recipe.build.configure,
    configureArgs: evaluateArgs(c.recipe.build.configureArgs, features, names),
    env: c.recipe.build.env ?? {},
    parallelMake: c.recipe.build.parallelMake,
    makeTargets: c.recipe.build.makeTargets,
    installTargets: c.recipe.build.installTargets,
    provides: c.recipe.build.provides,
    ...(c.recipe.docs ? { docs: c.recipe.docs } : {}),
    ...(c.recipe.pythonPackage ? { pythonPackage: resolvePythonPackage(c.recipe.pythonPackage, c.name, c.version) } : {}),
  }));
}

/** A lock as written to disk: patch dirs are machine-specific, so they are not stored. */
export function serializeLock(lock: Lock): string {
  const components = lock.components.map((c) => ({ ...c, patches: c.patches.map(({ dir: _dir, ...p }) => p) }));
  return `${JSON.stringify({ ...lock, components }, null, 2)}\n`;
}

export async function readLock(file: string, patchesDirFor: (component: string) => string): Promise<Lock> {
  let value: unknown;
  try {
    value = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new UsageError(
      `cannot read lock file ${file}: ${(error as Error).message}`,
      `pass --lock a ${lockFileName} written by 'wsgi-toolchain build' or 'wsgi-toolchain lock'`,
    );
  }
  const lock = value as Lock;
  const bad = (what: string) =>
    new UsageError(`lock file ${file} is not valid: ${what}`, `regenerate it with 'wsgi-toolchain lock --output ${file}'`);
  if (typeof lock !== 'object' || lock === null) throw bad('not a JSON object');
  if (lock.lockfileVersion !== lockfileVersion) throw bad(`lockfileVersion ${String(lock.lockfileVersion)} (this tool reads ${lockfileVersion})`);
  if (!Array.isArray(lock.components) || lock.components.length === 0) throw bad('no components');
  if (typeof lock.python?.executable !== 'string' || typeof lock.python?.version !== 'string') throw bad('no python');
  for (const c of lock.components) {
    if (typeof c.name !== 'string' || typeof c.version !== 'string') throw bad('a component without name or version');
    if (!Array.isArray(c.artifacts) || c.artifacts.length === 0 || !c.artifacts.every((a) => /^[0-9a-f]{64}$/.test(a.sha256)))
      throw bad(`${c.name} has no artifact with a sha256`);
    for (const a of c.artifacts)
      if (typeof a.file !== 'string' || a.file === '' || a.file === '.' || a.file === '..' || /[/\\\0]/.test(a.file))
        throw bad(`${c.name} names the file ${JSON.stringify(a.file)}, which is not a plain file name`);
    if (!Array.isArray(c.configureArgs) || !c.configureArgs.every((a) => typeof a === 'string')) throw bad(`${c.name} configureArgs`);
    c.patches = (c.patches ?? []).map((p) => ({ ...p, dir: patchesDirFor(c.name) }));
    c.env ??= {};
  }
  lock.httpdMode ??= 'source';
  return lock;
}

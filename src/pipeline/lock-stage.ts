/**
 * The lock stage: the exact set to build, from the recipes (resolving versions), from a lock file, or from an archive.
 * A lock file is untrusted input: every component must be what the recipes give for its version and the lock's
 * features (file names, sha256, configure arguments, patches), else the build refuses and names the difference.
 */
import { join, resolve as resolvePath } from 'node:path';
import type { ToolFacts } from '../doctor/doctor.js';
import { PrerequisiteError, ToolchainError, UsageError } from '../errors.js';
import type { PythonInfo } from '../python/types.js';
import { which } from '../python/which.js';
import { builtinPatchesDir, loadRecipes, type RecipeSet } from '../recipe/load.js';
import { type Features, type Lock, type LockedComponent, lockComponents, readLock } from '../resolve/lock.js';
import { resolve } from '../resolve/resolve.js';
import type { ImportedArchive } from '../store/archive.js';
import { layoutFromApxs } from '../verify/apache-layout.js';
import { toolVersion } from '../version.js';
import type { BuildOptions } from './options.js';

/**
 * The build's features, from the options and the machine's headers: the only place they are named. Recipes refer to
 * them in configure conditions ("ssl", "!zlib") and in an optional component's "feature" (expat).
 */
export function decideFeatures(options: Pick<BuildOptions, 'ssl' | 'expat'>, facts: ToolFacts): Features {
  if (options.ssl === 'yes' && facts.headersChecked && !facts.hasOpensslHeaders) {
    throw new PrerequisiteError(
      '--with-ssl was asked for, but OpenSSL headers (openssl/ssl.h) are not installed',
      'install libssl-dev (Debian/Ubuntu), openssl-devel (RHEL/Fedora) or `brew install openssl@3`, or drop --with-ssl',
    );
  }
  if (options.expat === 'system' && facts.headersChecked && !facts.hasExpatHeaders) {
    throw new PrerequisiteError(
      '--without-expat was asked for, but expat headers (expat.h) are not installed',
      'install libexpat1-dev (Debian/Ubuntu) or expat-devel (RHEL/Fedora), or let the tool build expat (--with-expat)',
    );
  }
  return {
    ssl: options.ssl === 'yes' || (options.ssl === 'auto' && facts.hasOpensslHeaders),
    zlib: facts.hasZlibHeaders,
    expat: options.expat === 'build' || (options.expat === 'auto' && !facts.hasExpatHeaders),
  };
}

/** --httpd system: the Apache that apxs describes (Debian: apache2-dev's /usr/bin/apxs and /usr/sbin/apache2). */
async function findSystemApache(options: BuildOptions): Promise<{ apxs: string; httpd: string; version: string }> {
  const apxs = options.apxs ?? (await which('apxs', options.env)) ?? (await which('apxs2', options.env));
  if (!apxs) {
    throw new PrerequisiteError(
      "--httpd system needs the system Apache's apxs, and none is on PATH",
      'install apache2-dev (Debian/Ubuntu) or httpd-devel (RHEL/Fedora), or pass --apxs PATH',
    );
  }
  const layout = await layoutFromApxs(resolvePath(apxs)).catch((error: Error) => {
    throw new PrerequisiteError(
      `--apxs ${apxs} does not describe a usable Apache: ${error.message}`,
      'install apache2-dev (Debian/Ubuntu) or httpd-devel (RHEL/Fedora), or pass --apxs PATH of a working apxs',
    );
  });
  return { apxs: resolvePath(apxs), httpd: layout.httpd, version: layout.version ?? 'unknown' };
}

function baseLock(python: PythonInfo, facts: ToolFacts): Pick<Lock, 'lockfileVersion' | 'generatedBy' | 'platform' | 'compiler' | 'python'> {
  return {
    lockfileVersion: 1,
    generatedBy: `wsgi-httpd ${toolVersion}`,
    platform: facts.platform,
    compiler: { cc: facts.cc ?? 'cc', version: facts.ccVersion ?? 'unknown' },
    python: { executable: python.executable, version: python.version, abi: python.abi },
  };
}

async function lockFromRecipes(options: BuildOptions, recipes: RecipeSet, python: PythonInfo, facts: ToolFacts): Promise<Lock> {
  const features = decideFeatures(options, facts);
  const httpdMode = options.httpd ?? 'source';
  const systemApache = httpdMode === 'system' ? await findSystemApache(options) : undefined;
  const resolved = resolve({
    recipes,
    requests: options.versions,
    pythonVersion: python.version,
    features,
    httpdMode,
    tested: options.tested,
  });
  return {
    ...baseLock(python, facts),
    features,
    httpdMode,
    ...(systemApache ? { systemApache } : {}),
    components: lockComponents(resolved, features),
  };
}

/** What the recipes give for exactly the lock's versions and features: the reference a lock file must equal. */
function expectedComponents(lock: Lock, recipes: RecipeSet, python: PythonInfo): LockedComponent[] {
  const requests = Object.fromEntries(lock.components.map((c) => [c.name, c.version]));
  const resolved = resolve({
    recipes,
    requests,
    pythonVersion: python.version,
    features: lock.features,
    httpdMode: lock.httpdMode,
  });
  return lockComponents(resolved, lock.features);
}

/** The first way a locked component differs from the recipes' (undefined when it does not). */
export function lockDifference(locked: LockedComponent, expected: LockedComponent): string | undefined {
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  const artifacts = (c: LockedComponent) => c.artifacts.map((a) => `${a.file} ${a.sha256}`).sort();
  if (!same(artifacts(locked), artifacts(expected)))
    return `its files ${artifacts(locked).join(', ')} are not what the recipes give for ${locked.name} ${locked.version} (${artifacts(expected).join(', ')})`;
  const patches = (c: LockedComponent) => c.patches.map((p) => `${p.file} ${p.sha256}`);
  if (!same(patches(locked), patches(expected)))
    return `its patches ${patches(locked).join(', ') || '(none)'} differ from the recipe's (${patches(expected).join(', ') || 'none'})`;
  for (const field of ['configure', 'configureArgs', 'env', 'makeTargets', 'installTargets', 'dependencies'] as const) {
    if (!same(locked[field], expected[field]))
      return `its ${field} ${JSON.stringify(locked[field])} differ from the recipe's ${JSON.stringify(expected[field])}`;
  }
  return undefined;
}

async function checkedLock(lock: Lock, file: string, recipes: RecipeSet, python: PythonInfo, facts: ToolFacts): Promise<Lock> {
  if (python.version !== lock.python.version || python.abi !== lock.python.abi) {
    throw new UsageError(
      `the lock ${file} was made for Python ${lock.python.version} (${lock.python.abi}) but ${python.executable} is ${python.version} (${python.abi})`,
      `build for the locked Python (--python ${lock.python.executable}), or write a new lock for this one ('wsgi-toolchain lock --python ${python.executable}')`,
    );
  }
  if (facts.headersChecked) {
    if (lock.features.ssl) decideFeatures({ ssl: 'yes', expat: 'auto' }, facts);
    if (!lock.features.expat) decideFeatures({ ssl: 'auto', expat: 'system' }, facts);
  }
  let expected: LockedComponent[];
  try {
    expected = expectedComponents(lock, recipes, python);
  } catch (error) {
    if (!(error instanceof ToolchainError)) throw error;
    throw new UsageError(
      `the lock ${file} names versions the recipes do not define or that do not fit together: ${error.message}`,
      'pass the overlay recipes that define them (--recipes DIR), or write the lock again',
    );
  }
  for (const locked of lock.components) {
    const reference = expected.find((c) => c.name === locked.name);
    const difference = reference ? lockDifference(locked, reference) : `${locked.name} is not part of this build`;
    if (difference) {
      throw new UsageError(
        `the lock ${file} does not match the recipes for ${locked.name} ${locked.version}: ${difference}`,
        `write the lock again ('wsgi-toolchain lock --output ${file}'), or pass the overlay recipes that define it (--recipes DIR)`,
      );
    }
  }
  // The lock pins versions and options; what is built is what the recipes say for them (now proven equal), with the
  // compiler and the Python of this machine.
  return { ...lock, components: expected, python: { ...lock.python, executable: python.executable }, compiler: baseLock(python, facts).compiler };
}

/** The lock to build and the components whose version CI never builds. */
export async function lockFor(
  options: BuildOptions,
  python: PythonInfo,
  facts: ToolFacts,
  archive: ImportedArchive | undefined,
): Promise<{ lock: Lock; untested: string[] }> {
  if (archive) return { lock: { ...archive.lock, python: { ...archive.lock.python, executable: python.executable } }, untested: [] };
  const recipes = await loadRecipes(options.recipesDirs);
  const lock = options.lockFile
    ? await checkedLock(await readLock(options.lockFile, (component) => join(builtinPatchesDir, component)), options.lockFile, recipes, python, facts)
    : await lockFromRecipes(options, recipes, python, facts);
  const untested = lock.components
    .filter((c) => recipes.get(c.name)?.tested && !recipes.get(c.name)!.tested!.includes(c.version))
    .map((c) => `${c.name} ${c.version}`);
  return { lock, untested };
}

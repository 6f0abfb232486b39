import { access } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join, resolve as resolvePath } from 'node:path';
import { runDoctor, type Check, type ToolFacts } from '../doctor/doctor.js';
import { PrerequisiteError, UsageError } from '../errors.js';
import { defaultCacheDir } from '../fetch/cache.js';
import { inspectPrefix, type PrefixState } from '../install/prefix.js';
import { buildKey, makePlan, type Plan } from '../plan/plan.js';
import { detectPython } from '../python/detect.js';
import type { PythonInfo } from '../python/types.js';
import { builtinPatchesDir, loadRecipes } from '../recipe/load.js';
import { lockComponents, readLock, type Features, type Lock } from '../resolve/lock.js';
import { resolve } from '../resolve/resolve.js';
import { toolVersion } from '../version.js';
import type { BuildOptions } from './options.js';

export interface Prepared {
  plan: Plan;
  state: PrefixState;
  python: PythonInfo;
  facts: ToolFacts;
  checks: Check[];
  /** Hard prerequisite failures: the build must not start (dry-run still shows the plan). */
  blockers: Check[];
  upToDate: boolean;
}

function decideFeatures(options: BuildOptions, facts: ToolFacts): Features {
  if (options.ssl === 'yes' && !facts.hasOpensslHeaders) {
    throw new PrerequisiteError(
      '--with-ssl was asked for, but OpenSSL headers (openssl/ssl.h) are not installed',
      'install libssl-dev (Debian/Ubuntu), openssl-devel (RHEL/Fedora) or `brew install openssl@3`, or drop --with-ssl',
    );
  }
  if (options.expat === 'system' && !facts.hasExpatHeaders) {
    throw new PrerequisiteError(
      '--without-expat-build was asked for, but expat headers (expat.h) are not installed',
      'install libexpat1-dev (Debian/Ubuntu) or expat-devel (RHEL/Fedora), or let the tool build expat (--with-expat)',
    );
  }
  return {
    ssl: options.ssl === 'yes' || (options.ssl === 'auto' && facts.hasOpensslHeaders),
    zlib: facts.hasZlibHeaders,
    expat: options.expat === 'build' || (options.expat === 'auto' && !facts.hasExpatHeaders),
  };
}

async function lockFromRecipes(options: BuildOptions, python: PythonInfo, facts: ToolFacts): Promise<Lock> {
  const recipes = await loadRecipes(options.recipesDirs);
  const features = decideFeatures(options, facts);
  const httpdMode = options.httpd ?? 'source';
  const resolved = resolve({ recipes, requests: options.versions, pythonVersion: python.version, buildExpat: features.expat, httpdMode });
  return {
    lockfileVersion: 1,
    generatedBy: `wsgi-httpd ${toolVersion}`,
    platform: facts.platform,
    compiler: { cc: facts.cc ?? 'cc', version: facts.ccVersion ?? 'unknown' },
    python: { executable: python.executable, version: python.version, abi: python.abi },
    features,
    httpdMode,
    components: lockComponents(resolved, features),
  };
}

async function lockFromFile(file: string, options: BuildOptions, python: PythonInfo, facts: ToolFacts): Promise<Lock> {
  const lock = await readLock(file, (component) => join(builtinPatchesDir, component));
  if (python.version !== lock.python.version || python.abi !== lock.python.abi) {
    throw new UsageError(
      `the lock ${file} was made for Python ${lock.python.version} (${lock.python.abi}) but ${python.executable} is ${python.version} (${python.abi})`,
      `build for the locked Python (--python ${lock.python.executable}), or write a new lock for this one ('wsgi-toolchain lock --python ${python.executable}')`,
    );
  }
  if (lock.features.ssl && !facts.hasOpensslHeaders) decideFeatures({ ...options, ssl: 'yes' }, facts);
  if (!lock.features.expat && !facts.hasExpatHeaders) decideFeatures({ ...options, expat: 'system' }, facts);
  // The compiler may differ from the one recorded; the build key includes it, so a cache entry never mixes them.
  return { ...lock, python: { ...lock.python, executable: python.executable }, compiler: { cc: facts.cc ?? 'cc', version: facts.ccVersion ?? 'unknown' } };
}

async function stackIntact(plan: Plan): Promise<boolean> {
  try {
    for (const c of plan.lock.components) for (const file of c.provides) await access(join(plan.layout.root, file));
    return true;
  } catch {
    return false;
  }
}

/** Everything before the first side effect: find Python and the toolchain, resolve versions, make the plan. */
export async function prepareBuild(options: BuildOptions): Promise<Prepared> {
  const prefix = resolvePath(options.prefix);
  const state = await inspectPrefix(prefix);
  const cacheDir = resolvePath(options.cacheDir ?? defaultCacheDir(options.env));
  const buildRoot = resolvePath(options.buildRoot ?? options.env.WSGI_HTTPD_BUILD_DIR ?? join(cacheDir, 'build'));
  const lockPython = options.lockFile && !options.python ? (await readLock(options.lockFile, () => '')).python.executable : undefined;
  const python = await detectPython({ python: options.python ?? lockPython, prefix, env: options.env });
  const doctor = await runDoctor({
    python,
    prefix,
    buildDir: buildRoot,
    needExpat: options.expat === 'build' ? 'build' : 'auto',
    wantSsl: options.ssl,
    env: options.env,
  });
  const { checks, facts } = doctor;
  const lock = options.lockFile
    ? await lockFromFile(options.lockFile, options, python, facts)
    : await lockFromRecipes(options, python, facts);

  let stackId = buildKey(lock).slice(0, 16);
  if (options.force && state.liveStackId === stackId) stackId = `${stackId}-${randomBytes(2).toString('hex')}`;
  const plan = makePlan(
    lock,
    {
      prefix,
      cacheDir,
      buildRoot,
      jobs: options.jobs ?? facts.nproc,
      mirrors: options.mirrors,
      verify: options.verify,
      cc: options.env.CC,
      ccLauncher: options.ccLauncher,
    },
    stackId,
  );
  const upToDate = !options.force && state.liveManifest?.key === plan.key && (await stackIntact(plan));
  return { plan, state, python, facts, checks, blockers: checks.filter((c) => c.status === 'fail'), upToDate };
}

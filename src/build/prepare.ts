import { access } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join, resolve as resolvePath } from 'node:path';
import { runDoctor, type Check, type ToolFacts } from '../doctor/doctor.js';
import { PrerequisiteError, UsageError } from '../errors.js';
import { defaultCacheDir } from '../fetch/cache.js';
import { inspectPrefix, type PrefixState } from '../install/prefix.js';
import { buildKey, makePlan, type Plan } from '../plan/plan.js';
import type { BuildReport } from './execute.js';
import { detectPython } from '../python/detect.js';
import { which } from '../python/which.js';
import { layoutFromApxs } from '../verify/apache-layout.js';
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
  /** Components at versions this project's CI never builds ("httpd 2.4.71"), for a one-line note. */
  untested: string[];
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

async function lockFromRecipes(options: BuildOptions, python: PythonInfo, facts: ToolFacts): Promise<Lock> {
  const recipes = await loadRecipes(options.recipesDirs);
  const features = decideFeatures(options, facts);
  const httpdMode = options.httpd ?? 'source';
  const systemApache = httpdMode === 'system' ? await findSystemApache(options) : undefined;
  const resolved = resolve({
    recipes,
    requests: options.versions,
    pythonVersion: python.version,
    buildExpat: features.expat,
    httpdMode,
    tested: options.tested,
  });
  return {
    lockfileVersion: 1,
    generatedBy: `wsgi-httpd ${toolVersion}`,
    platform: facts.platform,
    compiler: { cc: facts.cc ?? 'cc', version: facts.ccVersion ?? 'unknown' },
    python: { executable: python.executable, version: python.version, abi: python.abi },
    features,
    httpdMode,
    ...(systemApache ? { systemApache } : {}),
    components: lockComponents(resolved, features),
  };
}

async function checkedLock(lock: Lock, file: string, options: BuildOptions, python: PythonInfo, facts: ToolFacts): Promise<Lock> {
  if (python.version !== lock.python.version || python.abi !== lock.python.abi) {
    throw new UsageError(
      `the lock ${file} was made for Python ${lock.python.version} (${lock.python.abi}) but ${python.executable} is ${python.version} (${python.abi})`,
      `build for the locked Python (--python ${lock.python.executable}), or write a new lock for this one ('wsgi-toolchain lock --python ${python.executable}')`,
    );
  }
  if (lock.features.ssl && !facts.hasOpensslHeaders) decideFeatures({ ...options, ssl: 'yes' }, facts);
  if (!lock.features.expat && !facts.hasExpatHeaders) decideFeatures({ ...options, expat: 'system' }, facts);
  // The compiler may differ from the one recorded; the build key includes it, so a cache entry never mixes them.
  return {
    ...lock,
    python: { ...lock.python, executable: python.executable },
    compiler: { cc: facts.cc ?? 'cc', version: facts.ccVersion ?? 'unknown' },
  };
}

/** The Python an archive was built for must be here, at the same path, with the same version and ABI. */
async function archivePython(lock: Lock, options: BuildOptions, prefix: string): Promise<PythonInfo> {
  const wanted = lock.python;
  let python: PythonInfo;
  try {
    python = await detectPython({ python: options.python ?? wanted.executable, prefix, env: options.env });
  } catch (error) {
    throw new UsageError(
      `the archive ${options.fromArchive} was built for Python ${wanted.version} (${wanted.abi}) at ${wanted.executable}, which is not usable here: ${(error as Error).message}`,
      `install Python ${wanted.version} at ${wanted.executable}, or build from source for this machine's Python`,
    );
  }
  if (python.version !== wanted.version || python.abi !== wanted.abi) {
    throw new UsageError(
      `the archive ${options.fromArchive} was built for Python ${wanted.version} (${wanted.abi}) but ${python.executable} is ${python.version} (${python.abi})`,
      `install Python ${wanted.version} at ${wanted.executable}, or build from source for this Python`,
    );
  }
  return python;
}

/** Every file the components promise is in the stack (what makes a live stack with the plan's key up to date). */
export async function stackIntact(plan: Plan, root = plan.layout.root): Promise<boolean> {
  try {
    for (const c of plan.lock.components) for (const file of c.provides) await access(join(root, file));
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
  const archive = options.fromArchive ? await (await import('../cache/archive.js')).readArchiveManifest(options.fromArchive) : undefined;
  const fileLock = options.lockFile ? await readLock(options.lockFile, (component) => join(builtinPatchesDir, component)) : undefined;
  const python = archive
    ? await archivePython(archive.lock, options, prefix)
    : await detectPython({ python: options.python ?? fileLock?.python.executable, prefix, env: options.env });
  const doctor = await runDoctor({
    python,
    prefix,
    buildDir: buildRoot,
    needExpat: options.expat === 'build' ? 'build' : 'auto',
    wantSsl: options.ssl,
    env: options.env,
  });
  const { checks, facts } = doctor;
  // An archive's lock is taken as it is (compiler and Python path included): its build key names the tree inside.
  const lock = archive
    ? archive.lock
    : fileLock
      ? await checkedLock(fileLock, options.lockFile!, options, python, facts)
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
  if (archive && Buffer.byteLength(plan.layout.root) > Buffer.byteLength(archive.placeholder)) {
    const room = Buffer.byteLength(archive.placeholder) - (Buffer.byteLength(plan.layout.root) - Buffer.byteLength(prefix));
    throw new UsageError(
      `${options.fromArchive} was packed from a stack installed at ${archive.placeholder} (${archive.placeholder.length} characters), so it installs only where the stack path is no longer; ${plan.layout.root} is ${plan.layout.root.length}`,
      `choose a --prefix of at most ${room} characters, or pack the build again while its build cache entry exists (that one installs into prefixes up to about 180 characters)`,
    );
  }
  const upToDate = !options.force && state.liveManifest?.key === plan.key && (await stackIntact(plan));
  // An archive needs no compiler, make, perl or Python headers: only a problem with the Python itself stops it.
  const buildOnly = new Set(['cc', 'make', 'perl', 'python-headers', 'build-exec', 'expat', 'openssl', 'zlib']);
  const blockers = checks.filter((c) => c.status === 'fail' && !(archive && buildOnly.has(c.id)));
  const recipes = archive ? undefined : await loadRecipes(options.recipesDirs);
  const untested = recipes
    ? lock.components
        .filter((c) => recipes.get(c.name)?.tested && !recipes.get(c.name)!.tested!.includes(c.version))
        .map((c) => `${c.name} ${c.version}`)
    : [];
  return { plan, state, python, facts, checks, blockers, upToDate, untested };
}

/** The one error a build stops with before downloading anything when a hard prerequisite is missing. */
export function prerequisiteFailure(blockers: Check[]): PrerequisiteError | undefined {
  const first = blockers[0];
  if (!first) return undefined;
  return new PrerequisiteError(
    `${first.title}: ${first.detail}`,
    first.fix
      ? `install it: ${first.fix.debian} (Debian/Ubuntu), ${first.fix.rhel} (RHEL/Fedora), ${first.fix.macos} (macOS)`
      : (first.hint ?? "run 'wsgi-toolchain doctor' for details"),
  );
}

/** What a build reports when the prefix already holds exactly this plan's result (and the base of every report). */
export function upToDateReport(plan: Plan): BuildReport {
  const { layout } = plan;
  return {
    prefix: layout.prefix,
    root: layout.root,
    link: layout.link,
    lockFile: layout.lockFile,
    logFile: join(layout.logsDir, 'build.log'),
    upToDate: true,
    components: [],
    totalSeconds: 0,
    systemApache: plan.lock.systemApache,
  };
}

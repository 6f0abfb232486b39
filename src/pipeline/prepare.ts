/**
 * The prepare stage: everything before the first download or compile. Finds the Python and the toolchain, resolves
 * the versions (or reads a lock or an archive), makes the plan with its layer keys, looks the layers up in the store,
 * and runs the preflight checks, so that whatever can be known to fail fails here, in seconds.
 */
import { randomBytes } from 'node:crypto';
import { access } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import type { Check, ToolFacts } from '../doctor/doctor.js';
import { PrerequisiteError } from '../errors.js';
import { prefixLayout } from '../install/layout.js';
import { inspectPrefix, type PrefixState } from '../install/prefix.js';
import { detectPython } from '../python/detect.js';
import type { PythonInfo } from '../python/types.js';
import type { ImportedArchive } from '../store/archive.js';
import type { Lock } from '../resolve/lock.js';
import { availableParallelism } from 'node:os';
import { type BuildPlatform, buildFlags, configureShell, hostLibc, type PythonIdentity, pythonIdentity } from '../store/keys.js';
import { Store, storeRoot } from '../store/store.js';
import { buildRootFor } from './build-root.js';
import { lockFor } from './lock-stage.js';
import type { BuildOptions } from './options.js';
import { makePlan, type Plan } from './plan.js';
import { lazySourceIndex } from '../fetch/sources.js';
import type { FactsCache } from '../util/remembered.js';

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
  store: Store;
  /** Components whose layer is in the store (nothing to build for them). */
  stored: Set<string>;
  archive?: ImportedArchive;
  /** The --sources index, hashed on first use (only a build with layers to make asks). */
  sourceIndex: () => Promise<Map<string, string> | undefined>;
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

/** `planOnly`: a dry run, `lock` or the plan API, which promise to write nothing (remembered answers are only read). */
export async function prepareBuild(options: BuildOptions, mode: { planOnly?: boolean } = {}): Promise<Prepared> {
  const prefix = resolvePath(options.prefix);
  const state = await inspectPrefix(prefix);
  const cacheDir = await storeRoot(options);
  const store = new Store(cacheDir);
  const buildRoot = buildRootFor(cacheDir, options);
  const factsCache: FactsCache = { dir: join(cacheDir, 'facts'), readOnly: mode.planOnly };
  const detecting = detectPython({ python: options.python, prefix, env: options.env, cache: factsCache });
  const doctorOptions = {
    prefix,
    buildDir: buildRoot,
    factsCache,
    verify: options.verify,
    needExpat: options.expat === 'build' ? ('build' as const) : ('auto' as const),
    wantSsl: options.ssl,
    env: options.env,
  };
  // The doctor and preflight modules load only when the prefix is not up to date (a no-op is mostly start-up).
  const runDoctor = async (o: Parameters<typeof import('../doctor/doctor.js').runDoctor>[0]) => (await import('../doctor/doctor.js')).runDoctor(o);
  // A prefix without a live build cannot be up to date: the toolchain is probed while the Python answers.
  const probing = state.liveManifest
    ? undefined
    : runDoctor({ ...doctorOptions, python: detecting.catch((error: unknown) => (error instanceof Error ? error : new Error(String(error)))) });
  probing?.catch(() => undefined); // when the Python fails, its error is the one reported
  const python = await detecting;
  const quick = await upToDateWithoutProbing(options, { prefix, state, store, cacheDir, buildRoot, python });
  if (quick) return quick;
  // An archive is checked file by file and its layers enter the store before anything else: even when the prefix
  // turns out to be up to date, the archive was read.
  const archive = options.fromArchive ? await (await import('../store/archive.js')).importArchive(options.fromArchive, store, python) : undefined;
  const doctor = await (probing ?? runDoctor({ ...doctorOptions, python }));
  const { checks, facts } = doctor;
  const { lock, untested } = await lockFor(options, python, facts, archive);
  const machine = machineOf(lock, options);
  const identity: PythonIdentity = pythonIdentity(python);
  const plan = makePlan(lock, {
    prefix,
    cacheDir,
    buildRoot,
    jobs: options.jobs ?? facts.nproc,
    mirrors: options.mirrors,
    verify: options.verify,
    withManual: options.withManual ?? false,
    machine,
    python: { identity, buildExecutable: python.baseExecutable ?? python.realExecutable },
    cc: options.env.CC,
    ccLauncher: options.ccLauncher,
    layerKeys: archive?.layerKeys,
  });
  // --force on the live stack: a fresh stack id, so the live stack is never touched while the new one is made.
  if (options.force && state.liveStackId === plan.layout.stackId)
    plan.layout = prefixLayout(prefix, `${plan.layout.stackId}-${randomBytes(2).toString('hex')}`);
  const stored = new Set<string>();
  for (const c of plan.components) if (await store.layer(c.layerKey)) stored.add(c.name);
  const upToDate = !options.force && state.liveManifest?.key === plan.key && (await stackIntact(plan));
  // An archive (or a store that holds every layer) needs no compiler, make, perl or Python headers.
  const buildOnly = new Set(['cc', 'make', 'perl', 'python-headers', 'build-exec', 'expat', 'openssl', 'zlib']);
  const nothingToCompile = plan.components.every((c) => stored.has(c.name));
  const blockers = checks.filter((c) => c.status === 'fail' && !(nothingToCompile && buildOnly.has(c.id)));
  const sourceIndex = lazySourceIndex(options.sourcesDirs);
  if (!upToDate) {
    const { preflight } = await import('./preflight.js');
    blockers.push(...(await preflight({ plan, options, python, state, stored, facts, sourceIndex })));
  }
  return { plan, state, python, facts, checks, blockers, upToDate, untested, store, stored, archive, sourceIndex };
}

/**
 * The no-op fast path: when the prefix's live build was made with this machine's toolchain, the plan can be made
 * with the facts that build recorded (compiler, platform, features) instead of probing the compiler and headers again
 * (most of a no-op's time). If that plan is exactly the live stack, nothing is to be done; otherwise the full prepare
 * runs with fresh probes. (A compiler upgraded since then is noticed by the next real build, or by --force.)
 */
async function upToDateWithoutProbing(
  options: BuildOptions,
  at: { prefix: string; state: PrefixState; store: Store; cacheDir: string; buildRoot: string; python: PythonInfo },
): Promise<Prepared | undefined> {
  const live = at.state.liveManifest;
  if (options.force || options.fromArchive || !live || !Array.isArray(live.layers)) return undefined;
  const facts = factsOf(live.lock);
  let planned: Awaited<ReturnType<typeof lockFor>>;
  try {
    planned = await lockFor(options, at.python, facts, undefined);
  } catch {
    return undefined; // whatever is wrong, the full prepare says it properly
  }
  const plan = makePlan(planned.lock, {
    prefix: at.prefix,
    cacheDir: at.cacheDir,
    buildRoot: at.buildRoot,
    jobs: options.jobs ?? facts.nproc,
    mirrors: options.mirrors,
    verify: options.verify,
    withManual: options.withManual ?? false,
    machine: machineOf(planned.lock, options),
    python: { identity: pythonIdentity(at.python), buildExecutable: at.python.baseExecutable ?? at.python.realExecutable },
  });
  if (plan.key !== live.key || plan.layout.stackId !== at.state.liveStackId || !(await stackIntact(plan))) return undefined;
  const stored = new Set(plan.components.map((c) => c.name));
  return {
    plan,
    state: at.state,
    python: at.python,
    facts,
    checks: [],
    blockers: [],
    upToDate: true,
    untested: planned.untested,
    store: at.store,
    stored,
    sourceIndex: lazySourceIndex(options.sourcesDirs),
  };
}

/** The machine facts every layer key holds, for a lock made here. */
function machineOf(lock: Lock, options: BuildOptions): BuildPlatform {
  const { env } = options;
  return {
    platform: lock.platform,
    libc: hostLibc(),
    compiler: lock.compiler,
    shell: configureShell(env),
    flags: buildFlags(env, options.debugSymbols ?? false),
  };
}

/** Tool facts as a lock records them (what decides the lock's features and compiler identity). */
function factsOf(lock: Lock): ToolFacts {
  return {
    platform: lock.platform,
    cc: lock.compiler.cc,
    ccCommand: [lock.compiler.cc],
    ccVersion: lock.compiler.version,
    make: null,
    perl: null,
    headersChecked: true,
    hasOpensslHeaders: lock.features.ssl,
    hasZlibHeaders: lock.features.zlib,
    hasExpatHeaders: !lock.features.expat,
    freeDiskBytes: null,
    buildDirFreeBytes: null,
    buildDir: '',
    nproc: availableParallelism(),
  };
}

/** The one error a build stops with before downloading anything when a hard prerequisite is missing. */
export function prerequisiteFailure(blockers: Check[]): PrerequisiteError | undefined {
  const first = blockers[0];
  if (!first) return undefined;
  if (first.error) return first.error;
  return new PrerequisiteError(
    `${first.title}: ${first.detail}`,
    first.fix
      ? `install it: ${first.fix.debian} (Debian/Ubuntu), ${first.fix.rhel} (RHEL/Fedora), ${first.fix.macos} (macOS)`
      : (first.hint ?? "run 'wsgi-toolchain doctor' for details"),
  );
}

/**
 * The programmatic API of wsgi-httpd: the same pipeline as the `wsgi-toolchain` CLI, without output by default.
 *
 *   import { build, locate } from 'wsgi-httpd';
 *   await build({ prefix: './venv' });
 *   const { httpd, apxs, modWsgi } = await locate('./venv');
 *
 * Every failure a user can fix is a ToolchainError subclass with `message`, `hint` and the CLI's `exitCode`.
 */
import { resolve as resolvePath } from 'node:path';
import { runBuild, upToDateReport, type BuildReport } from './pipeline/run.js';
import { BuildEvents, type BuildEvent } from './pipeline/events.js';
import { renderBuild } from './ui/build-view.js';
import { defaultBuildOptions, type BuildOptions } from './pipeline/options.js';
import { prepareBuild, prerequisiteFailure } from './pipeline/prepare.js';
import { NotBuiltError } from './errors.js';
import { candidatePrefixes } from './install/default-prefix.js';
import { describePrefix, locateIn, type Located, type PrefixInfo } from './install/info.js';
import { uninstallPrefix, type UninstallOptions, type UninstallResult } from './install/uninstall.js';
import type { Plan } from './pipeline/plan.js';
import { verifyPrefix } from './verify/prefix.js';
import type { VerifyResult } from './verify/verify.js';

export * from './errors.js';
export type { BuildOptions } from './pipeline/options.js';
export type { BuildReport, LayerReport } from './pipeline/run.js';
export type { BuildEvent } from './pipeline/events.js';
export type { Plan, PlannedComponent, PlannedStep, PrefixLayout } from './pipeline/plan.js';
export type { VerifyResult } from './verify/verify.js';
export type { Lock, LockedComponent, LockedPython, Features } from './resolve/lock.js';
export type { Manifest } from './install/prefix.js';
export type { ComponentName } from './recipe/types.js';
export type { Check } from './doctor/doctor.js';
export type { Located, PrefixInfo } from './install/info.js';
export type { UninstallOptions, UninstallResult } from './install/uninstall.js';
export { defaultBuildOptions } from './pipeline/options.js';
export { candidatePrefixes, packagePrefix } from './install/default-prefix.js';
export { toolVersion as version } from './version.js';

/** Options for build() and plan(): anything left out takes the CLI's default (and WSGI_HTTPD_* from `env`). */
export type ApiBuildOptions = Partial<BuildOptions> & {
  prefix: string;
  /** Called with every progress event (components, phases, steps); see BuildEvent. */
  onEvent?: (event: BuildEvent) => void;
};

function fullOptions(options: ApiBuildOptions): BuildOptions {
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as ApiBuildOptions;
  const base = defaultBuildOptions(options.prefix, options.env ?? process.env);
  return { ...base, ui: 'silent', ...given, versions: { ...base.versions, ...given.versions } };
}

/**
 * Resolves, downloads, builds, verifies (unless `verify: false`) and activates the stack in `options.prefix`. Silent
 * unless `ui: 'plain'`. When the prefix already holds exactly this build, returns at once with `upToDate: true`.
 * Throws PrerequisiteError (no compiler, no Python headers, ...) before touching anything.
 */
export async function build(options: ApiBuildOptions): Promise<BuildReport> {
  const { onEvent, ...rest } = options;
  const opts = fullOptions(rest);
  const prepared = await prepareBuild(opts);
  if (prepared.upToDate) return upToDateReport(prepared.plan);
  const blocked = prerequisiteFailure(prepared.blockers);
  if (blocked) throw blocked;
  const events = new BuildEvents();
  if (onEvent) events.on('event', onEvent);
  const view = await renderBuild(events, opts.ui === 'plain' ? 'plain' : 'silent', { verbose: opts.verbose });
  try {
    return await runBuild(prepared, opts, events);
  } finally {
    await view.close();
  }
}

/** What build() would do, as data (every step, URL, sha256 and command line). Downloads and changes nothing. */
export async function plan(options: ApiBuildOptions): Promise<Plan> {
  return (await prepareBuild(fullOptions(options), { planOnly: true })).plan;
}

/** Starts the prefix's httpd with mod_wsgi on 127.0.0.1, checks it serves a WSGI app, and stops it again. */
export async function verify(prefix: string): Promise<VerifyResult> {
  return verifyPrefix({ prefix: resolvePath(prefix) });
}

/** Everything `wsgi-toolchain info` shows about the build in `prefix`. */
export async function info(prefix: string): Promise<PrefixInfo> {
  return describePrefix(prefix);
}

/** Removes exactly what the tool installed in `prefix` (see `wsgi-toolchain uninstall`). */
export async function uninstall(prefix: string, options: UninstallOptions = {}): Promise<UninstallResult> {
  return uninstallPrefix(prefix, options);
}

export interface LocateOptions {
  /** When nothing is built there: build first (`true`, or build options without `prefix`) instead of throwing. */
  buildIfMissing?: boolean | Partial<BuildOptions>;
  env?: NodeJS.ProcessEnv;
}

/**
 * Finds the live build: in `prefix` when given, else in the first of WSGI_HTTPD_PREFIX, VIRTUAL_ENV and the package's
 * own prefix (where `npm install` builds) that holds one. Throws NotBuiltError (with the command to run) when there is
 * none, unless `buildIfMissing` asks to build it (into `prefix`, or the first of those candidates). For a
 * `--httpd system` build, httpd, apxs, apachectl and modulesDir are the system Apache's (as its apxs reports them) and
 * modWsgi is the prefix's own.
 */
export async function locate(prefix?: string, opts: LocateOptions = {}): Promise<Located> {
  const env = opts.env ?? process.env;
  const candidates = prefix ? [resolvePath(prefix)] : candidatePrefixes(env);
  let firstError: unknown;
  for (const candidate of candidates) {
    try {
      return await locateIn(candidate);
    } catch (error) {
      if (!(error instanceof NotBuiltError)) throw error;
      firstError ??= error;
    }
  }
  const target = candidates[0]!;
  if (opts.buildIfMissing) {
    const extra = typeof opts.buildIfMissing === 'object' ? opts.buildIfMissing : {};
    await build({ env, ...extra, prefix: target });
    return locateIn(target);
  }
  if (candidates.length > 1)
    throw new NotBuiltError(
      target,
      `no wsgi-toolchain build in ${candidates.join(', ')}`,
      `build one: npx wsgi-toolchain build --prefix ${target} (or pass locate(prefix, { buildIfMissing: true }))`,
    );
  throw firstError;
}

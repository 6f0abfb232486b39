import { createWriteStream, type WriteStream } from 'node:fs';
import { copyFile, mkdir, rm, rmdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Listr, PRESET_TIMER, PRESET_TIMESTAMP, type ListrTask } from 'listr2';
import { BuildStepError, ChecksumError, ToolchainError } from '../errors.js';
import { acquireArtifact, collectLocal, type AcquireResult } from '../fetch/acquire.js';
import { formatProgress, progressReporter } from '../fetch/progress.js';
import { checkSignature, keysFor, loadSigningKeys } from '../fetch/signature.js';
import { indexSourceDirs } from '../fetch/sources.js';
import { activateStack, inspectPrefix, removeStaleStacks, writeFileAtomic, type Manifest } from '../install/prefix.js';
import { lockPrefix } from '../install/prefix-lock.js';
import { sha256File } from '../fetch/hash.js';
import { relocateTree } from '../install/relocate.js';
import { lookupBuild, storeBuild, touchBuild, type CachedBuild } from '../cache/build-cache.js';
import { prefixLayout, type Plan, type PlannedComponent } from '../plan/plan.js';
import { importArchive } from '../cache/archive.js';
import { randomBytes } from 'node:crypto';
import { serializeLock } from '../resolve/lock.js';
import { unpackArchive } from '../unpack/unpack.js';
import { killAllChildren } from '../util/run.js';
import { layoutFromApxs, layoutFromRoot } from '../verify/apache-layout.js';
import { verifyServer, type VerifyResult } from '../verify/verify.js';
import { toolVersion } from '../version.js';
import type { BuildOptions } from './options.js';
import { JobServer } from './jobserver.js';
import { stackIntact, upToDateReport } from './prepare.js';
import {
  activatePythonPackage,
  layOutVenvDropIn,
  packageComponent,
  preparePythonPackage,
  pythonPackageTarget,
  type PreparedPackage,
} from './python-package-step.js';
import { logHeader, runBuildCommand, settleRunningSteps, type StepContext } from './step-runner.js';

export interface BuildReport {
  prefix: string;
  root: string;
  link: string;
  lockFile: string;
  logFile: string;
  upToDate: boolean;
  components: { name: string; version: string; seconds: number; origin: string }[];
  totalSeconds: number;
  verify?: VerifyResult;
  /** --httpd system: the Apache the module was built for and is served by. */
  systemApache?: { apxs: string; httpd: string; version: string };
}

interface Context {
  cached?: CachedBuild;
  archives: Map<string, { path: string; origin: string }>;
  downloadErrors: unknown[];
  timings: Record<string, number>;
  verify?: VerifyResult;
  pythonPackage?: PreparedPackage;
}

function useTtyRenderer(options: BuildOptions): boolean {
  return options.ui === 'auto' && Boolean(process.stdout.isTTY) && !options.env.CI;
}

function componentTasks(component: PlannedComponent, plan: Plan, base: Omit<StepContext, 'onLine'>, tty: boolean): ListrTask<Context>[] {
  const label = (kind: string) => `${component.name} ${component.version}: ${kind}`;
  const commandTask = (kind: 'configure' | 'compile' | 'install' | 'patch', argv: string[], title: string): ListrTask<Context> => ({
    title: `${component.name}: ${title}`,
    task: (_, task) =>
      runBuildCommand(label(kind), argv, component.sourceDir, component.env, {
        ...base,
        onLine: tty ? (line) => (task.output = line) : undefined,
      }),
    rendererOptions: { outputBar: 3, persistentOutput: false },
  });
  return component.steps.flatMap((step): ListrTask<Context>[] => {
    switch (step.kind) {
      case 'download':
        return [];
      case 'patch': {
        const patch = component.locked.patches.find((p) => step.argv!.at(-1) === join(p.dir, p.file))!;
        const apply = commandTask('patch', step.argv!, `patch ${patch.file}`);
        return [
          {
            ...apply,
            task: async (ctx2, task) => {
              const file = join(patch.dir, patch.file);
              const actual = await sha256File(file).catch(() => 'missing');
              if (actual !== patch.sha256)
                throw new ChecksumError(
                  file,
                  patch.sha256,
                  actual,
                  "the patch file differs from the one pinned in the recipe: restore it, or update the recipe's sha256 if the change is intended",
                );
              return (apply.task as (c: Context, t: typeof task) => Promise<void>)(ctx2, task);
            },
          },
        ];
      }
      case 'unpack':
        return [
          {
            title: `${component.name}: unpack`,
            task: async (ctx) => {
              const archive = ctx.archives.get(component.name)!;
              logHeader(base.log, `${label('unpack')}: ${archive.path} -> ${component.sourceDir}`);
              const result = await unpackArchive(archive.path, component.sourceDir);
              base.log.write(`${result.entries} entries, ${result.bytes} bytes\n`);
            },
          },
        ];
      case 'check':
        return [
          {
            title: `${component.name}: check`,
            task: async () => {
              const missing: string[] = [];
              for (const file of component.locked.provides) {
                try {
                  await stat(join(plan.stageRoot, file));
                } catch {
                  missing.push(file);
                }
              }
              logHeader(
                base.log,
                `${label('check')}: ${component.locked.provides.length - missing.length}/${component.locked.provides.length} expected files present`,
              );
              if (missing.length > 0)
                throw new BuildStepError(
                  `${component.name} ${component.version} installed without ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''}`,
                  `read the configure output in the log: a module was probably skipped for a missing library`,
                  base.logFile,
                  [],
                );
            },
          },
        ];
      default:
        return [commandTask(step.kind, step.argv!, step.kind)];
    }
  });
}

async function ensureNewDir(path: string, created: string[]): Promise<void> {
  const first = await mkdir(path, { recursive: true });
  if (first) created.push(first);
}

/**
 * Runs a plan: downloads everything at once, builds each component in order into the new stack directory, verifies the
 * result, then switches the prefix to it in one rename. Until that rename the existing installation is untouched; on
 * failure or interruption the new stack, the build directory and any directory this build created are removed.
 */
export async function executePlan(plan: Plan, options: BuildOptions): Promise<BuildReport> {
  let { layout } = plan;
  const started = Date.now();
  const logsDir = join(plan.cacheDir, 'logs');
  await mkdir(logsDir, { recursive: true });
  const logFile = join(logsDir, `build-${new Date().toISOString().replace(/[:.]/g, '-')}-${layout.stackId}.log`);
  const log: WriteStream = createWriteStream(logFile, { flags: 'a' });
  log.write(`wsgi-toolchain ${toolVersion} build of ${layout.prefix}\nplan ${plan.key}\n`);

  const release = await lockPrefix(plan.cacheDir, layout.prefix, options.waitSeconds * 1000);
  // Another build of this prefix may have finished while we waited for the lock (or just before we took it): judge the
  // prefix again. Same build: nothing to do. Otherwise never touch the live stack, even when it has our stack id.
  const now = await inspectPrefix(layout.prefix).catch(() => undefined);
  if (now?.liveStackId === layout.stackId) {
    if (!options.force && now.liveManifest?.key === plan.key && (await stackIntact(plan, layout.root))) {
      await release();
      await new Promise<void>((r) => log.end(r));
      return { ...upToDateReport({ ...plan, layout }), totalSeconds: (Date.now() - started) / 1000 };
    }
    layout = prefixLayout(layout.prefix, `${layout.stackId}-${randomBytes(2).toString('hex')}`);
  }
  const controller = new AbortController();
  const createdDirs: string[] = [];
  let releaseStage: (() => Promise<void>) | undefined;
  let jobServer: JobServer | undefined;
  let interrupted: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupted = signal;
    controller.abort(new ToolchainError(`interrupted by ${signal}`, 'nothing was changed in the prefix; run the build again', 130));
    killAllChildren('SIGTERM');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const tty = useTtyRenderer(options);
  const base = { log, logFile, env: options.env, signal: controller.signal };
  const ctx: Context = { archives: new Map(), downloadErrors: [], timings: {} };
  let succeeded = false;
  /** Set the moment <prefix>/httpd points at the new stack: from then on that stack is live and is never removed. */
  let activated = false;
  let ownsBuildDir = false;
  let fromArchive = '';
  try {
    // Leftovers of a killed build are never the live stack; clear them so they cannot be mistaken for one.
    await rm(layout.root, { recursive: true, force: true });
    if (options.fromArchive) {
      // The archive becomes the cache entry for its key (every file checked first); the plan is then a cache hit.
      const imported = await importArchive(options.fromArchive, plan.cacheDir, plan.key);
      log.write(`archive ${options.fromArchive}: ${imported.files} entries match its manifest; build cache entry ${imported.entry.tree}\n`);
      fromArchive = `Installing the build in ${options.fromArchive} (${imported.files} files, every sha256 matches its manifest)`;
    }
    const cached = options.force && !options.fromArchive ? undefined : await lookupBuild(plan.cacheDir, plan.key);
    if (!cached) {
      // Two builds of the same inputs (into different prefixes) share the placeholder: the second waits, then reuses.
      releaseStage = await lockPrefix(plan.cacheDir, plan.stageRoot, 6 * 3600_000);
      await rm(plan.stageRoot, { recursive: true, force: true });
      await mkdir(plan.stageRoot, { recursive: true });
      // The build directory belongs to whoever holds that lock (a build of the same inputs into another prefix may
      // be compiling in it until then); a killed build's leftovers are cleared here.
      ownsBuildDir = true;
      await rm(plan.buildDir, { recursive: true, force: true });
      await mkdir(plan.buildDir, { recursive: true });
    }
    ctx.cached = cached ?? (options.force ? undefined : await lookupBuild(plan.cacheDir, plan.key));
    const fromCache = ctx.cached !== undefined;

    const sourceIndex = options.sourcesDirs.length > 0 ? await indexSourceDirs(options.sourcesDirs) : undefined;
    // A cache hit needs no sources, so offline it needs none to be local either.
    const local =
      options.offline && !fromCache
        ? await collectLocal(plan.components, {
            cacheDir: plan.cacheDir,
            mirrors: options.mirrors,
            sourceIndex,
            log: (line) => log.write(`${line}\n`),
          })
        : new Map<string, AcquireResult>();
    const keySets = options.verifySignatures ? await loadSigningKeys(options.recipesDirs) : [];
    const tasks = new Listr<Context, 'default' | 'simple', 'simple'>(
      [
        {
          title: `Download and verify ${plan.components.length} sources`,
          skip: () => fromCache && (fromArchive || `Built before with the same inputs: reusing ${plan.key.slice(0, 16)} from the build cache`),
          task: (_, task) =>
            task.newListr(
              plan.components.map((c) => ({
                title: `${c.locked.artifacts[0]!.file}`,
                task: async (ctx2, sub) => {
                  // In a terminal: bytes / total / speed on the task line. Elsewhere (CI, pipes): a line at the start,
                  // about every 25 % and at the end, through the simple renderer and into the build log.
                  let ttyStart: { url: string; at: number } | undefined;
                  const lines = tty
                    ? undefined
                    : progressReporter(c.locked.artifacts[0]!.file, (line) => {
                        log.write(`download ${c.name}: ${line}\n`);
                        sub.output = line;
                      });
                  const onProgress = tty
                    ? (p: { url: string; transferred: number; total?: number }) => {
                        if (ttyStart?.url !== p.url) ttyStart = { url: p.url, at: Date.now() };
                        sub.output = formatProgress(p.transferred, p.total, Date.now() - ttyStart.at);
                      }
                    : lines;
                  const result =
                    local.get(c.name) ??
                    (await acquireArtifact({
                      download: { env: options.env },
                      component: c.name,
                      version: c.version,
                      artifacts: c.locked.artifacts,
                      mirrorPath: c.locked.mirrorPath,
                      mirrors: options.mirrors,
                      sourceIndex,
                      offline: options.offline,
                      cacheDir: plan.cacheDir,
                      signal: controller.signal,
                      onAttempt: (a: { url: string; outcome: string }) => log.write(`download ${c.name}: ${a.url}: ${a.outcome}\n`),
                      onProgress,
                    }).catch((error: unknown) => {
                      ctx2.downloadErrors.push(error);
                      throw error;
                    }));
                  lines?.done();
                  log.write(`download ${c.name}: using ${result.path} (${result.origin})\n`);
                  const keys = options.verifySignatures ? keysFor(c.name, keySets) : undefined;
                  let signed = '';
                  if (keys) {
                    const sig = await checkSignature({
                      component: c.name,
                      version: c.version,
                      acquired: result,
                      artifacts: c.locked.artifacts,
                      mirrorPath: c.locked.mirrorPath,
                      mirrors: options.mirrors,
                      sourceIndex,
                      offline: options.offline,
                      env: options.env,
                      signal: controller.signal,
                      keys,
                    }).catch((error: unknown) => {
                      ctx2.downloadErrors.push(error);
                      throw error;
                    });
                    log.write(`signature ${c.name}: ${sig.origin}: good signature by ${sig.uid} (${sig.fingerprint}), made ${sig.date}\n`);
                    signed = `, signature ok: ${sig.uid.replace(/\s*<.*>$/, '')}`;
                  } else if (options.verifySignatures) log.write(`signature ${c.name}: no pinned signing keys for ${c.name}; sha256 only\n`);
                  ctx2.archives.set(c.name, { path: result.path, origin: result.origin });
                  sub.title = `${result.artifact.file} (${result.origin.startsWith('http') ? 'downloaded' : result.origin.split(':')[0]}, sha256 ok${signed})`;
                },
              })),
              { concurrent: true, exitOnError: false },
            ),
        },
        {
          title: 'All sources verified',
          enabled: () => !fromCache,
          task: (ctx2) => {
            const failed = plan.components.filter((c) => !ctx2.archives.has(c.name));
            if (failed.length > 0) throw ctx2.downloadErrors[0] ?? new Error(`no source for ${failed.map((c) => c.name).join(', ')}`);
          },
        },
        {
          title: `Build ${plan.components.length} components, ${plan.jobs} jobs shared (a component starts when its dependencies are installed)`,
          enabled: () => !fromCache,
          task: async (_, task) => {
            jobServer = await JobServer.create(plan.buildDir, plan.jobs);
            const stepBase = { ...base, jobs: jobServer };
            const installed = new Map(plan.components.map((c) => [c.name, deferred()]));
            controller.signal.addEventListener('abort', () => installed.forEach((d) => d.reject(controller.signal.reason)), { once: true });
            return task.newListr(
              plan.components.map(
                (c): ListrTask<Context> => ({
                  title: `${c.name} ${c.version}${c.dependencies.length ? ` (after ${c.dependencies.join(', ')})` : ''}`,
                  task: async (_2, sub) => {
                    await Promise.all(c.dependencies.map((d) => installed.get(d)!.promise));
                    const t0 = Date.now();
                    const finish: ListrTask<Context> = {
                      title: `${c.name}: installed`,
                      task: (ctx2, last) => {
                        const seconds = (Date.now() - t0) / 1000;
                        ctx2.timings[c.name] = seconds;
                        last.title = `${c.name} ${c.version} installed in ${seconds.toFixed(1)} s`;
                        installed.get(c.name)!.resolve();
                      },
                    };
                    return sub.newListr([...componentTasks(c, plan, stepBase, tty), finish], { concurrent: false, exitOnError: true });
                  },
                }),
              ),
              { concurrent: true, exitOnError: true },
            );
          },
        },
        {
          title: 'Store the build in the cache',
          enabled: () => !fromCache,
          task: async (ctx2) => {
            ctx2.cached = await storeBuild(plan.cacheDir, plan.key, plan.stageRoot, plan.lock);
            await releaseStage?.();
            releaseStage = undefined;
          },
        },
        {
          title: `Install into ${layout.root}`,
          task: async (ctx2, task) => {
            const cachedBuild = ctx2.cached!;
            await ensureNewDir(dirname(layout.root), createdDirs);
            const t0 = Date.now();
            const stats = await relocateTree(cachedBuild.tree, cachedBuild.placeholder, layout.root);
            await touchBuild(plan.cacheDir, cachedBuild);
            const seconds = ((Date.now() - t0) / 1000).toFixed(1);
            logHeader(
              log,
              `install: ${stats.files} files (${(stats.bytes / 1e6).toFixed(1)} MB) relocated in ${seconds}s: ${stats.textFiles} text and ${stats.binaryFiles} binary files rewritten, ${stats.runpaths} RUNPATHs made $ORIGIN-relative`,
            );
            task.title = `Installed into ${layout.root} (${stats.files} files, ${stats.textFiles + stats.binaryFiles} relocated, ${seconds} s)`;
          },
        },
        {
          title: `Verify: httpd with mod_wsgi serves a WSGI app on 127.0.0.1 (Python ${plan.lock.python.version})`,
          enabled: () => plan.verify,
          task: async (ctx2, task) => {
            const system = plan.lock.systemApache;
            const result = await verifyServer({
              layout: system ? await layoutFromApxs(system.apxs) : layoutFromRoot(layout.root),
              modWsgi: join(layout.root, 'modules', 'mod_wsgi.so'),
              python: { executable: plan.lock.python.executable, version: plan.lock.python.version },
              onLog: (line) => log.write(`verify: ${line}\n`),
            });
            ctx2.verify = result;
            logHeader(log, `verify: ${result.url} -> ${result.status}: ${result.body.trim()}`);
            task.title = `Verify: ${result.url} answered ${result.status} from Python ${result.pythonVersion} (${result.mpm} MPM, ${result.durationMs} ms)`;
          },
        },
        {
          title: 'Python package (mod_wsgi-express, the Django app) laid out from the same verified source',
          enabled: () => options.pythonPackage !== false && !plan.lock.systemApache && packageComponent(plan) !== undefined,
          task: async (ctx2, task) => {
            const started = Date.now();
            ctx2.pythonPackage = await preparePythonPackage({ ...plan, layout }, options, sourceIndex, base);
            const pkg = ctx2.pythonPackage.record.package;
            const seconds = ((Date.now() - started) / 1000).toFixed(1);
            logHeader(log, `python package: ${pkg.distribution} ${pkg.version} (${pkg.layout.versions} layout) in ${seconds}s`);
            task.title = `Python package: ${pkg.distribution} ${pkg.version}, ${ctx2.pythonPackage.record.files.length} files, nothing compiled (${seconds} s)`;
          },
        },
        {
          title: `Activate ${layout.link}`,
          task: async (ctx2) => {
            // Steps without a signal (relocation, verify) run to their end after an interrupt: never go live then.
            if (controller.signal.aborted) throw controller.signal.reason;
            const manifest: Manifest = {
              tool: `wsgi-httpd ${toolVersion}`,
              key: plan.key,
              stackId: layout.stackId,
              createdAt: new Date().toISOString(),
              lock: plan.lock,
              timings: ctx2.timings,
            };
            await writeFileAtomic(layout.manifestFile, `${JSON.stringify(manifest, null, 2)}\n`);
            const previous = await inspectPrefix(layout.prefix);
            const pkg = ctx2.pythonPackage ? await activatePythonPackage({ ...plan, layout }, ctx2.pythonPackage, options, base) : undefined;
            try {
              if (controller.signal.aborted) throw controller.signal.reason;
              await activateStack(layout, serializeLock(plan.lock), previous.liveStackId);
            } catch (error) {
              await pkg?.undo();
              throw error;
            }
            activated = true;
            await pkg?.commit();
            await removeStaleStacks(layout, [layout.stackId]);
          },
        },
        {
          title: 'Drop-in for pip install mod_wsgi (mod_wsgi-apxs, mod_wsgi_packages.httpd)',
          enabled: () => options.pythonPackage !== false && !plan.lock.systemApache && pythonPackageTarget({ ...plan, layout }) === 'venv',
          task: async (_, task) => {
            task.title = `Drop-in: ${await layOutVenvDropIn({ ...plan, layout })}`;
          },
        },
      ],
      {
        renderer: tty ? 'default' : 'simple',
        fallbackRenderer: 'simple',
        silentRendererCondition: options.ui === 'silent',
        registerSignalListeners: false,
        exitOnError: true,
        collectErrors: false,
        rendererOptions: tty ? { collapseSubtasks: false, timer: PRESET_TIMER } : { timestamp: PRESET_TIMESTAMP, timer: PRESET_TIMER },
        fallbackRendererOptions: { timestamp: PRESET_TIMESTAMP, timer: PRESET_TIMER },
      },
    );
    await tasks.run(ctx);
    // An interrupt that came after the switch is too late to undo it: the build is done.
    if (controller.signal.aborted && !activated) throw controller.signal.reason;
    succeeded = true;
  } catch (error) {
    if (interrupted && !activated) throw controller.signal.reason;
    // Stop components still building beside the one that failed, and let them finish failing first.
    if (!controller.signal.aborted) controller.abort(error);
    killAllChildren('SIGTERM');
    await settleRunningSteps();
    throw error;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    killAllChildren('SIGKILL');
    await jobServer?.close();
    if (!succeeded && !activated) {
      await rm(layout.root, { recursive: true, force: true });
      for (const dir of createdDirs.reverse()) await rm(dir, { recursive: true, force: true });
      await removeEmptyParents(layout.root, layout.prefix);
    }
    if (ownsBuildDir && (succeeded || !options.keepBuildDir)) await rm(plan.buildDir, { recursive: true, force: true });
    await new Promise<void>((r) => log.end(r));
    if (succeeded) {
      await mkdir(layout.logsDir, { recursive: true });
      await copyFile(logFile, join(layout.logsDir, 'build.log'));
    }
    if (releaseStage) {
      await rm(plan.stageRoot, { recursive: true, force: true });
      await releaseStage();
    }
    await release();
  }
  return {
    ...upToDateReport({ ...plan, layout }),
    upToDate: false,
    components: plan.components.map((c) => ({
      name: c.name,
      version: c.version,
      seconds: ctx.timings[c.name] ?? 0,
      origin: ctx.archives.get(c.name)?.origin ?? '',
    })),
    totalSeconds: (Date.now() - started) / 1000,
    verify: ctx.verify,
  };
}

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (reason: unknown) => void } {
  let resolve!: () => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined); // a component nobody waits for must not count as an unhandled rejection
  return { promise, resolve, reject };
}

/** .wsgi-httpd/stacks and .wsgi-httpd are removed again when a failed first build leaves them empty. */
async function removeEmptyParents(root: string, prefix: string): Promise<void> {
  for (const dir of [join(root, '..'), join(root, '..', '..')]) {
    if (!dir.startsWith(prefix)) return;
    try {
      await rmdir(dir);
    } catch {
      return;
    }
  }
}

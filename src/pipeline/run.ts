/**
 * A build, stage by stage: lock the prefix, find the layers in the store, fetch and build the missing ones, assemble
 * the stack from its layers (each file checked against its layer's manifest), verify it, lay out the Python package,
 * then switch the prefix to it in one rename. Until that rename the prefix is untouched (apart from the lock); on
 * failure or interruption the new stack, the build directory and every directory this build created are removed.
 * Each stage is its own module and a function of the build context; this module only runs them in order and cleans
 * up. Progress goes out as events (events.ts); src/ui/ renders them.
 */
import { constants, createWriteStream } from 'node:fs';
import { copyFile, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DownloadError, ToolchainError } from '../errors.js';
import { type Manifest, activateStack, inspectPrefix, removeStaleStacks, writeFileAtomic } from '../install/prefix.js';
import { lockPrefix, realPrefix, type Release, takeLock } from '../install/prefix-lock.js';
import { serializeLock } from '../resolve/lock.js';
import { LayerIntegrityError } from '../store/manifest.js';
import type { StackRecord, StoredLayer } from '../store/store.js';
import { ensureOwnDir, pathExists } from '../util/fs.js';
import { killAllChildren } from '../util/run.js';
import type { VerifyResult } from '../verify/verify.js';
import { toolVersion } from '../version.js';
import { type AssembleHooks, assembleStack } from './assemble.js';
import type { BuildContext } from './context.js';
import { BuildEvents, type StackStep } from './events.js';
import type { BuildOptions } from './options.js';
import { type Prepared, stackIntact } from './prepare.js';
import {
  activatePythonPackage,
  layOutVenvDropIn,
  packageComponent,
  type PreparedPackage,
  preparePythonPackage,
  pythonPackageTarget,
} from './python-package.js';
import { settleRunningSteps } from './run-step.js';
import { type BuildReport, type LayerReport, upToDateReport } from './report.js';

export type { BuildReport, LayerReport };
export { upToDateReport };
import { pythonIdentity } from '../store/keys.js';
import { verifyStack } from './verify-stack.js';

type RunContext = BuildContext & { abort: (reason: unknown) => void; lastIntegrityError?: LayerIntegrityError };

/** Runs one stack step with its start/done/failed events. */
async function step<T>(ctx: BuildContext, name: StackStep, fn: () => Promise<T>, done?: (result: T) => string): Promise<T> {
  ctx.events.send({ type: 'step', step: name, state: 'start' });
  try {
    const result = await fn();
    ctx.events.send({ type: 'step', step: name, state: 'done', detail: done?.(result) });
    return result;
  } catch (error) {
    ctx.events.send({ type: 'step', step: name, state: 'failed', detail: (error as Error).message });
    throw error;
  }
}

/** The layers of the plan that are in the store now. */
async function storedLayers(ctx: BuildContext): Promise<Map<string, StoredLayer>> {
  const found = new Map<string, StoredLayer>();
  for (const c of ctx.plan.components) {
    const layer = await ctx.store.layer(c.layerKey);
    if (layer) found.set(c.name, layer);
  }
  return found;
}

/** The last recorded build time of each component (any version), for the progress estimate. */
async function estimates(ctx: BuildContext): Promise<Map<string, number>> {
  const latest = new Map<string, { at: string; seconds: number }>();
  for (const l of await ctx.store.layers()) {
    const r = l.record;
    if (r.buildSeconds === undefined) continue;
    const seen = latest.get(r.component);
    if (!seen || seen.at < r.createdAt) latest.set(r.component, { at: r.createdAt, seconds: r.buildSeconds });
  }
  return new Map([...latest].map(([name, v]) => [name, v.seconds]));
}

/**
 * Builds what the store lacks (under the stage lock, so two builds of the same stack share the work), then assembles
 * the stack. A layer found damaged while it is assembled is discarded and built again, once; when it cannot be (its
 * source is not available offline) the build stops with the integrity error, exit 5.
 */
async function layersAndStack(ctx: RunContext, seconds: Map<string, number>, early?: EarlyPackage): Promise<StoredLayer[]> {
  const { plan } = ctx;
  for (let attempt = 0; ; attempt++) {
    let stored = await storedLayers(ctx);
    for (const c of plan.components)
      ctx.events.send({ type: 'component', name: c.name, version: c.version, phase: stored.has(c.name) ? 'stored' : 'queued' });
    // Layers a --cache-from registry has need no compile either. (The registry client, the fetch and build stages and
    // their HTTP and tar code are loaded only when they have work: a warm build's start-up is most of its time.)
    const missing = plan.components.filter((c) => !stored.has(c.name));
    if (missing.length > 0 && ctx.options.cacheFrom?.length) {
      const { pullLayers } = await import('./remote-cache.js');
      for (const [name, layer] of await pullLayers(ctx, missing)) stored.set(name, layer);
    }
    if (stored.size < plan.components.length) {
      await ensureOwnDir(join(plan.cacheDir, 'locks'));
      const releaseStage = await takeLock(join(plan.cacheDir, 'locks', `stage-${plan.key.slice(0, 16)}`), {
        what: `a build of the same stack (${plan.key.slice(0, 16)})`,
        waitMs: 6 * 3600_000,
        onTakeover: (text) => ctx.events.send({ type: 'note', text }),
      });
      try {
        // Another build of the same stack may have stored layers while we waited.
        stored = await storedLayers(ctx);
        const toBuild = plan.components.filter((c) => !stored.has(c.name));
        const [{ fetchSources }, { buildLayers }] = await Promise.all([import('./sources.js'), import('./build-layers.js')]);
        let sources: Awaited<ReturnType<typeof fetchSources>>;
        try {
          sources = await fetchSources(ctx, toBuild);
        } catch (error) {
          if (attempt > 0 && error instanceof DownloadError && ctx.lastIntegrityError) throw ctx.lastIntegrityError;
          throw error;
        }
        const built = await buildLayers(ctx, stored, sources, await estimates(ctx));
        for (const [name, s] of built.seconds) seconds.set(name, s);
        stored = built.layers;
      } finally {
        await rm(plan.stageRoot, { recursive: true, force: true });
        if (!ctx.options.keepBuildDir || !ctx.signal.aborted) await rm(plan.buildDir, { recursive: true, force: true });
        await releaseStage();
      }
    }
    const layers = plan.components.map((c) => stored.get(c.name)!);
    try {
      await step(
        ctx,
        'assemble',
        () => assembleStack(ctx, layers, plan.layout.root, early?.hooks),
        (s) => `${s.files} files from ${layers.length} layers, each checked against its manifest (${(s.bytes / 1e6).toFixed(1)} MB)`,
      );
      return layers;
    } catch (error) {
      await early?.discard(); // it may be writing into the stack that is about to be removed
      if (!(error instanceof LayerIntegrityError) || attempt > 0) throw error;
      const bad = layers.find((l) => error.layer.includes(l.record.key.slice(0, 12)));
      ctx.log.write(`${error.message}\n`);
      ctx.events.send({ type: 'note', text: `${error.message}: discarded, building it again` });
      if (bad) await ctx.store.discardLayer(bad.record.key);
      ctx.lastIntegrityError = error;
    }
  }
}

export async function runBuild(prepared: Prepared, options: BuildOptions, events: BuildEvents = new BuildEvents()): Promise<BuildReport> {
  const { plan, store } = prepared;
  const { layout } = plan;
  const started = Date.now();
  await ensureOwnDir(join(store.root, 'logs'));
  const logFile = join(store.root, 'logs', `build-${new Date().toISOString().replace(/[:.]/g, '-')}-${layout.stackId}.log`);
  const log = createWriteStream(logFile, { flags: 'a' });
  log.write(`wsgi-toolchain ${toolVersion} build of ${layout.prefix}\nstack ${plan.key}\n`);
  for (const c of plan.components) log.write(`layer ${c.name} ${c.version} ${c.layerKey}\n`);

  const created: string[] = [];
  const hadStacksDir = await pathExists(layout.stacksDir);
  const releasePrefix: Release = await lockPrefix(layout.prefix, {
    what: `a build of ${layout.prefix}`,
    waitMs: options.waitSeconds * 1000,
    created,
    onTakeover: (text) => events.send({ type: 'note', text }),
  });
  // Another build of this prefix may have finished while we waited for the lock: judge the prefix again.
  const now = await inspectPrefix(layout.prefix).catch(() => undefined);
  if (!options.force && now?.liveStackId === layout.stackId && now.liveManifest?.key === plan.key && (await stackIntact(plan))) {
    await releasePrefix();
    await new Promise<void>((r) => log.end(r));
    return { ...upToDateReport(plan), totalSeconds: (Date.now() - started) / 1000 };
  }
  const controller = new AbortController();
  let interrupted: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupted = signal;
    controller.abort(new ToolchainError(`interrupted by ${signal}`, 'nothing was changed in the prefix; run the build again', 130));
    killAllChildren('SIGTERM');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const ctx: RunContext = {
    plan,
    options,
    store,
    log,
    logFile,
    events,
    python: prepared.python,
    sourceIndex: prepared.sourceIndex,
    signal: controller.signal,
    abort: (reason) => {
      if (!controller.signal.aborted) controller.abort(reason);
      killAllChildren('SIGTERM');
    },
  };
  const withPackage = options.pythonPackage !== false && packageComponent(plan) !== undefined;
  const dropIn = withPackage && pythonPackageTarget(plan) === 'venv';
  events.send({
    type: 'plan',
    stackId: layout.stackId,
    prefix: layout.prefix,
    components: plan.components.map((c) => ({ name: c.name, version: c.version, layer: c.layerKey, stored: prepared.stored.has(c.name) })),
    steps: [
      'assemble',
      ...(plan.verify ? (['verify'] as const) : []),
      ...(withPackage ? (['python-package'] as const) : []),
      'activate',
      ...(dropIn ? (['drop-in'] as const) : []),
    ],
  });

  const early = withPackage ? earlyPackage(ctx) : undefined;
  let activated = false;
  let succeeded = false;
  const seconds = new Map<string, number>();
  let verify: VerifyResult | undefined;
  try {
    await store.clearStaleTemp();
    await rm(layout.root, { recursive: true, force: true }); // a killed build's leftover, never the live stack
    const layers = await layersAndStack(ctx, seconds, early);
    const manifest: Manifest = {
      tool: `wsgi-httpd ${toolVersion}`,
      key: plan.key,
      stackId: layout.stackId,
      createdAt: new Date().toISOString(),
      lock: plan.lock,
      layers: layers.map((l) => ({ component: l.record.component, version: l.record.version, key: l.record.key })),
      timings: Object.fromEntries(plan.components.map((c) => [c.name, seconds.get(c.name) ?? 0])),
    };
    await writeFileAtomic(layout.manifestFile, `${JSON.stringify(manifest, null, 2)}\n`);
    // Verify serves from the stack; the package step completes <stack>/python, which verify never reads: side by side.
    const [verified, pkg] = await bothSettled(
      plan.verify
        ? step(
            ctx,
            'verify',
            () => verifyStack(ctx),
            (r) => `${r.url} answered ${r.status} from Python ${r.pythonVersion} (${r.mpm} MPM, ${r.durationMs} ms)`,
          )
        : undefined,
      early?.result(),
    );
    verify = verified;
    if (controller.signal.aborted) throw controller.signal.reason;
    await step(ctx, 'activate', async () => {
      const previous = await inspectPrefix(layout.prefix);
      const installed = pkg ? await activatePythonPackage(ctx, pkg) : undefined;
      try {
        // Steps without a signal (relocation, verify) run to their end after an interrupt: never go live then.
        if (controller.signal.aborted) throw controller.signal.reason;
        await activateStack(layout, serializeLock(plan.lock), previous.liveStackId);
      } catch (error) {
        await installed?.undo();
        throw error;
      }
      activated = true;
      await installed?.commit();
      await removeStaleStacks(layout, [layout.stackId]);
    });
    if (dropIn)
      await step(
        ctx,
        'drop-in',
        () => layOutVenvDropIn(plan, ctx.python),
        (text) => text,
      );
    const stack: StackRecord = { key: plan.key, layers: manifest.layers, createdAt: manifest.createdAt };
    await store.writeStack(stack);
    await store.recordUse(await realPrefix(layout.prefix), stack);
    succeeded = true;
    if (options.cacheTo) await (await import('./remote-cache.js')).pushAfterBuild(ctx, layers, pythonIdentity(prepared.python));
  } catch (error) {
    // Stop components still building beside the one that failed, and let them finish failing first.
    ctx.abort(error);
    await settleRunningSteps();
    await early?.discard();
    if (interrupted && !activated) throw controller.signal.reason;
    if (!activated) throw error;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    killAllChildren('SIGKILL');
    await new Promise<void>((r) => log.end(r));
    if (succeeded) {
      // Never through a link planted in the prefix: the logs dir must be our own, and the copy replaces whatever
      // build.log is (a link is removed, not followed) and is created exclusively.
      await ensureOwnDir(layout.logsDir);
      const kept = join(layout.logsDir, 'build.log');
      await rm(kept, { force: true });
      await copyFile(logFile, kept, constants.COPYFILE_EXCL);
    }
    await releasePrefix();
    if (!succeeded && !activated) {
      await rm(layout.root, { recursive: true, force: true });
      await removeEmptyDirs([...(hadStacksDir ? [] : [layout.stacksDir]), ...created.reverse()]);
    }
  }
  const layerReports: LayerReport[] = plan.components.map((c) => ({
    component: c.name,
    version: c.version,
    key: c.layerKey,
    origin: seconds.has(c.name) ? 'built' : 'store',
    seconds: seconds.get(c.name) ?? 0,
  }));
  return { ...upToDateReport(plan), upToDate: false, layers: layerReports, totalSeconds: (Date.now() - started) / 1000, verify };
}

interface EarlyPackage {
  hooks: AssembleHooks;
  /** The package step's result (started now if its layer did not start it). */
  result: () => Promise<PreparedPackage>;
  /** Waits for a started package step to end and forgets it (its stack is being removed). */
  discard: () => Promise<void>;
}

/**
 * The Python package step, started as soon as its layer is in the stack: it needs only that layer (the apxs answers
 * are recorded in it), so its Python check runs beside the copying of the other layers, not after it.
 */
function earlyPackage(ctx: BuildContext): EarlyPackage {
  const component = packageComponent(ctx.plan)!.name;
  let started: Promise<PreparedPackage> | undefined;
  const start = () => {
    started ??= step(
      ctx,
      'python-package',
      () => preparePythonPackage(ctx),
      (p) => `${p.record.package.distribution} ${p.record.package.version}, ${p.record.files.length} files, nothing compiled`,
    );
    started.catch(() => undefined); // awaited by result() or discard()
    return started;
  };
  return {
    hooks: { first: component, onPlaced: (name) => name === component && !ctx.plan.lock.systemApache && void start() },
    result: start,
    discard: async () => {
      await started?.catch(() => undefined);
      started = undefined;
    },
  };
}

/** Both results once both have settled; the first one's error wins (a failed verify says more than the package). */
async function bothSettled<A, B>(a: Promise<A> | undefined, b: Promise<B> | undefined): Promise<[A | undefined, B | undefined]> {
  const [x, y] = await Promise.allSettled([a, b]);
  if (x.status === 'rejected') throw x.reason;
  if (y.status === 'rejected') throw y.reason;
  return [x.value, y.value];
}

/** What a failed first build created (.wsgi-httpd/stacks, .wsgi-httpd, the prefix) goes again, when left empty. */
async function removeEmptyDirs(dirs: string[]): Promise<void> {
  for (const dir of dirs) await rmdir(dir).catch(() => undefined);
}

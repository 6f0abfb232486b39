/**
 * The build stage: every component whose layer is not in the store is built into the stage, each as soon as the
 * layers it is built against are there (stored ones are copied in, checked file by file), all compiles sharing one
 * make jobserver of --jobs slots. Sources are unpacked and patched at once: that needs nothing built.
 */
import { mkdir, rm } from 'node:fs/promises';
import type { StoredLayer } from '../store/store.js';
import { StageTurn } from './capture.js';
import { buildComponent, type ComponentBuild, materialize, prepareSource } from './component-build.js';
import type { BuildContext } from './context.js';
import { JobServer } from './jobserver.js';
import type { PlannedComponent } from './plan.js';
import type { Source } from './sources.js';

/** The stored components that a component to build is (directly or through others) built against. */
export function neededInStage(components: PlannedComponent[], toBuild: Set<string>): Set<string> {
  const byName = new Map(components.map((c) => [c.name, c]));
  const needed = new Set<string>();
  const visit = (name: string) => {
    for (const dep of byName.get(name)?.dependencies ?? []) {
      if (!byName.has(dep) || needed.has(dep)) continue;
      needed.add(dep);
      visit(dep);
    }
  };
  for (const name of toBuild) visit(name);
  for (const name of toBuild) needed.delete(name);
  return needed;
}

export interface BuiltLayers {
  layers: Map<string, StoredLayer>;
  /** Seconds each built component took. */
  seconds: Map<string, number>;
}

export async function buildLayers(
  ctx: BuildContext & { abort: (reason: unknown) => void },
  stored: Map<string, StoredLayer>,
  sources: Map<string, Source>,
  estimates: Map<string, number>,
): Promise<BuiltLayers> {
  const { plan } = ctx;
  const toBuild = new Set(plan.components.filter((c) => !stored.has(c.name)).map((c) => c.name));
  const layers = new Map(stored);
  const seconds = new Map<string, number>();
  if (toBuild.size === 0) return { layers, seconds };
  const needed = neededInStage(plan.components, toBuild);
  await rm(plan.stageRoot, { recursive: true, force: true });
  await mkdir(plan.stageRoot, { recursive: true });
  await mkdir(plan.buildDir, { recursive: true });
  const jobs = await JobServer.create(plan.buildDir, plan.jobs);
  const turn = new StageTurn();
  const ready = new Map<string, Promise<void>>();
  try {
    const tasks = plan.components.map((c) => {
      const task = (async () => {
        try {
          const build: ComponentBuild | undefined = toBuild.has(c.name)
            ? {
                ctx,
                component: c,
                source: sources.get(c.name)!,
                stage: plan.stageRoot,
                turn,
                jobs,
                estimateSeconds: estimates.get(c.name),
              }
            : undefined;
          const preparedMs = build ? await prepareSource(build) : 0;
          const deps = c.dependencies.filter((d) => ready.has(d));
          if (deps.length > 0 && build)
            ctx.events.send({ type: 'component', name: c.name, version: c.version, phase: 'waiting', detail: deps.join(', ') });
          await Promise.all(deps.map((d) => ready.get(d)));
          if (ctx.signal.aborted) throw ctx.signal.reason;
          if (!build) {
            if (needed.has(c.name)) await materialize(ctx, stored.get(c.name)!, plan.stageRoot, turn);
            return;
          }
          const started = Date.now() - preparedMs;
          const layer = await buildComponent(build, preparedMs);
          layers.set(c.name, layer);
          seconds.set(c.name, (Date.now() - started) / 1000);
        } catch (error) {
          // The first failure stops the others; they are cancelled, not failed.
          if (ctx.signal.aborted) {
            if (toBuild.has(c.name)) ctx.events.send({ type: 'component', name: c.name, version: c.version, phase: 'cancelled' });
          } else {
            ctx.events.send({ type: 'component', name: c.name, version: c.version, phase: 'failed', detail: (error as Error).message });
            ctx.abort(error);
          }
          throw error;
        }
      })();
      task.catch(() => undefined); // awaited below; a dependent's own await reports it
      ready.set(c.name, task);
      return task;
    });
    const outcomes = await Promise.allSettled(tasks);
    if (outcomes.some((o) => o.status === 'rejected'))
      throw ctx.signal.reason ?? (outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult).reason;
    return { layers, seconds };
  } finally {
    await jobs.close();
  }
}

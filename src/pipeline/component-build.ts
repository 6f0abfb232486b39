/**
 * Building one component into its layer, one named phase per function (as Homebrew's formula installer and Spack's
 * autotools phases do): unpack, patch, configure, compile, install. The recipe gives the arguments; a recipe overrides
 * only what differs. The install is captured into the component's layer (capture.ts).
 */
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BuildStepError, ChecksumError } from '../errors.js';
import { sha256File } from '../fetch/hash.js';
import { recordApxsAnswers } from '../python-package/apxs-config.js';
import { layOutPythonPackage } from '../python-package/layout.js';
import type { StoredLayer } from '../store/store.js';
import { relocateTree } from '../install/relocate.js';
import { unpackArchive } from '../unpack/unpack.js';
import { under } from './assemble.js';
import { changedEntries, snapshotStage, type StageTurn, storeLayer } from './capture.js';
import type { BuildContext } from './context.js';
import type { ComponentPhase } from './events.js';
import type { JobServer } from './jobserver.js';
import type { PlannedComponent, PlannedStep } from './plan.js';
import { logHeader, runBuildCommand, type StepContext } from './run-step.js';
import type { Source } from './sources.js';

export interface ComponentBuild {
  ctx: BuildContext;
  component: PlannedComponent;
  source: Source;
  stage: string;
  turn: StageTurn;
  jobs: JobServer;
  estimateSeconds?: number;
  /** The phase last reported, so that a wait for a job slot can be said within it. */
  current?: { phase: ComponentPhase; detail?: string };
}

function phase(b: ComponentBuild, phase: ComponentPhase, detail?: string): void {
  b.current = { phase, detail };
  b.ctx.events.send({ type: 'component', name: b.component.name, version: b.component.version, phase, detail, estimateSeconds: b.estimateSeconds });
}

/** "configure (waiting for a free job slot of 2)" while the step waits, then the phase as it was. */
function slotWait(b: ComponentBuild): (waiting: boolean) => void {
  return (waiting) => {
    const { phase: current, detail } = b.current ?? { phase: 'queued' as const };
    const waitingText = `waiting for a free job slot of ${b.jobs.jobs}`;
    b.ctx.events.send({
      type: 'component',
      name: b.component.name,
      version: b.component.version,
      phase: current,
      detail: waiting ? (detail ? `${detail} (${waitingText})` : `(${waitingText})`) : detail,
      estimateSeconds: b.estimateSeconds,
    });
  };
}

function stepContext(b: ComponentBuild): StepContext {
  const { ctx } = b;
  return {
    log: ctx.log,
    logFile: ctx.logFile,
    env: ctx.options.env,
    signal: ctx.signal,
    jobs: b.jobs,
    onSlotWait: slotWait(b),
    onLine: (line) => ctx.events.send({ type: 'output', name: b.component.name, line }),
  };
}

const label = (b: ComponentBuild, what: string) => `${b.component.name} ${b.component.version}: ${what}`;
const command = (b: ComponentBuild, step: PlannedStep, context = stepContext(b)) =>
  runBuildCommand(label(b, step.kind), step.argv!, b.component.sourceDir, b.component.env, context);
const stepsOf = (b: ComponentBuild, kind: PlannedStep['kind']) => b.component.steps.filter((s) => s.kind === kind);

export async function unpack(b: ComponentBuild): Promise<void> {
  phase(b, 'unpack');
  await rm(b.component.sourceDir, { recursive: true, force: true });
  logHeader(b.ctx.log, `${label(b, 'unpack')}: ${b.source.path} -> ${b.component.sourceDir}`);
  const result = await unpackArchive(b.source.path, b.component.sourceDir);
  b.ctx.log.write(`${result.entries} entries, ${result.bytes} bytes\n`);
}

export async function applyPatches(b: ComponentBuild): Promise<void> {
  for (const step of stepsOf(b, 'patch')) {
    const patch = b.component.locked.patches.find((p) => step.argv!.at(-1) === join(p.dir, p.file))!;
    phase(b, 'patch', patch.file);
    const file = join(patch.dir, patch.file);
    const actual = await sha256File(file).catch(() => 'missing');
    if (actual !== patch.sha256)
      throw new ChecksumError(
        file,
        patch.sha256,
        actual,
        "the patch file differs from the one pinned in the recipe: restore it, or update the recipe's sha256 if the change is intended",
      );
    // Without a job slot: `patch` is one short process, and a source is patched while what it needs is still building,
    // which holds the slots (with -j2 httpd's patch waited 1.5 min for one, and its line said "patch" all along).
    await command(b, step, { ...stepContext(b), jobs: undefined });
  }
}

export async function configure(b: ComponentBuild): Promise<void> {
  phase(b, 'configure');
  for (const step of stepsOf(b, 'configure')) await command(b, step);
}

export async function compile(b: ComponentBuild): Promise<void> {
  phase(b, 'compile');
  for (const step of stepsOf(b, 'compile')) await command(b, step);
}

/** `make install` into the stage, then the Python package laid out beside it: together they are the layer. */
export async function install(b: ComponentBuild, started: number): Promise<StoredLayer> {
  return b.turn.run(async () => {
    phase(b, 'install');
    const before = await snapshotStage(b.stage);
    for (const step of stepsOf(b, 'install')) await command(b, step);
    await checkProvides(b);
    const pkg = b.component.locked.pythonPackage;
    if (pkg) {
      const tree = join(b.stage, 'python');
      let record = await layOutPythonPackage(b.component.sourceDir, pkg, tree);
      if (!b.ctx.plan.lock.systemApache) record = await recordApxsAnswers(tree, record, join(b.stage, 'bin', 'apxs'), b.ctx.options.env);
      b.ctx.log.write(
        `python-package: ${record.files.length} files of ${pkg.distribution} ${pkg.version} laid out (layout ${pkg.layout.versions})\n`,
      );
    }
    const changed = changedEntries(before, await snapshotStage(b.stage));
    phase(b, 'store', `${changed.length} entries`);
    const layer = await storeLayer(b.ctx.store, b.component, b.stage, changed, (Date.now() - started) / 1000);
    logHeader(b.ctx.log, `${label(b, 'layer')}: ${layer.record.files.length} entries, ${layer.record.bytes} bytes, stored as ${layer.record.key}`);
    return layer;
  });
}

/** The files the recipe promises (`provides`) are in the stage: a skipped module is caught here, not at verify. */
async function checkProvides(b: ComponentBuild): Promise<void> {
  const missing: string[] = [];
  for (const file of b.component.locked.provides) if (!(await stat(join(b.stage, file)).catch(() => undefined))) missing.push(file);
  logHeader(
    b.ctx.log,
    `${label(b, 'check')}: ${b.component.locked.provides.length - missing.length}/${b.component.locked.provides.length} expected files present`,
  );
  if (missing.length > 0)
    throw new BuildStepError(
      `${b.component.name} ${b.component.version} installed without ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''}`,
      'read the configure output in the log: a module was probably skipped for a missing library',
      b.ctx.logFile,
      [],
    );
}

/** The source tree ready to configure (unpacked, patched): needs nothing built, so it runs while dependencies build. */
export async function prepareSource(b: ComponentBuild): Promise<number> {
  const started = Date.now();
  await unpack(b);
  await applyPatches(b);
  return Date.now() - started;
}

/** The whole build of one component from its prepared source: its phases in order, ending with its layer stored. */
export async function buildComponent(b: ComponentBuild, preparedMs: number): Promise<StoredLayer> {
  const started = Date.now() - preparedMs;
  await configure(b);
  await compile(b);
  const layer = await install(b, started);
  phase(b, 'done', `built in ${((Date.now() - started) / 1000).toFixed(1)} s, layer ${layer.record.key.slice(0, 12)} stored`);
  return layer;
}

/** A stored layer copied into the stage (relocated to its path, checked file by file) for what is built against it. */
export async function materialize(ctx: BuildContext, layer: StoredLayer, stage: string, turn: StageTurn): Promise<void> {
  await turn.run(async () => {
    // Documentation (the httpd manual: a third of httpd's layer) is never built against: not copied.
    const docs = ctx.plan.lock.components.find((c) => c.name === layer.record.component)?.docs ?? [];
    const stats = await relocateTree(layer.tree, layer.record.placeholder, stage, {
      entries: layer.record.files,
      layer: `layer ${layer.record.component} ${layer.record.version} (${layer.record.key.slice(0, 12)})`,
      skip: under(docs),
    });
    ctx.log.write(
      `stage: ${layer.record.component} ${layer.record.version} from the store (${stats.files} files) for the components built against it\n`,
    );
  });
}

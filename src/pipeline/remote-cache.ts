/**
 * The remote-cache stage (--cache-from, --cache-to): before compiling a layer the store lacks, look it up by its key in
 * each registry given; after a build, push its stack. A registry that cannot be reached, refuses the credentials or
 * fails (401, 404 for the repository, 5xx) costs one warning line and a local build, never a failed build; a layer
 * that does not match its digest or its manifest is not installed and is built locally. --offline never asks.
 */
import { isToolchainError } from '../errors.js';
import { RegistryClient } from '../registry/client.js';
import { isRegistryError, registryFailureLine } from '../registry/errors.js';
import { formatReference, parseReference } from '../registry/reference.js';
import { forEachLimit } from '../util/parallel.js';
import { pullLayer, pushStack, type StackPush } from '../store/remote.js';
import type { StoredLayer } from '../store/store.js';
import type { BuildContext } from './context.js';
import type { PlannedComponent } from './plan.js';

function client(ctx: BuildContext, ref: string): RegistryClient {
  return new RegistryClient(parseReference(ref), {
    env: ctx.options.env,
    insecure: ctx.options.insecureRegistry ?? false,
    log: (line) => ctx.log.write(`registry: ${line}\n`),
  });
}

const warn = (ctx: BuildContext, text: string) => {
  ctx.log.write(`${text}\n`);
  ctx.events.send({ type: 'note', text: `warning: ${text}` });
};

const pullsInFlight = 3;

/** Brings into the store the layers of `missing` that a --cache-from registry has; returns them by component. */
export async function pullLayers(ctx: BuildContext, missing: PlannedComponent[]): Promise<Map<string, StoredLayer>> {
  const pulled = new Map<string, StoredLayer>();
  const refs = ctx.options.cacheFrom ?? [];
  if (refs.length === 0 || missing.length === 0) return pulled;
  if (ctx.options.offline) {
    ctx.events.send({
      type: 'note',
      text: `--offline: ${refs.join(', ')} not asked for the ${missing.length} missing layer(s); they are built here`,
    });
    return pulled;
  }
  for (const ref of refs) {
    const wanted = missing.filter((c) => !pulled.has(c.name));
    if (wanted.length === 0) break;
    const origin = formatReference(parseReference(ref));
    const registry = client(ctx, ref);
    // A few layers at once: each is a download, a gunzip and a hash of every file, which overlap well.
    let unreachable = false;
    await forEachLimit(wanted, pullsInFlight, async (c) => {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      if (unreachable) return;
      ctx.events.send({ type: 'component', name: c.name, version: c.version, phase: 'pull', detail: origin });
      try {
        const outcome = await pullLayer(registry, ctx.store, c.layerKey, origin);
        if ('layer' in outcome) {
          pulled.set(c.name, outcome.layer);
          ctx.log.write(`registry: ${c.name} ${c.version} layer ${c.layerKey} pulled from ${origin}\n`);
          ctx.events.send({
            type: 'component',
            name: c.name,
            version: c.version,
            phase: 'stored',
            detail: `pulled from ${origin}, every file checked`,
          });
          return;
        }
        if ('refused' in outcome) warn(ctx, `${outcome.refused}; building it locally`);
        ctx.events.send({ type: 'component', name: c.name, version: c.version, phase: 'queued' });
      } catch (error) {
        ctx.events.send({ type: 'component', name: c.name, version: c.version, phase: 'queued' });
        if (isRegistryError(error) && error.kind !== 'digest') {
          // The registry as a whole is out of reach (down, credentials, 5xx): one line, then build locally.
          if (!unreachable) warn(ctx, `remote cache ${origin} skipped: ${registryFailureLine(error)}; building locally`);
          unreachable = true;
          return;
        }
        if (isToolchainError(error)) {
          // This layer's bytes do not match (its digest or its own manifest): never installed.
          warn(ctx, `layer ${c.name} ${c.version} from ${origin} was refused: ${error.message.split('\n')[0]}; building it locally`);
          return;
        }
        throw error;
      }
    });
  }
  return pulled;
}

/** --cache-to: the stack this build made, pushed (blobs the registry has are not sent again). A failure is a warning. */
export async function pushAfterBuild(
  ctx: BuildContext,
  layers: StoredLayer[],
  python: Parameters<typeof pushStack>[2]['python'],
): Promise<StackPush | undefined> {
  const ref = ctx.options.cacheTo;
  if (!ref) return undefined;
  if (ctx.options.offline) {
    ctx.events.send({ type: 'note', text: `--offline: nothing pushed to ${ref}` });
    return undefined;
  }
  const parsed = parseReference(ref);
  try {
    const pushed = await pushStack(client(ctx, ref), ctx.store, { key: ctx.plan.key, lock: ctx.plan.lock, layers, python }, parsed.tag ?? 'latest');
    const uploaded = pushed.layers.filter((l) => l.outcome !== 'exists');
    ctx.events.send({
      type: 'note',
      text: `pushed to ${formatReference(parsed)}: ${uploaded.length} of ${pushed.layers.length} layers uploaded (${uploaded.map((l) => l.component).join(', ') || 'the registry had them all'})`,
    });
    return pushed;
  } catch (error) {
    if (!isToolchainError(error)) throw error;
    warn(
      ctx,
      `--cache-to ${formatReference(parsed)} failed: ${isRegistryError(error) ? registryFailureLine(error) : error.message}; the build itself is done`,
    );
    return undefined;
  }
}

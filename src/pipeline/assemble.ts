/**
 * The assemble stage: the stack directory made from its layers, in order, each relocated from its placeholder to the
 * stack's path and checked against its manifest file by file while it is copied. A later layer's file replaces an
 * earlier one's. What the recipes list as documentation (`docs`: the httpd manual, icons, man pages) is left out
 * unless --with-manual.
 */
import { mkdir, rm } from 'node:fs/promises';
import { fromSystemError } from '../errors.js';
import { relocateTree, type RelocateStats } from '../install/relocate.js';
import type { StoredLayer } from '../store/store.js';
import type { BuildContext } from './context.js';

export function layerName(layer: StoredLayer): string {
  return `layer ${layer.record.component} ${layer.record.version} (${layer.record.key.slice(0, 12)}) in ${layer.dir}`;
}

/** Whether a layer path is one of `dirs` or below one (the recipe's `docs`). */
export function under(dirs: string[]): (rel: string) => boolean {
  return (rel) => dirs.some((d) => rel === d || rel.startsWith(`${d}/`));
}

export async function assembleStack(ctx: BuildContext, layers: StoredLayer[], root: string): Promise<RelocateStats> {
  const total: RelocateStats = { files: 0, textFiles: 0, binaryFiles: 0, runpaths: 0, bytes: 0 };
  await rm(root, { recursive: true, force: true });
  await mkdir(root, { recursive: true });
  for (const layer of layers) {
    const docs = ctx.options.withManual ? [] : (ctx.plan.lock.components.find((c) => c.name === layer.record.component)?.docs ?? []);
    const skip = under(docs);
    let stats: RelocateStats;
    try {
      stats = await relocateTree(layer.tree, layer.record.placeholder, root, { entries: layer.record.files, layer: layerName(layer), skip });
    } catch (error) {
      // Named now, while the disk is as it failed: once the half stack is removed, a full disk no longer shows.
      throw fromSystemError(error) ?? error;
    }
    for (const k of Object.keys(total) as (keyof RelocateStats)[]) total[k] += stats[k];
    await ctx.store.touch(layer.record.key);
  }
  return total;
}

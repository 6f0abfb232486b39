/**
 * The assemble stage: the stack directory made from its layers, in order, each relocated from its placeholder to the
 * stack's path and checked against its manifest file by file while it is copied. A later layer's file replaces an
 * earlier one's. What the recipes list as documentation (`docs`: the httpd manual, icons, man pages) is left out
 * unless --with-manual.
 *
 * The layer that carries the Python package goes first when no other layer has a file at its paths (or a directory
 * of another mode): order then changes nothing in the stack, and the package step can start while the other layers
 * are copied (onPlaced).
 */
import { mkdir, rm } from 'node:fs/promises';
import { fromSystemError } from '../errors.js';
import { relocateTree, type RelocateStats } from '../install/relocate.js';
import { LayerIntegrityError } from '../store/manifest.js';
import type { StoredLayer } from '../store/store.js';
import type { BuildContext } from './context.js';

export function layerName(layer: StoredLayer): string {
  return `layer ${layer.record.component} ${layer.record.version} (${layer.record.key.slice(0, 12)}) in ${layer.dir}`;
}

/** Whether a layer path is one of `dirs` or below one (the recipe's `docs`). */
export function under(dirs: string[]): (rel: string) => boolean {
  return (rel) => dirs.some((d) => rel === d || rel.startsWith(`${d}/`));
}

export interface AssembleHooks {
  /** The component to place first when that changes nothing (the one that carries the Python package). */
  first?: string;
  /** Called when a layer's files are all in place. */
  onPlaced?: (component: string) => void;
}

export async function assembleStack(ctx: BuildContext, layers: StoredLayer[], root: string, hooks: AssembleHooks = {}): Promise<RelocateStats> {
  const total: RelocateStats = { files: 0, textFiles: 0, binaryFiles: 0, runpaths: 0, bytes: 0 };
  await rm(root, { recursive: true, force: true });
  await mkdir(root, { recursive: true });
  const links = new Set<string>(); // the symbolic links placed so far, and the current layer's
  for (const layer of placementOrder(layers, hooks.first)) {
    const docs = ctx.options.withManual ? [] : (ctx.plan.lock.components.find((c) => c.name === layer.record.component)?.docs ?? []);
    const skip = under(docs);
    refuseThroughLinks(layer, skip, links);
    let stats: RelocateStats;
    try {
      stats = await relocateTree(layer.tree, layer.record.placeholder, root, { entries: layer.record.files, layer: layerName(layer), skip });
    } catch (error) {
      // Named now, while the disk is as it failed: once the half stack is removed, a full disk no longer shows.
      throw fromSystemError(error) ?? error;
    }
    for (const k of Object.keys(total) as (keyof RelocateStats)[]) total[k] += stats[k];
    await ctx.store.touch(layer.record.key);
    hooks.onPlaced?.(layer.record.component);
  }
  return total;
}

/**
 * Each layer passes its own manifest check, but two could still be spliced: a link `x -> /elsewhere` in one and a file
 * `x/f` in a later one would be written through the link. No entry may lie below a link of its own or an earlier layer.
 */
export function refuseThroughLinks(layer: StoredLayer, skip: (rel: string) => boolean, links: Set<string>): void {
  const entries = layer.record.files.filter((e) => !skip(e.path));
  for (const e of entries) if (e.type === 'symlink') links.add(e.path);
  for (const e of entries) {
    for (let slash = e.path.indexOf('/'); slash !== -1; slash = e.path.indexOf('/', slash + 1)) {
      const above = e.path.slice(0, slash);
      if (links.has(above)) throw new LayerIntegrityError(layerName(layer), e.path, `lies below ${above}, a symbolic link in the stack`);
    }
    if (e.type === 'dir' && links.has(e.path))
      throw new LayerIntegrityError(layerName(layer), e.path, 'is a directory where the stack has a symbolic link');
  }
}

/** The layers in stack order, or with `first` moved to the front when no other layer shares a path with it. */
export function placementOrder(layers: StoredLayer[], first: string | undefined): StoredLayer[] {
  const lead = layers.find((l) => l.record.component === first);
  if (!lead || lead === layers[0]) return layers;
  const paths = new Map(lead.record.files.map((e) => [e.path, e]));
  const clash = layers.some(
    (other) =>
      other !== lead &&
      other.record.files.some((e) => {
        const mine = paths.get(e.path);
        return mine !== undefined && (mine.type !== 'dir' || e.type !== 'dir' || mine.mode !== e.mode);
      }),
  );
  return clash ? layers : [lead, ...layers.filter((l) => l !== lead)];
}

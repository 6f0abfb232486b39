/**
 * `cache list` and `cache prune`: the store's layers with their size, last use and the live prefixes that use them.
 * A prefix counts as live while its stack (read from the prefix itself, not from the record) still lists the layer;
 * prune never removes such a layer, and --dry-run removes nothing at all. Prune also keeps only the most recent build
 * logs (every build writes one; a failed build's message names its log, a successful one is copied into the prefix).
 */
import { lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { inspectPrefix } from '../install/prefix.js';
import { ownDirPresent, treeBytes } from '../util/fs.js';
import type { Store, StoredLayer, StackRecord } from './store.js';

export interface LayerUse {
  key: string;
  component: string;
  version: string;
  bytes: number;
  diskBytes: number;
  lastUsed: string;
  /** Live prefixes whose stack has this layer. */
  usedBy: string[];
}

export interface StoreListing {
  root: string;
  layers: LayerUse[];
  stacks: (StackRecord & { usedBy: string[] })[];
}

/** The prefixes whose live stack is what their use record says (records of prefixes gone or rebuilt are stale). */
async function liveUses(store: Store): Promise<{ prefix: string; layers: string[]; stack: string }[]> {
  const live: { prefix: string; layers: string[]; stack: string }[] = [];
  for (const use of await store.uses()) {
    const state = await inspectPrefix(use.prefix).catch(() => undefined);
    const manifest = state?.liveManifest;
    if (!manifest || !Array.isArray(manifest.layers)) continue;
    live.push({ prefix: use.prefix, stack: manifest.key, layers: manifest.layers.map((l) => l.key) });
  }
  return live;
}

function describe(layer: StoredLayer, usedBy: string[], diskBytes: number): LayerUse {
  return {
    key: layer.record.key,
    component: layer.record.component,
    version: layer.record.version,
    bytes: layer.record.bytes,
    diskBytes,
    lastUsed: layer.lastUsed.toISOString(),
    usedBy,
  };
}

export async function listStore(store: Store): Promise<StoreListing> {
  const live = await liveUses(store);
  const layers = await store.layers();
  const out: LayerUse[] = [];
  for (const l of layers)
    out.push(
      describe(
        l,
        live.filter((u) => u.layers.includes(l.record.key)).map((u) => u.prefix),
        await treeBytes(l.dir),
      ),
    );
  out.sort((a, b) => (a.component === b.component ? (a.lastUsed < b.lastUsed ? 1 : -1) : a.component < b.component ? -1 : 1));
  const stacks = (await store.stacks()).map((s) => ({ ...s, usedBy: live.filter((u) => u.stack === s.key).map((u) => u.prefix) }));
  return { root: store.root, layers: out, stacks };
}

export interface PruneResult {
  dryRun: boolean;
  removed: LayerUse[];
  kept: LayerUse[];
  freedBytes: number;
  /** Build logs beyond the most recent `keptBuildLogs`. */
  logs: { removed: string[]; freedBytes: number };
}

export const keptBuildLogs = 20;

/** The store's build logs (regular files only), newest first: their names start with the build's start time. */
async function buildLogs(store: Store): Promise<{ path: string; bytes: number }[]> {
  const dir = join(store.root, 'logs');
  if (!(await ownDirPresent(dir))) return []; // and a link there is refused: nothing is removed through it
  const names = (await readdir(dir))
    .filter((n) => /^build-.*\.log$/.test(n))
    .sort()
    .reverse();
  const logs: { path: string; bytes: number }[] = [];
  for (const name of names) {
    const info = await lstat(join(dir, name)).catch(() => undefined);
    if (info?.isFile()) logs.push({ path: join(dir, name), bytes: info.size });
  }
  return logs;
}

/**
 * Removes the layers no live prefix uses, keeping the `keep` most recently used of each component besides. Stack
 * records whose layers are gone go too, and so do the use records of prefixes that no longer have their stack.
 */
export async function pruneStore(store: Store, opts: { keep: number; dryRun: boolean }): Promise<PruneResult> {
  const listing = await listStore(store);
  const removed: LayerUse[] = [];
  const kept: LayerUse[] = [];
  const unusedSeen = new Map<string, number>();
  for (const layer of listing.layers) {
    if (layer.usedBy.length > 0) {
      kept.push(layer);
      continue;
    }
    const seen = unusedSeen.get(layer.component) ?? 0;
    unusedSeen.set(layer.component, seen + 1);
    (seen < opts.keep ? kept : removed).push(layer);
  }
  const oldLogs = (await buildLogs(store)).slice(keptBuildLogs);
  if (!opts.dryRun) {
    for (const log of oldLogs) await rm(log.path, { force: true });
    for (const layer of removed) await store.discardLayer(layer.key);
    const left = new Set(kept.map((l) => l.key));
    for (const stack of listing.stacks) if (stack.layers.some((l) => !left.has(l.key))) await store.removeStack(stack.key);
    const live = new Set((await liveUses(store)).map((u) => u.prefix));
    for (const use of await store.uses()) if (!live.has(use.prefix)) await store.forgetUse(use.prefix);
  }
  return {
    dryRun: opts.dryRun,
    removed,
    kept,
    freedBytes: removed.reduce((sum, l) => sum + l.diskBytes, 0),
    logs: { removed: oldLogs.map((l) => l.path), freedBytes: oldLogs.reduce((sum, l) => sum + l.bytes, 0) },
  };
}

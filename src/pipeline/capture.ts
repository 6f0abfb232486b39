/**
 * Capturing a layer: what one component's `make install` (and its Python package layout) added or changed in the
 * stage is that component's layer. The stage is snapshotted just before and just after the install (installs into
 * one stage never overlap: they take turns through `stageTurn`), the difference is copied into a fresh directory in
 * the store's tmp/, described file by file, and renamed into the store complete.
 */
import type { Stats } from 'node:fs';
import { copyFile, lstat, mkdir, readlink, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { hostRunsOn } from '../store/keys.js';
import { describeTree, walkTree } from '../store/manifest.js';
import { layerFormat, type LayerRecord, type Store, type StoredLayer } from '../store/store.js';
import { toolVersion } from '../version.js';
import type { PlannedComponent } from './plan.js';

export type Snapshot = Map<string, string>;

function signature(st: Stats): string {
  return `${st.isSymbolicLink() ? 'l' : st.isDirectory() ? 'd' : 'f'}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}:${st.mode}`;
}

export async function snapshotStage(stage: string): Promise<Snapshot> {
  const snap: Snapshot = new Map();
  await mkdir(stage, { recursive: true });
  await walkTree(stage, async (rel, st) => {
    snap.set(rel, signature(st));
  });
  return snap;
}

/** Entries new or changed between two snapshots (directories only when new: existing ones are shared parents). */
export function changedEntries(before: Snapshot, after: Snapshot): string[] {
  const out: string[] = [];
  for (const [rel, sig] of after) {
    const old = before.get(rel);
    if (old === sig) continue;
    if (sig.startsWith('d:') && old?.startsWith('d:')) continue;
    out.push(rel);
  }
  return out.sort();
}

/** One install into the stage at a time (and no dependency layer copied in meanwhile): snapshots stay exact. */
export class StageTurn {
  private tail: Promise<void> = Promise.resolve();
  async run<T>(fn: () => Promise<T>): Promise<T> {
    const previous = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => {
      release = r;
    });
    await previous;
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

/** Copies the changed entries (with every parent directory) from the stage into a new layer and stores it. */
export async function storeLayer(
  store: Store,
  component: PlannedComponent,
  stage: string,
  changed: string[],
  buildSeconds: number,
): Promise<StoredLayer> {
  const temp = await store.tempDir(`layer-${component.name}`);
  const tree = join(temp, 'tree');
  await mkdir(tree);
  const madeDirs = new Set<string>();
  const ensureParents = async (rel: string) => {
    const parts = rel.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (madeDirs.has(dir)) continue;
      const st = await lstat(join(stage, dir));
      await mkdir(join(tree, dir), { mode: st.mode & 0o7777 });
      madeDirs.add(dir);
    }
  };
  for (const rel of changed) {
    const src = join(stage, rel);
    const st = await lstat(src);
    await ensureParents(rel);
    if (st.isDirectory()) {
      if (!madeDirs.has(rel)) await mkdir(join(tree, rel), { mode: st.mode & 0o7777 });
      madeDirs.add(rel);
    } else if (st.isSymbolicLink()) await symlink(await readlink(src), join(tree, rel));
    else if (st.isFile()) await copyFile(src, join(tree, rel));
  }
  const files = await describeTree(tree);
  const record: LayerRecord = {
    format: layerFormat,
    key: component.layerKey,
    component: component.name,
    version: component.version,
    inputs: component.layerInputs as unknown as Record<string, unknown>,
    placeholder: stage,
    files,
    bytes: files.reduce((sum, f) => sum + (f.size ?? 0), 0),
    createdAt: new Date().toISOString(),
    buildSeconds,
    runsOn: hostRunsOn(),
    tool: `wsgi-httpd ${toolVersion}`,
  };
  return store.commitLayer(temp, record);
}

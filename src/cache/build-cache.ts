import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Lock } from '../resolve/lock.js';

/**
 * Finished builds, keyed by every input that can change their bytes (see buildKey). Each entry is the installed tree
 * exactly as built in its placeholder directory, plus the placeholder string, so it can be relocated into any prefix.
 */
export interface CachedBuild {
  key: string;
  tree: string;
  placeholder: string;
  createdAt: string;
  lastUsedAt?: string;
  bytes: number;
  components: { name: string; version: string }[];
  python: string;
}

const entryDir = (cacheDir: string, key: string) => join(cacheDir, 'builds', key);

export async function lookupBuild(cacheDir: string, key: string): Promise<CachedBuild | undefined> {
  try {
    const meta = JSON.parse(await readFile(join(entryDir(cacheDir, key), 'meta.json'), 'utf8')) as CachedBuild;
    await stat(join(entryDir(cacheDir, key), 'tree'));
    return { ...meta, tree: join(entryDir(cacheDir, key), 'tree') };
  } catch {
    return undefined;
  }
}

async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name))).size;
  }
  return total;
}

/** Moves a finished placeholder tree into the cache (a rename: both live under the cache directory). */
export async function storeBuild(cacheDir: string, key: string, placeholderTree: string, lock: Lock): Promise<CachedBuild> {
  const dir = entryDir(cacheDir, key);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await rename(placeholderTree, join(dir, 'tree'));
  const meta: CachedBuild = {
    key,
    tree: join(dir, 'tree'),
    placeholder: placeholderTree,
    createdAt: new Date().toISOString(),
    bytes: await treeBytes(join(dir, 'tree')),
    components: lock.components.map((c) => ({ name: c.name, version: c.version })),
    python: `${lock.python.executable} ${lock.python.version}`,
  };
  await writeFile(join(dir, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
  return meta;
}

export async function touchBuild(cacheDir: string, entry: CachedBuild): Promise<void> {
  const { tree: _tree, ...meta } = entry;
  await writeFile(
    join(entryDir(cacheDir, entry.key), 'meta.json'),
    `${JSON.stringify({ ...meta, lastUsedAt: new Date().toISOString() }, null, 2)}\n`,
  );
}

export async function listBuilds(cacheDir: string): Promise<CachedBuild[]> {
  let keys: string[] = [];
  try {
    keys = await readdir(join(cacheDir, 'builds'));
  } catch {
    return [];
  }
  const entries = await Promise.all(keys.map((key) => lookupBuild(cacheDir, key)));
  return entries
    .filter((e): e is CachedBuild => e !== undefined)
    .sort((a, b) => ((a.lastUsedAt ?? a.createdAt) < (b.lastUsedAt ?? b.createdAt) ? 1 : -1));
}

/** Keeps the `keep` most recently used builds (and downloads untouched); returns what was removed. */
export async function pruneBuilds(cacheDir: string, keep: number): Promise<CachedBuild[]> {
  const entries = await listBuilds(cacheDir);
  const removed = entries.slice(keep);
  for (const entry of removed) await rm(entryDir(cacheDir, entry.key), { recursive: true, force: true });
  return removed;
}

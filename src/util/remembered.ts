/**
 * Answers kept between runs (in the store's facts/ directory): each file holds one answer under a key that names
 * everything the answer depends on, so a changed input is simply a different key. Only a cache: a file that cannot be
 * read or written means asking again. Keys are `hashOf` (src/util/hash-of.ts) of those inputs.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureOwnDir, writeAtomic } from './fs.js';

/** What changes when a file is replaced (a package upgrade) or edited: size, mtime, inode; null when it is absent. */
export async function fileStamp(path: string): Promise<{ size: number; mtimeMs: number; ino: number } | null> {
  const st = await stat(path).catch(() => undefined);
  return st ? { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino } : null;
}

/** Where answers are kept; `readOnly` for a run that promises to write nothing (a dry run, `lock`): it only reads. */
export interface FactsCache {
  dir: string;
  readOnly?: boolean;
}

const fileOf = (dir: string, kind: string, key: string) => join(dir, `${kind}-${key.slice(0, 32)}.json`);

export async function recall<T>(cache: FactsCache, kind: string, key: string): Promise<T | undefined> {
  try {
    const saved = JSON.parse(await readFile(fileOf(cache.dir, kind, key), 'utf8')) as { key?: string; value?: T };
    return saved.key === key ? saved.value : undefined;
  } catch {
    return undefined;
  }
}

export async function remember(cache: FactsCache, kind: string, key: string, value: unknown): Promise<void> {
  if (cache.readOnly) return;
  try {
    await ensureOwnDir(cache.dir); // a symlink planted there is refused, as for every directory of the store
    await writeAtomic(fileOf(cache.dir, kind, key), `${JSON.stringify({ key, value }, null, 2)}\n`);
  } catch {
    // a read-only or full store: the answer is asked again next time
  }
}

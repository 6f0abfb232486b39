import { randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { lstat, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '../errors.js';

/**
 * A name beside `path` for writing it before it is renamed into place: never predictable (another user who can write
 * that directory cannot plant a link there first), to be created exclusively (flag 'wx').
 */
export function partialName(path: string): string {
  return `${path}.partial-${randomBytes(6).toString('hex')}`;
}

/** The entry itself exists (a dangling symlink counts). */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** The path resolves, through any symlinks, to something that exists. */
export async function targetExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** The path resolves to a regular file. */
export async function isRegularFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

function notOwnDir(path: string, st: Stats): UsageError {
  return new UsageError(
    `${path} is ${st.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}, where wsgi-toolchain keeps a directory of its own`,
    'remove or move it away (the tool never writes or deletes through a link it did not make), then run the command again',
  );
}

/**
 * Makes sure `path` is a real directory of ours, creating it (and its parents) when missing. A symlink or another
 * kind of file there is refused (exit 2, naming it): the tool never writes or deletes through a link it did not make.
 */
export async function ensureOwnDir(path: string, mode = 0o755): Promise<void> {
  await mkdir(path, { recursive: true, mode });
  const st = await lstat(path);
  if (st.isSymbolicLink() || !st.isDirectory()) throw notOwnDir(path, st);
}

/** Whether `path` is there as a real directory of ours (false when missing); a symlink or a file there is refused. */
export async function ownDirPresent(path: string): Promise<boolean> {
  const st = await lstat(path).catch(() => undefined);
  if (!st) return false;
  if (st.isSymbolicLink() || !st.isDirectory()) throw notOwnDir(path, st);
  return true;
}

/** Bytes of every file and link under `path` (not following links), like `du --apparent-size`. */
export async function treeBytes(path: string): Promise<number> {
  const st = await lstat(path).catch(() => undefined);
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  let total = 0;
  for (const name of await readdir(path)) total += await treeBytes(join(path, name));
  return total;
}

/** Writes by temp file and rename: a reader sees the old text or the new, never half of it. */
export async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await writeFile(tmp, text, { flag: 'wx' });
  try {
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

/**
 * Whether another user than the caller could change a path or what leads to it: the check sshd's StrictModes makes.
 * Node has no openat(2), so a path cannot be pinned while the tool works in it; its owners and modes can be checked.
 */
import type { Stats } from 'node:fs';
import { lstat, realpath } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';

/** The directories from / down to `path`, each as given (no symlink resolved). */
function chain(path: string): string[] {
  const parts = path.split(sep).filter(Boolean);
  return ['/', ...parts.map((_, i) => `/${parts.slice(0, i + 1).join('/')}`)];
}

/** The real path of `path`, or of its nearest existing ancestor joined with the rest. */
async function realPathOf(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    const parent = dirname(path);
    return parent === path ? path : join(await realPathOf(parent), path.slice(parent.length));
  }
}

/**
 * Why another user than `owner` could change `path` (or any of `paths`) or what leads to it: the first directory on its
 * way (as given, and on its real path) owned by someone else, or writable by group or others without the sticky bit, or
 * a symbolic link owned by someone else. Undefined when none can. Directories the paths share are looked at once.
 */
export async function writableByOthers(paths: string | string[], owner: number): Promise<string | undefined> {
  const seen = new Map<string, Stats | undefined>();
  for (const path of typeof paths === 'string' ? [paths] : paths) {
    const absolute = resolve(path);
    for (const dirs of [chain(absolute), chain(await realPathOf(absolute))]) {
      for (const dir of dirs) {
        if (!seen.has(dir)) seen.set(dir, await lstat(dir).catch(() => undefined));
        const st = seen.get(dir);
        if (!st) break; // not there yet: created by us
        if (st.isSymbolicLink()) {
          if (st.uid !== owner) return `${dir} is a symbolic link owned by uid ${st.uid}, who can point it elsewhere`;
          continue;
        }
        if (st.uid !== owner) return `${dir} is owned by uid ${st.uid}`;
        const otherWrite = st.mode & 0o022;
        if (otherWrite && !(st.mode & 0o1000))
          return `${dir} is writable by ${otherWrite & 0o002 ? 'others' : 'its group'} (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}) without the sticky bit`;
      }
    }
  }
  return undefined;
}

/**
 * Whether `path`, links resolved, lies inside `root` (links resolved): a virtualenv's site-packages must be its own,
 * not a link to another venv's or to any other directory.
 */
export async function insideRealPath(path: string, root: string): Promise<boolean> {
  const [realRoot, real] = await Promise.all([realPathOf(resolve(root)), realPathOf(resolve(path))]);
  return real.startsWith(`${realRoot}${sep}`);
}

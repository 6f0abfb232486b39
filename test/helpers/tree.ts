import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join, relative } from 'node:path';

/** Every path under dir with a digest of its content (or link target): two equal snapshots mean an identical tree. */
export async function snapshotTree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (path: string): Promise<void> => {
    const stat = await lstat(path);
    const key = relative(dir, path) || '.';
    if (stat.isSymbolicLink()) out[key] = `link:${await readlink(path)}`;
    else if (stat.isDirectory()) {
      out[key] = `dir:${stat.mode.toString(8)}`;
      for (const name of (await readdir(path)).sort()) await walk(join(path, name));
    } else
      out[key] = `file:${stat.mode.toString(8)}:${createHash('sha256')
        .update(await readFile(path))
        .digest('hex')}`;
  };
  await walk(dir);
  return out;
}

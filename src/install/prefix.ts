import { lstat, mkdir, readFile, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { UsageError } from '../errors.js';
import type { Lock } from '../resolve/lock.js';
import { prefixLayout, type PrefixLayout } from '../plan/plan.js';
import { pathExists } from '../util/fs.js';

export interface Manifest {
  tool: string;
  key: string;
  stackId: string;
  createdAt: string;
  lock: Lock;
  /** Per component: seconds spent. */
  timings: Record<string, number>;
}

export interface PrefixState {
  exists: boolean;
  /** The stack id <prefix>/httpd points at, when it is ours. */
  liveStackId?: string;
  liveManifest?: Manifest;
}

/** Reads what is installed; refuses a prefix whose httpd entry is not ours, before anything is touched. */
export async function inspectPrefix(prefix: string): Promise<PrefixState> {
  if (!(await pathExists(prefix))) return { exists: false };
  const link = join(prefix, 'httpd');
  let stat;
  try {
    stat = await lstat(link);
  } catch {
    return { exists: true };
  }
  if (!stat.isSymbolicLink()) {
    throw new UsageError(
      `${link} exists and was not made by wsgi-toolchain`,
      'choose another --prefix, or move that directory away first (the tool never overwrites files it did not install)',
    );
  }
  const target = await readlink(link);
  const stackId = basename(target);
  if (!target.startsWith(join('.wsgi-httpd', 'stacks'))) {
    throw new UsageError(`${link} points at ${target}, not at a wsgi-toolchain stack`, 'choose another --prefix, or remove that link first');
  }
  const layout = prefixLayout(prefix, stackId);
  try {
    const liveManifest = JSON.parse(await readFile(layout.manifestFile, 'utf8')) as Manifest;
    return { exists: true, liveStackId: stackId, liveManifest };
  } catch {
    return { exists: true, liveStackId: stackId };
  }
}

export async function writeFileAtomic(path: string, data: string): Promise<void> {
  const temporary = `${path}.tmp-${process.pid}`;
  await writeFile(temporary, data);
  await rename(temporary, path);
}

/**
 * Makes the freshly built stack the live one in a single rename of a symlink, then records the lock beside it and
 * removes the stack it replaced. Before the rename the old installation is untouched; after it, the new one is whole.
 */
export async function activateStack(layout: PrefixLayout, lockText: string, previousStackId?: string): Promise<void> {
  const temporaryLink = join(layout.stateDir, `httpd.link-${process.pid}`);
  await rm(temporaryLink, { force: true });
  await symlink(relative(dirname(layout.link), layout.root), temporaryLink);
  await rename(temporaryLink, layout.link);
  await writeFileAtomic(layout.lockFile, lockText);
  if (previousStackId && previousStackId !== layout.stackId) {
    await rm(prefixLayout(layout.prefix, previousStackId).root, { recursive: true, force: true });
  }
}

/** Stack directories other than the live one are leftovers of killed builds: safe to delete. */
export async function removeStaleStacks(layout: PrefixLayout, keep: string[]): Promise<void> {
  const { readdir } = await import('node:fs/promises');
  const stacks = join(layout.stateDir, 'stacks');
  let names: string[] = [];
  try {
    names = await readdir(stacks);
  } catch {
    return;
  }
  await Promise.all(names.filter((n) => !keep.includes(n)).map((n) => rm(join(stacks, n), { recursive: true, force: true })));
}

export async function ensureDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true });
}

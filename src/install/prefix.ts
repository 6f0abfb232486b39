import { randomBytes } from 'node:crypto';
import { lstat, readdir, readFile, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { UsageError } from '../errors.js';
import type { Lock } from '../resolve/lock.js';
import { writeAtomic } from '../util/fs.js';
import { ensureOwnDir, pathExists } from '../util/fs.js';
import { type PrefixLayout, prefixLayout, stateDirName } from './layout.js';

/** The stack's own record (`<stack>/.wsgi-toolchain-manifest.json`): what it is made of and how it was built. */
export interface Manifest {
  tool: string;
  /** The stack key. */
  key: string;
  stackId: string;
  createdAt: string;
  lock: Lock;
  /** The stack's layers, in order. */
  layers: { component: string; version: string; key: string }[];
  /** Per component: seconds its build took in this build (0: it came from the store). */
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
  if (!target.startsWith(join(stateDirName, 'stacks'))) {
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

/** Writes through a temp file created exclusively beside the target (never a predictable name), then renames. */
export const writeFileAtomic = writeAtomic;

/**
 * A lock file place the tool cannot write its lock to without replacing something it did not make: a directory, a
 * symlink, or anything but a regular file. Refused with exit 2 naming it (plan time and again right before the switch).
 */
export async function foreignLockFile(layout: PrefixLayout): Promise<UsageError | undefined> {
  const st = await lstat(layout.lockFile).catch(() => undefined);
  if (!st || st.isFile()) return undefined;
  return new UsageError(
    `${layout.lockFile} exists and was not written by wsgi-toolchain (it is ${st.isSymbolicLink() ? 'a symbolic link' : st.isDirectory() ? 'a directory' : 'not a regular file'})`,
    'move it away (the build writes the lock of the live stack there), then build again',
  );
}

/**
 * Makes the freshly built stack the live one in a single rename of a symlink, with the lock beside it, then removes
 * the stack it replaced. Whatever can fail is done first (the lock goes to a temp file beside its place, created
 * exclusively); when the lock cannot be moved into place after the switch, the previous link is put back. So on any
 * failure the prefix is as it was; after success, the new installation is whole.
 */
export async function activateStack(layout: PrefixLayout, lockText: string, previousStackId?: string): Promise<void> {
  await ensureOwnDir(layout.stateDir);
  const foreign = await foreignLockFile(layout);
  if (foreign) throw foreign;
  const lockTemp = `${layout.lockFile}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const temporaryLink = join(layout.stateDir, `httpd.link-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await writeFile(lockTemp, lockText, { flag: 'wx' });
    await symlink(relative(dirname(layout.link), layout.root), temporaryLink);
    await rename(temporaryLink, layout.link);
  } catch (error) {
    await rm(temporaryLink, { force: true });
    await rm(lockTemp, { force: true });
    throw error;
  }
  try {
    await rename(lockTemp, layout.lockFile);
  } catch (error) {
    await restoreLink(layout, previousStackId);
    await rm(lockTemp, { force: true });
    throw error;
  }
  if (previousStackId && previousStackId !== layout.stackId) {
    await rm(prefixLayout(layout.prefix, previousStackId).root, { recursive: true, force: true });
  }
}

/** Points <prefix>/httpd back at the previous stack (one rename again), or removes it when there was none. */
async function restoreLink(layout: PrefixLayout, previousStackId: string | undefined): Promise<void> {
  if (!previousStackId) {
    await rm(layout.link, { force: true });
    return;
  }
  const back = join(layout.stateDir, `httpd.link-${process.pid}-${randomBytes(4).toString('hex')}`);
  await symlink(relative(dirname(layout.link), prefixLayout(layout.prefix, previousStackId).root), back);
  await rename(back, layout.link);
}

/** Stack directories other than the live one are leftovers of killed builds: safe to delete (never through a link). */
export async function removeStaleStacks(layout: PrefixLayout, keep: string[]): Promise<void> {
  const names = await readdir(layout.stacksDir).catch(() => [] as string[]);
  await ensureOwnDir(layout.stacksDir);
  await Promise.all(names.filter((n) => !keep.includes(n)).map((n) => rm(join(layout.stacksDir, n), { recursive: true, force: true })));
}

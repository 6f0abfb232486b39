/**
 * Exclusive locks held by a build, pack or uninstall: one per prefix, kept inside the prefix at
 * `<real prefix>/.wsgi-httpd/lock`, so every path to the prefix (symlinks included) and every store directory meet the
 * same lock; and one per stage in the store.
 *
 * Taking a lock writes the owner record to a private temp file first and then hard-links it to the lock name: link(2)
 * fails when the name exists, and the record is complete the moment the lock exists. A record that names a process
 * gone from this host, or that cannot be read (an empty or damaged file a full disk left), is stale and taken over
 * with a line naming the lock file.
 */
import { randomBytes } from 'node:crypto';
import { link, readFile, realpath, rename, rmdir, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fromSystemError, LockedError } from '../errors.js';
import { ensureOwnDir } from '../util/fs.js';
import { processAlive } from '../util/process.js';

interface Owner {
  pid: number;
  host: string;
  started: string;
  what: string;
}

export interface LockOptions {
  /** How long to wait for the holder; 0 fails at once. */
  waitMs?: number;
  /** What holds it, for the message another process sees ("build of /srv/app"). */
  what: string;
  /** Told when a stale lock is taken over (one line naming the lock file). */
  onTakeover?: (line: string) => void;
  /** What to tell the user who waits in vain. */
  hint?: string;
}

export type Release = () => Promise<void>;

function parseOwner(text: string): Owner | undefined {
  try {
    const owner = JSON.parse(text) as Owner;
    return Number.isInteger(owner.pid) && owner.pid > 0 && typeof owner.host === 'string' ? owner : undefined;
  } catch {
    return undefined;
  }
}

/** Takes the lock file `file` (its directory must exist and be ours). */
export async function takeLock(file: string, opts: LockOptions): Promise<Release> {
  const owner: Owner = { pid: process.pid, host: hostname(), started: new Date().toISOString(), what: opts.what };
  const record = `${JSON.stringify(owner)}\n`;
  const deadline = Date.now() + (opts.waitMs ?? 0);
  for (;;) {
    const temp = join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}`);
    try {
      await writeFile(temp, record, { flag: 'wx', mode: 0o644 });
      try {
        await link(temp, file);
        return async () => {
          // Only our own record is removed (a lock taken over from us is someone else's now).
          if ((await readFile(file, 'utf8').catch(() => '')) === record) await unlink(file).catch(() => undefined);
        };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
    } catch (error) {
      const mapped = fromSystemError(error, { path: file, action: 'take the lock' });
      if (mapped) throw mapped;
      throw error;
    } finally {
      await unlink(temp).catch(() => undefined);
    }
    const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? undefined : ''));
    if (text === undefined) continue; // released meanwhile
    const holder = parseOwner(text);
    const stale = !holder
      ? 'its owner record is empty or damaged'
      : holder.host === hostname() && !processAlive(holder.pid)
        ? `process ${holder.pid} is gone`
        : undefined;
    if (stale) {
      if (await takeOver(file, text)) opts.onTakeover?.(`note: took over the stale lock ${file} (${stale})`);
      continue;
    }
    if (Date.now() >= deadline) {
      throw new LockedError(
        `${holder!.what || 'another wsgi-toolchain process'} holds ${file} (process ${holder!.pid} on ${holder!.host}, since ${holder!.started})`,
        opts.hint ??
          ((opts.waitMs ?? 0) > 0 ? 'it did not finish in time; try again later' : 'wait for it to finish, or pass --wait SECONDS to wait for it'),
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Moves a stale lock aside; puts it back when it turns out to be a fresh one that replaced the stale one meanwhile. */
async function takeOver(file: string, staleText: string): Promise<boolean> {
  const aside = `${file}.stale-${randomBytes(4).toString('hex')}`;
  try {
    await rename(file, aside);
  } catch {
    return false;
  }
  const moved = await readFile(aside, 'utf8').catch(() => '');
  if (moved !== staleText) {
    await link(aside, file).catch(() => undefined);
    await unlink(aside).catch(() => undefined);
    return false;
  }
  await unlink(aside).catch(() => undefined);
  return true;
}

/** The prefix's real path, also when it (or its last parts) does not exist yet. */
export async function realPrefix(prefix: string): Promise<string> {
  try {
    return await realpath(prefix);
  } catch {
    const parent = dirname(prefix);
    if (parent === prefix) return prefix;
    return join(await realPrefix(parent), basename(prefix));
  }
}

/**
 * Locks a prefix for a build, pack or uninstall: `<real prefix>/.wsgi-httpd/lock`. Creating `.wsgi-httpd` (and the
 * prefix) for it is reported through `created`, so a failed first build can remove them again.
 */
export async function lockPrefix(prefix: string, opts: LockOptions & { created?: string[] }): Promise<Release> {
  const real = await realPrefix(prefix);
  const stateDir = join(real, '.wsgi-httpd');
  const missing: string[] = [];
  for (let dir = stateDir; ; dir = dirname(dir)) {
    const exists = await realpath(dir).then(
      () => true,
      () => false,
    );
    if (exists || dirname(dir) === dir) break;
    missing.unshift(dir);
  }
  try {
    await ensureOwnDir(stateDir);
  } catch (error) {
    const mapped = fromSystemError(error, { path: stateDir, action: 'create the prefix' });
    if (mapped) throw mapped;
    throw error;
  }
  try {
    const release = await takeLock(join(stateDir, 'lock'), opts);
    opts.created?.push(...missing);
    return release;
  } catch (error) {
    // A lock that cannot be written (a full or read-only disk) leaves nothing: not even the directories made for it.
    for (const dir of missing.reverse()) await rmdir(dir).catch(() => undefined);
    throw error;
  }
}

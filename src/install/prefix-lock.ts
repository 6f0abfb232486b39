import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { LockedError } from '../errors.js';
import { processAlive } from '../util/process.js';

interface Owner {
  pid: number;
  host: string;
  started: string;
}

/**
 * One build per prefix at a time. The lock is a directory (mkdir is atomic) in the cache, not in the prefix, so taking
 * it never changes the prefix. A lock whose owner process is gone (same host) is stale and taken over.
 */
export async function lockPrefix(cacheDir: string, prefix: string, waitMs = 0): Promise<() => Promise<void>> {
  const dir = join(cacheDir, 'locks', `${createHash('sha256').update(prefix).digest('hex').slice(0, 16)}.lock`);
  await mkdir(join(cacheDir, 'locks'), { recursive: true });
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      await mkdir(dir);
      const owner: Owner = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
      await writeFile(join(dir, 'owner.json'), JSON.stringify({ ...owner, prefix }));
      return async () => {
        await rm(dir, { recursive: true, force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let owner: Owner | undefined;
    try {
      owner = JSON.parse(await readFile(join(dir, 'owner.json'), 'utf8')) as Owner;
    } catch {
      owner = undefined; // being written right now, or left empty by a crash: judge again shortly
    }
    if (owner && owner.host === hostname() && !processAlive(owner.pid)) {
      await rm(dir, { recursive: true, force: true });
      continue;
    }
    if (Date.now() >= deadline) {
      const who = owner ? `process ${owner.pid} on ${owner.host}, since ${owner.started}` : 'another process';
      throw new LockedError(
        `another wsgi-toolchain build is using ${prefix} (${who})`,
        waitMs > 0 ? 'it did not finish in time; try again later' : 'wait for it to finish, or pass --wait SECONDS to wait for it',
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

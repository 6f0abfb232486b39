import { resolve } from 'node:path';
import { listBuilds, pruneBuilds } from '../../cache/build-cache.js';
import { ExitCode, UsageError } from '../../errors.js';
import { defaultCacheDir } from '../../fetch/cache.js';
import type { ParsedFlags } from '../args.js';

/** `wsgi-toolchain cache list|prune [--keep N] [--json]` */
export async function cacheCommand(values: ParsedFlags, action: string | undefined): Promise<number> {
  const cacheDir = resolve(values['cache-dir'] ?? defaultCacheDir(process.env));
  const print = (text: string) => process.stdout.write(`${text}\n`);
  const describe = (b: Awaited<ReturnType<typeof listBuilds>>[number]) =>
    `${b.key.slice(0, 16)}  ${(b.bytes / 1e6).toFixed(1).padStart(6)} MB  ${(b.lastUsedAt ?? b.createdAt).slice(0, 19)}  ${b.components.map((c) => `${c.name} ${c.version}`).join(', ')}  (${b.python})`;
  switch (action) {
    case 'list': {
      const builds = await listBuilds(cacheDir);
      if (values.json) print(JSON.stringify({ cacheDir, builds }, null, 2));
      else {
        print(`build cache ${cacheDir}: ${builds.length} build(s)`);
        for (const b of builds) print(`  ${describe(b)}`);
      }
      return ExitCode.ok;
    }
    case 'prune': {
      const keep = values.keep === undefined ? 0 : Number(values.keep);
      if (!Number.isInteger(keep) || keep < 0)
        throw new UsageError(`--keep ${values.keep} is not a whole number`, 'pass --keep N, the number of most recently used builds to keep');
      const removed = await pruneBuilds(cacheDir, keep);
      if (values.json) print(JSON.stringify({ cacheDir, removed }, null, 2));
      else {
        print(`removed ${removed.length} cached build(s), kept the ${keep} most recently used`);
        for (const b of removed) print(`  ${describe(b)}`);
      }
      return ExitCode.ok;
    }
    default:
      throw new UsageError(`unknown cache action "${action ?? ''}"`, 'use: wsgi-toolchain cache list | cache prune [--keep N]');
  }
}

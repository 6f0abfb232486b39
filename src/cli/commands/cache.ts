import { formatBytes } from '../../util/format.js';
import { ExitCode, UsageError } from '../../errors.js';
import { listStore, type LayerUse, pruneStore } from '../../store/prune.js';
import { Store, storeRoot } from '../../store/store.js';
import type { ParsedFlags } from '../args.js';

const print = (text: string) => process.stdout.write(`${text}\n`);

function layerLine(l: LayerUse): string {
  const used = l.usedBy.length ? `used by ${l.usedBy.join(', ')}` : 'unused';
  return `  ${l.component.padEnd(9)} ${l.version.padEnd(8)} ${l.key.slice(0, 12)}  ${formatBytes(l.diskBytes).padStart(9)}  last used ${l.lastUsed.slice(0, 19).replace('T', ' ')}  ${used}`;
}

/** `wsgi-toolchain cache list | cache prune [--keep N] [--dry-run] [--json]` */
export async function cacheCommand(values: ParsedFlags, action: string | undefined): Promise<number> {
  const store = new Store(await storeRoot({ cacheDir: values['cache-dir'], env: process.env }));
  switch (action) {
    case 'list': {
      const listing = await listStore(store);
      if (values.json) print(JSON.stringify(listing, null, 2));
      else {
        const total = listing.layers.reduce((sum, l) => sum + l.diskBytes, 0);
        print(`store ${listing.root}: ${listing.layers.length} layer(s), ${formatBytes(total)}`);
        for (const l of listing.layers) print(layerLine(l));
        print(`stacks: ${listing.stacks.length}`);
        for (const s of listing.stacks)
          print(
            `  ${s.key.slice(0, 16)}  ${s.layers.map((l) => `${l.component} ${l.version}`).join(', ')}${s.usedBy.length ? `  (live in ${s.usedBy.join(', ')})` : ''}`,
          );
      }
      return ExitCode.ok;
    }
    case 'prune': {
      const keep = values.keep === undefined ? 0 : Number(values.keep);
      if (!Number.isInteger(keep) || keep < 0)
        throw new UsageError(
          `--keep ${values.keep} is not a whole number`,
          'pass --keep N: how many unused layers of each component to keep besides those in use',
        );
      const result = await pruneStore(store, { keep, dryRun: values['dry-run'] ?? false });
      if (values.json) print(JSON.stringify(result, null, 2));
      else {
        const verb = result.dryRun ? 'would remove' : 'removed';
        print(
          `${verb} ${result.removed.length} layer(s) (${formatBytes(result.freedBytes)}); kept ${result.kept.length} (every layer a live prefix uses${keep ? `, and the ${keep} most recently used unused one(s) of each component` : ''})`,
        );
        for (const l of result.removed) print(layerLine(l));
      }
      return ExitCode.ok;
    }
    default:
      throw new UsageError(`unknown cache action "${action ?? ''}"`, 'use: wsgi-toolchain cache list | cache prune [--keep N] [--dry-run]');
  }
}

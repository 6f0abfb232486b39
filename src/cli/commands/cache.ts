import { ExitCode } from '../../errors.js';
import type { LayerUse } from '../../store/prune.js';
import { formatBytes } from '../../util/format.js';
import { wholeNumber } from '../build-options.js';
import { defineCommand, optionGroup } from '../command.js';
import { cacheDirOption, dryRunOption, jsonOption } from '../options.js';

const print = (text: string) => process.stdout.write(`${text}\n`);

function layerLine(l: LayerUse): string {
  const used = l.usedBy.length ? `used by ${l.usedBy.join(', ')}` : 'unused';
  return `  ${l.component.padEnd(9)} ${l.version.padEnd(8)} ${l.key.slice(0, 12)}  ${formatBytes(l.diskBytes).padStart(9)}  last used ${l.lastUsed.slice(0, 19).replace('T', ' ')}  ${used}`;
}

export const cacheCommand = defineCommand({
  name: 'cache',
  summary: 'the store of built layers: "cache list" shows them, "cache prune" removes those no live prefix uses',
  description:
    "Prune also removes all but the 20 most recent build logs in the store's logs/ (a failed build's error names its log; a successful build's is copied to <prefix>/.wsgi-httpd/logs/build.log).",
  usage: ['cache list [--json]', 'cache prune [--keep N] [--dry-run] [--json]'],
  operand: { name: 'ACTION', required: true, choices: ['list', 'prune'] },
  groups: [
    optionGroup('Options', {
      ...cacheDirOption,
      keep: {
        type: 'string',
        value: 'N',
        help: 'prune: also keep the N most recently used unused layers of each component (default 0)',
      },
      'dry-run': { ...dryRunOption['dry-run'], help: 'prune: list what would be removed and remove nothing' },
      ...jsonOption,
    }),
  ],
  examples: ['wsgi-toolchain cache list', 'wsgi-toolchain cache prune --keep 1 --dry-run'],
  async run({ values, positionals }) {
    const [{ keptBuildLogs, listStore, pruneStore }, { Store, storeRoot }] = await Promise.all([
      import('../../store/prune.js'),
      import('../../store/store.js'),
    ]);
    const store = new Store(await storeRoot({ cacheDir: values['cache-dir'], env: process.env }));
    if (positionals[0] === 'list') {
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
    const keep = wholeNumber(values.keep, '--keep') ?? 0;
    const result = await pruneStore(store, { keep, dryRun: values['dry-run'] ?? false });
    if (values.json) print(JSON.stringify(result, null, 2));
    else {
      const verb = result.dryRun ? 'would remove' : 'removed';
      print(
        `${verb} ${result.removed.length} layer(s) (${formatBytes(result.freedBytes)}); kept ${result.kept.length} (every layer a live prefix uses${keep ? `, and the ${keep} most recently used unused one(s) of each component` : ''})`,
      );
      for (const l of result.removed) print(layerLine(l));
      if (result.logs.removed.length > 0)
        print(
          `${verb} ${result.logs.removed.length} old build log(s) (${formatBytes(result.logs.freedBytes)}); kept the ${keptBuildLogs} most recent`,
        );
    }
    return ExitCode.ok;
  },
});

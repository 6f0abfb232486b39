import { UsageError } from '../../errors.js';
import { defineCommand, optionGroup } from '../command.js';
import { buildingGroup, jsonOption, prefixOption, progressGroup, selectionGroup, sourcesGroup } from '../options.js';

export const fetchCommand = defineCommand({
  name: 'fetch',
  summary: 'download and verify every source a build needs into --dest DIR (mirror layout), for building offline',
  usage: ['fetch --dest DIR [--lock FILE | version flags] [options]'],
  description:
    'Resolves the set a build with the same options would build (no --prefix needed), downloads and verifies every ' +
    'source of it through the cache, and writes each to DIR/<component>/<file>. DIR then works as `build --sources DIR ' +
    '--offline` and as `build --mirror DIR --offline`, here or on a machine without network. With --offline nothing is ' +
    'downloaded: the files come from the cache, --sources and file:// mirrors, and the missing ones are listed (exit 4).',
  componentVersions: true,
  groups: [
    optionGroup('Destination', {
      dest: { type: 'string', value: 'DIR', complete: 'dir', help: 'where to write the sources, as DIR/<component>/<file> (required)' },
    }),
    optionGroup('Where the build would go', {
      prefix: { ...prefixOption.prefix, help: "a prefix to resolve for (its virtualenv's Python); default: a fresh one" },
    }),
    selectionGroup,
    sourcesGroup,
    optionGroup('Output', {
      quiet: progressGroup.options.quiet,
      json: { ...jsonOption.json, help: 'the destination and every file (path, sha256, size, origin) as JSON' },
    }),
    optionGroup('Accepted for a build command line (no effect on fetch)', {
      ...buildingGroup.options,
      plain: progressGroup.options.plain,
      verbose: progressGroup.options.verbose,
    }),
  ],
  examples: [
    'wsgi-toolchain fetch --dest ./wsgi-sources --lock ci.lock.json --verify-signatures',
    'wsgi-toolchain build --prefix ./venv --sources ./wsgi-sources --offline',
  ],
  async run({ values, components }) {
    const dest = values.dest;
    if (!dest) throw new UsageError('fetch needs --dest DIR', 'pass the directory to write the sources to, e.g. --dest ./wsgi-sources');
    // The downloader, hashing and signature code load only here: they cost every other command start-up time.
    const { fetchSources } = await import('../fetch-sources.js');
    return fetchSources({ ...values, dest }, components);
  },
});

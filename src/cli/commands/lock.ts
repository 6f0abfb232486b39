import { writeFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { ExitCode } from '../../errors.js';
import { prepareBuild } from '../../pipeline/prepare.js';
import { serializeLock } from '../../resolve/lock.js';
import { buildOptionsFrom } from '../build-options.js';
import { defineCommand, optionGroup } from '../command.js';
import { buildingGroup, jsonOption, prefixOption, progressGroup, selectionGroup, sourcesGroup } from '../options.js';
import { out } from '../output.js';

export const lockCommand = defineCommand({
  name: 'lock',
  summary: 'resolve what a build would use and print the lock (JSON) without building; --output FILE writes it',
  usage: ['lock [--prefix DIR] [version flags] [options]', 'lock [...] --output FILE'],
  description:
    'Resolves exactly what `build` with the same options would build (versions, sha256, configure flags, the Python ' +
    'and the features found on this machine) and prints the lock on stdout, or writes it to FILE with --output. ' +
    '`build --lock FILE` then builds exactly that set. Every build option is accepted, so a build command line works ' +
    'unchanged with `lock` in place of `build`; those that only matter while building have no effect here.',
  componentVersions: true,
  groups: [
    optionGroup('Output', {
      output: { type: 'string', short: 'o', value: 'FILE', complete: 'file', help: 'write the lock to FILE (default: print it on stdout)' },
      json: { ...jsonOption.json, help: 'with --output: print nothing (instead of "wrote FILE")' },
    }),
    optionGroup('Where', {
      prefix: { ...prefixOption.prefix, help: "the prefix the build would install into (its virtualenv's Python is found there)" },
    }),
    selectionGroup,
    sourcesGroup,
    optionGroup('Accepted for a build command line (no effect on the lock)', {
      ...buildingGroup.options,
      plain: progressGroup.options.plain,
      verbose: progressGroup.options.verbose,
      quiet: progressGroup.options.quiet,
    }),
  ],
  examples: [
    'wsgi-toolchain lock --prefix ./venv',
    'wsgi-toolchain lock --prefix ./venv --mod-wsgi 5.0.2 --output ci.lock.json',
    'wsgi-toolchain build --prefix /srv --lock ci.lock.json',
  ],
  async run({ values, components }) {
    const options = buildOptionsFrom(values, components, process.env, false);
    const prepared = await prepareBuild(options, { planOnly: true });
    const text = serializeLock(prepared.plan.lock);
    if (values.output) {
      await writeFile(values.output, text);
      if (!values.json) out(`wrote ${resolvePath(values.output)}`);
    } else out(text);
    return ExitCode.ok;
  },
});

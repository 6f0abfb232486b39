import { resolve } from 'node:path';
import { ExitCode, UsageError } from '../../errors.js';
import { defaultPrefix, wholeNumber } from '../build-options.js';
import { defineCommand, optionGroup } from '../command.js';
import { cacheDirOption, jsonOption, prefixOption, waitOption } from '../options.js';

export const packCommand = defineCommand({
  name: 'pack',
  summary: 'write the live build of a prefix to one archive, for build --from-archive elsewhere',
  usage: ['pack [--prefix DIR] --output FILE.tar [--json]'],
  groups: [
    optionGroup('Options', {
      ...prefixOption,
      output: { type: 'string', short: 'o', value: 'FILE', complete: 'file', help: 'the archive to write (required)' },
      ...waitOption,
      ...cacheDirOption,
      ...jsonOption,
    }),
  ],
  examples: ['wsgi-toolchain pack --prefix ./venv --output web.tar', 'wsgi-toolchain build --from-archive web.tar --prefix /srv/web'],
  async run({ values }) {
    const prefix = values.prefix ?? defaultPrefix(process.env);
    if (!prefix) throw new UsageError('no --prefix given', 'pass --prefix DIR of a wsgi-toolchain build');
    if (!values.output) throw new UsageError('no --output given', 'pass --output FILE.tar, the archive to write');
    const waitSeconds = wholeNumber(values.wait, '--wait') ?? 0;
    const [{ packPrefix }, { Store, storeRoot }] = await Promise.all([import('../../store/archive.js'), import('../../store/store.js')]);
    const store = new Store(await storeRoot({ cacheDir: values['cache-dir'], env: process.env }));
    const result = await packPrefix({ prefix, output: values.output, store, waitSeconds });
    if (values.json) {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      return ExitCode.ok;
    }
    const layers = result.layers.map((l) => `${l.component} ${l.version}`).join(', ');
    process.stdout.write(
      `packed ${resolve(prefix)} (stack ${result.key.slice(0, 16)}: ${layers}) into ${result.output}, ${(result.archiveBytes / 1e6).toFixed(1)} MB\n` +
        `  install it anywhere with: wsgi-toolchain build --from-archive ${result.output} --prefix DIR\n`,
    );
    return ExitCode.ok;
  },
});

import { resolve } from 'node:path';
import { ExitCode, UsageError } from '../../errors.js';
import { packPrefix } from '../../store/archive.js';
import { Store, storeRoot } from '../../store/store.js';
import { defaultPrefix, type ParsedFlags } from '../args.js';

/** `wsgi-toolchain pack --prefix P --output FILE.tar [--wait S] [--json]` */
export async function packCommand(values: ParsedFlags): Promise<number> {
  const prefix = values.prefix ?? defaultPrefix(process.env);
  if (!prefix) throw new UsageError('no --prefix given', 'pass --prefix DIR of a wsgi-toolchain build');
  if (!values.output) throw new UsageError('no --output given', 'pass --output FILE.tar, the archive to write');
  const wait = values.wait === undefined ? 0 : Number(values.wait);
  if (!Number.isInteger(wait) || wait < 0) throw new UsageError(`--wait ${values.wait} is not a whole number`, 'pass --wait a number such as 30');
  const store = new Store(await storeRoot({ cacheDir: values['cache-dir'], env: process.env }));
  const result = await packPrefix({ prefix, output: values.output, store, waitSeconds: wait });
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
}

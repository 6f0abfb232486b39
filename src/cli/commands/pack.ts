import { resolve } from 'node:path';
import { packPrefix } from '../../cache/archive.js';
import { ExitCode, UsageError } from '../../errors.js';
import { defaultCacheDir } from '../../fetch/cache.js';
import { defaultPrefix, type ParsedFlags } from '../args.js';

/** `wsgi-toolchain pack --prefix P --output FILE.tar.gz [--wait S] [--json]` */
export async function packCommand(values: ParsedFlags): Promise<number> {
  const prefix = values.prefix ?? defaultPrefix(process.env);
  if (!prefix) throw new UsageError('no --prefix given', 'pass --prefix DIR of a wsgi-toolchain build');
  if (!values.output) throw new UsageError('no --output given', 'pass --output FILE.tar.gz, the archive to write');
  const wait = values.wait === undefined ? 0 : Number(values.wait);
  if (!Number.isInteger(wait) || wait < 0) throw new UsageError(`--wait ${values.wait} is not a whole number`, 'pass --wait a number such as 30');
  const cacheDir = resolve(values['cache-dir'] ?? defaultCacheDir(process.env));
  const result = await packPrefix({ prefix, output: values.output, cacheDir, waitSeconds: wait });
  if (values.json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return ExitCode.ok;
  }
  const lines = [
    `packed ${resolve(prefix)} (build ${result.key.slice(0, 16)}) into ${result.output}: ${result.files} files, ${(result.bytes / 1e6).toFixed(1)} MB (${(result.archiveBytes / 1e6).toFixed(1)} MB compressed)`,
    result.source === 'cache'
      ? `  from the build cache; installs into any prefix: wsgi-toolchain build --from-archive ${result.output} --prefix DIR`
      : `  from the installed stack (the build cache no longer holds it): installs only where the stack path is at most ${result.placeholder.length} characters long, as ${result.placeholder} is`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return ExitCode.ok;
}

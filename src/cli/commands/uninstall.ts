import { UsageError, ExitCode } from '../../errors.js';
import { uninstallPrefix, type UninstallResult } from '../../install/uninstall.js';
import { formatSize } from './info.js';
import { defaultPrefix, type ParsedFlags } from '../args.js';

const out = (text: string) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);

export function formatUninstall(result: UninstallResult): string {
  const verb = result.dryRun ? 'would remove' : 'removed';
  const lines = result.removed.map((path) => `${verb} ${path}`);
  for (const k of result.kept) lines.push(`kept ${k.path}: ${k.reason}`);
  lines.push(
    result.dryRun
      ? `would free ${formatSize(result.freedBytes)} (dry run: nothing was changed)`
      : `freed ${formatSize(result.freedBytes)}; nothing else in ${result.prefix} was touched`,
  );
  return lines.join('\n');
}

/** `wsgi-toolchain uninstall --prefix P [--dry-run] [--json]`: removes exactly what the tool installed there. */
export async function uninstallCommand(values: ParsedFlags): Promise<number> {
  const prefix = values.prefix ?? defaultPrefix(process.env);
  if (!prefix) throw new UsageError('no --prefix given', 'pass --prefix DIR of a wsgi-toolchain build, or set WSGI_HTTPD_PREFIX');
  let waitSeconds = 0;
  if (values.wait !== undefined) {
    waitSeconds = Number(values.wait);
    if (!Number.isInteger(waitSeconds) || waitSeconds < 0)
      throw new UsageError(`--wait ${values.wait} is not a whole number`, 'pass --wait a number such as 30');
  }
  const result = await uninstallPrefix(prefix, { cacheDir: values['cache-dir'], waitSeconds, dryRun: values['dry-run'] ?? false, env: process.env });
  out(values.json ? JSON.stringify(result, null, 2) : formatUninstall(result));
  return ExitCode.ok;
}

import { ExitCode, UsageError } from '../../errors.js';
import type { UninstallResult } from '../../install/uninstall.js';
import { defaultPrefix, wholeNumber } from '../build-options.js';
import { defineCommand, optionGroup } from '../command.js';
import { cacheDirOption, dryRunOption, jsonOption, prefixOption, waitOption } from '../options.js';
import { out } from '../output.js';
import { formatSize } from './info.js';

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

export const uninstallCommand = defineCommand({
  name: 'uninstall',
  summary: 'remove exactly what the tool installed in a prefix; every other file stays',
  usage: ['uninstall [--prefix DIR] [--dry-run] [--json]'],
  groups: [
    optionGroup('Options', {
      ...prefixOption,
      'dry-run': { ...dryRunOption['dry-run'], help: 'list what would be removed and change nothing' },
      ...waitOption,
      ...cacheDirOption,
      ...jsonOption,
    }),
  ],
  examples: ['wsgi-toolchain uninstall --prefix ./venv --dry-run', 'wsgi-toolchain uninstall --prefix ./venv'],
  async run({ values }) {
    const prefix = values.prefix ?? defaultPrefix(process.env);
    if (!prefix) throw new UsageError('no --prefix given', 'pass --prefix DIR of a wsgi-toolchain build, or set WSGI_HTTPD_PREFIX');
    const { uninstallPrefix } = await import('../../install/uninstall.js');
    const result = await uninstallPrefix(prefix, {
      cacheDir: values['cache-dir'],
      waitSeconds: wholeNumber(values.wait, '--wait') ?? 0,
      dryRun: values['dry-run'] ?? false,
      env: process.env,
    });
    out(values.json ? JSON.stringify(result, null, 2) : formatUninstall(result));
    return ExitCode.ok;
  },
});

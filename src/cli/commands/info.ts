import { ExitCode, UsageError } from '../../errors.js';
import type { PrefixInfo } from '../../install/info.js';
import { defaultPrefix } from '../build-options.js';
import { defineCommand, optionGroup } from '../command.js';
import { jsonOption, prefixOption } from '../options.js';
import { out } from '../output.js';

/** 532 B, 14.2 KiB, 48.0 MiB, 1.2 GiB. */
export function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export function formatInfo(info: PrefixInfo): string {
  const yes = (b: boolean) => (b ? 'yes' : 'no');
  const topDirs = Object.entries(info.size.dirs)
    .filter(([name, bytes]) => bytes > 0 && !name.startsWith('.'))
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5)
    .map(([name, bytes]) => `${name} ${formatSize(bytes)}`)
    .join(', ');
  const lines = [
    `prefix:     ${info.prefix}`,
    `stack:      ${info.root} (${formatSize(info.size.total)}${topDirs ? `: ${topDirs}` : ''})`,
    `built:      ${info.builtAt} by ${info.tool}`,
    `versions:   ${info.components.map((c) => `${c.name} ${c.version}`).join(', ')}`,
    `python:     ${info.python.version} (${info.python.abi}) ${info.python.executable}`,
    `features:   ssl ${yes(info.features.ssl)}, zlib ${yes(info.features.zlib)}, expat ${info.features.expat ? 'built' : 'system'}, httpd ${info.httpdMode}`,
    `compiler:   ${info.compiler.cc} (${info.compiler.version})`,
    `httpd:      ${info.httpd}`,
    `apxs:       ${info.apxs}`,
    `mod_wsgi:   ${info.modWsgi}`,
    `lock:       ${info.lockFile}${info.lockFileMatches ? '' : ' (differs from the installed build: edited or replaced)'}`,
    `log:        ${info.logFile}`,
    'flags:',
    ...info.components.map(
      (c) => `  ${c.name.padEnd(9)} ${c.configureArgs.join(' ')}${c.patches.length ? ` (patches: ${c.patches.join(', ')})` : ''}`,
    ),
  ];
  return lines.join('\n');
}

export const infoCommand = defineCommand({
  name: 'info',
  summary: 'what a prefix holds: versions, Python, features, configure flags, size, build date, lock and log',
  usage: ['info [--prefix DIR] [--json]'],
  description: 'Read from the build manifest; changes nothing.',
  groups: [optionGroup('Options', { ...prefixOption, json: { ...jsonOption.json, help: 'everything, as JSON (paths, layers, flags, sizes)' } })],
  examples: ['wsgi-toolchain info --prefix ./venv', 'wsgi-toolchain info --prefix ./venv --json'],
  async run({ values }) {
    const prefix = values.prefix ?? defaultPrefix(process.env);
    if (!prefix) throw new UsageError('no --prefix given', 'pass --prefix DIR of a wsgi-toolchain build, or set WSGI_HTTPD_PREFIX');
    const { describePrefix } = await import('../../install/info.js');
    const info = await describePrefix(prefix);
    out(values.json ? JSON.stringify(info, null, 2) : formatInfo(info));
    return ExitCode.ok;
  },
});

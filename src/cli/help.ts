/** Help text, generated from the command objects: the main help lists them, `help CMD` shows one in full. */
import { ExitCode, type ExitCodeName } from '../errors.js';
import { toolVersion } from '../version.js';
import type { Command, ComponentFlag, OptionSpec, OptionTable } from './command.js';
import { componentOptionTable } from './component-flags.js';

const width = 118;
const optionColumn = 28;

/** What each exit code means; typed by ExitCode's names, so a new code cannot be left out of the help. */
const exitCodeMeanings: Record<ExitCodeName, string> = {
  ok: 'ok',
  failure: 'failure',
  usage: 'usage or recipe error',
  prerequisite: 'missing prerequisite',
  download: 'download failed',
  checksum: 'checksum mismatch or unsafe archive',
  build: 'build step failed',
  verify: 'verify failed',
  locked: 'prefix locked by another build',
  filesystem: 'file system error (disk full, read-only, permission denied)',
  interrupted: 'interrupted',
  internal: 'internal error (a bug)',
};

function wrap(text: string, indent: number, first = width - indent): string[] {
  const lines: string[] = [];
  let line = '';
  let room = first;
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > room) {
      lines.push(line);
      line = word;
      room = width - indent;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.map((l, i) => (i === 0 ? l : `${' '.repeat(indent)}${l}`));
}

/** "  -j, --jobs N" / "      --prefix DIR" followed by the help, wrapped under itself. */
function optionLine(name: string, spec: Pick<OptionSpec, 'short' | 'value' | 'help'>, valueOverride?: string): string {
  const value = valueOverride ?? spec.value;
  const left = `  ${spec.short ? `-${spec.short}, ` : '    '}--${name}${value ? ` ${value}` : ''}`;
  if (left.length + 2 > optionColumn)
    return [left, ...wrap(spec.help, optionColumn).map((l) => `${' '.repeat(optionColumn)}${l.trimStart()}`)].join('\n');
  return `${left.padEnd(optionColumn)}${wrap(spec.help, optionColumn).join('\n')}`;
}

function optionLines(table: OptionTable): string[] {
  return Object.entries(table).map(([name, spec]) => optionLine(name, spec));
}

function componentLines(flags: ComponentFlag[]): string[] {
  const lines = optionLines(componentOptionTable(flags));
  if (flags.some((f) => f.component === 'httpd'))
    lines.push(
      optionLine(
        'httpd',
        { help: "use the system's Apache (its apxs: --apxs, else apxs or apxs2 on PATH) and build only mod_wsgi for it" },
        'system',
      ),
    );
  return lines;
}

export function commandHelp(command: Command, flags: ComponentFlag[] = []): string {
  const out = [`wsgi-toolchain ${command.name}: ${command.summary}`, ''];
  command.usage.forEach((u, i) => out.push(`${i === 0 ? 'Usage: ' : '       '}wsgi-toolchain ${u}`));
  if (command.description) for (const paragraph of command.description.split('\n\n')) out.push('', ...wrap(paragraph, 0));
  if (command.componentVersions) {
    out.push('', 'Component versions (a flag per recipe, --recipes DIR adds some; exact or a range like ~2.4.66; `list` shows all)');
    out.push(...(flags.length ? componentLines(flags) : ['  (no recipes loaded)']));
  }
  for (const group of command.groups) {
    if (!Object.keys(group.options).length) continue;
    out.push('', group.title, ...optionLines(group.options));
  }
  out.push('', 'Help', optionLine('help', { short: 'h', help: 'this help (also: wsgi-toolchain help COMMAND)' }));
  if (command.examples.length) out.push('', 'Examples', ...command.examples.map((e) => `  ${e}`));
  return `${out.join('\n')}\n`;
}

export function exitCodesLine(): string {
  const codes = (Object.entries(ExitCode) as [ExitCodeName, number][]).sort((a, b) => a[1] - b[1]);
  return wrap(`Exit codes: ${codes.map(([name, code]) => `${code} ${exitCodeMeanings[name]}`).join(', ')}.`, 0).join('\n');
}

export function mainHelp(commands: readonly Command[]): string {
  const nameWidth = Math.max(...commands.map((c) => c.name.length)) + 2;
  const out = [
    `wsgi-toolchain ${toolVersion}: build Apache httpd + APR + APR-util + PCRE2 + mod_wsgi from verified sources into a prefix`,
    '',
    'Usage: wsgi-toolchain <command> [options]',
    '       wsgi-toolchain help <command>    (the same as: wsgi-toolchain <command> --help)',
    '',
    'Commands',
    ...commands.map((c) => `  ${c.name.padEnd(nameWidth)}${wrap(c.summary, nameWidth + 2).join('\n')}`),
    '',
    'Options',
    optionLine('help', { short: 'h', help: "this help; with a command, that command's help" }),
    optionLine('version', { short: 'V', help: 'print the version' }),
    '',
    'Examples',
    '  wsgi-toolchain build --prefix ./venv',
    '  wsgi-toolchain build --prefix ./venv --dry-run',
    '  wsgi-toolchain help build',
    '',
    exitCodesLine(),
  ];
  return `${out.join('\n')}\n`;
}

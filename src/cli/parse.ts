/**
 * From argv to a command and its parsed options. Options may come before the command name (`wsgi-toolchain --prefix P
 * info`) as well as after it; either way only the command's own options are accepted: one that belongs to another
 * command, or to none, is a usage error naming the option and the command.
 */
import { parseArgs } from 'node:util';
import { UsageError } from '../errors.js';
import { loadRecipes } from '../recipe/load.js';
import {
  type Command,
  type ComponentFlag,
  type ComponentRequest,
  type OptionTable,
  type ParsedCommand,
  parseArgsOptions,
  staticOptions,
} from './command.js';
import { componentOptionTable, flagName, loadComponentFlags, recipeDirsIn } from './component-flags.js';

export interface LocatedCommand {
  /** Index of the command name in argv; -1 when there is none. */
  index: number;
  name?: string;
  /** --help / -h before the command name (or with no command). */
  help: boolean;
  /** --version / -V before the command name (or with no command). */
  version: boolean;
}

/** The command name is the first word that is neither an option nor the value of one. */
export function locateCommand(argv: string[], commands: readonly Command[]): LocatedCommand {
  const names = new Set(commands.map((c) => c.name));
  const takesValue = new Set<string>();
  const known = new Set<string>();
  for (const command of commands)
    for (const [name, spec] of Object.entries(staticOptions(command))) {
      const forms = [`--${name}`, ...(spec.short ? [`-${spec.short}`] : [])];
      for (const form of forms) {
        known.add(form);
        if (spec.type === 'string') takesValue.add(form);
      }
    }
  let help = false;
  let version = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') break;
    if (!arg.startsWith('-') || arg === '-') return { index: i, name: arg, help, version };
    if (arg === '--help' || arg === '-h') help = true;
    else if (arg === '--version' || arg === '-V') version = true;
    else if (takesValue.has(arg)) i++;
    else if (arg.startsWith('--') && !arg.includes('=') && !known.has(arg)) {
      // Not a static option: a component version flag (from the recipes) takes a value, so skip a word that is no command.
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith('-') && !names.has(next)) i++;
    }
  }
  return { index: -1, help, version };
}

export type CommandArgs =
  | { help: true; flags: ComponentFlag[] }
  | ({ help: false; flags: ComponentFlag[] } & ParsedCommand<Record<string, string | boolean | string[] | undefined>>);

const helpOption: OptionTable = { help: { type: 'boolean', short: 'h', help: 'this help' } };

function usageHint(command: Command): string {
  return `run 'wsgi-toolchain help ${command.name}' for its options`;
}

/** The commands that take an option this one does not: for the error message. */
async function ownersOf(name: string, args: string[], commands: readonly Command[], env: NodeJS.ProcessEnv): Promise<string[]> {
  const owners = commands.filter((c) => Object.hasOwn(staticOptions(c), name)).map((c) => c.name);
  if (owners.length) return owners;
  try {
    const recipes = await loadRecipes(recipeDirsIn(args, { recipes: { type: 'string', multiple: true, help: '' } }, env));
    if ([...recipes.keys()].some((component) => flagName(component) === name)) return commands.filter((c) => c.componentVersions).map((c) => c.name);
  } catch {
    // Only for the message: a recipe problem is reported by the commands that load recipes.
  }
  return [];
}

async function rejectForeign(raw: string, name: string, command: Command, args: string[], commands: readonly Command[], env: NodeJS.ProcessEnv) {
  const owners = raw.startsWith('--')
    ? await ownersOf(name, args, commands, env)
    : commands.filter((c) => Object.values(staticOptions(c)).some((o) => o.short === name)).map((c) => c.name);
  const named = owners.length > 4 ? `${owners.slice(0, 3).join(', ')} and ${owners.length - 3} more` : owners.join(', ');
  const where = owners.length ? ` (it is an option of ${named})` : '';
  return new UsageError(
    owners.length ? `${command.name} has no option ${raw}${where}` : `unknown option ${raw} for ${command.name}`,
    usageHint(command),
  );
}

/**
 * Parses a command's arguments (everything but the command name) strictly against its own options, the component
 * flags of its recipes included. `--help` anywhere (before `--`) asks for the command's help instead.
 */
export async function parseCommandArgs(command: Command, args: string[], commands: readonly Command[], env: NodeJS.ProcessEnv): Promise<CommandArgs> {
  const loaded = command.componentVersions ? await loadComponentFlags(args, staticOptions(command), env, command.name) : undefined;
  const parsed = await parseWithFlags(command, args, loaded?.flags ?? [], commands, env);
  return parsed.help ? parsed : { ...parsed, recipes: loaded?.recipes };
}

/** parseCommandArgs once the component flags are known. */
export async function parseWithFlags(
  command: Command,
  args: string[],
  flags: ComponentFlag[],
  commands: readonly Command[],
  env: NodeJS.ProcessEnv,
): Promise<CommandArgs> {
  const table: OptionTable = { ...staticOptions(command), ...componentOptionTable(flags), ...helpOption };
  const config = parseArgsOptions(table);

  const { tokens } = parseArgs({ args, options: config, strict: false, allowPositionals: true, tokens: true });
  if (tokens.some((t) => t.kind === 'option' && t.name === 'help')) return { help: true, flags };
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    const spec = table[token.name];
    if (!spec) throw await rejectForeign(token.rawName, token.name, command, args, commands, env);
    if (spec.type === 'string' && token.value === undefined)
      throw new UsageError(`${token.rawName} needs a value (${spec.value ?? 'VALUE'})`, `pass ${token.rawName} ${spec.value ?? 'VALUE'}`);
    if (spec.type === 'boolean' && token.value !== undefined)
      throw new UsageError(`${token.rawName} takes no value (got "${token.value}")`, `pass ${token.rawName} alone`);
  }

  let parsed: { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args, options: config, strict: true, allowPositionals: true }) as typeof parsed;
  } catch (error) {
    throw new UsageError(`${command.name}: ${(error as Error).message.split('\n')[0]!}`, usageHint(command));
  }
  const { values, positionals } = parsed;
  checkOperands(command, positionals);

  const components: ComponentRequest[] = [];
  for (const f of flags) {
    const value = values[f.flag];
    if (typeof value === 'string') components.push({ component: f.component, value });
  }
  return { help: false, flags, values, positionals, components, rest: [] };
}

function checkOperands(command: Command, positionals: string[]): void {
  const operand = command.operand;
  if (!operand) {
    if (positionals.length) throw new UsageError(`${command.name} takes no arguments, got "${positionals.join(' ')}"`, usageHint(command));
    return;
  }
  if (positionals.length > 1) throw new UsageError(`${command.name} takes one ${operand.name}, got "${positionals.join(' ')}"`, usageHint(command));
  const given = positionals[0];
  if (given === undefined) {
    if (operand.required)
      throw new UsageError(`${command.name} needs ${operand.name}${operand.choices ? `: ${operand.choices.join(' or ')}` : ''}`, usageHint(command));
    return;
  }
  if (operand.choices && !operand.choices.includes(given))
    throw new UsageError(`${command.name}: unknown ${operand.name} "${given}"; it is one of ${operand.choices.join(', ')}`, usageHint(command));
}

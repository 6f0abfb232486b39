/**
 * The shape of a CLI command (in the style of Volta's src/command/): each command is one file in src/cli/commands/ that
 * exports a declarative object — its name, a one-line summary, usage lines, option groups with per-option help,
 * examples — and `run(parsed)`. main.ts only finds the command and hands it what parse.ts made of its arguments; help,
 * the "not an option of this command" errors and the shell completion scripts are all generated from these objects.
 */
import type { RecipeSet } from '../recipe/load.js';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** The value's name in help: DIR, PATH, N. */
  value?: string;
  /** One line for the help. */
  help: string;
  /** What a shell completes as the value: file names, directory names, or fixed words. */
  complete?: 'file' | 'dir' | readonly string[];
}

export type OptionTable = Record<string, OptionSpec>;

export interface OptionGroup<T extends OptionTable = OptionTable> {
  /** The heading in the command's help. */
  title: string;
  options: T;
}

export function optionGroup<const T extends OptionTable>(title: string, options: T): OptionGroup<T> {
  return { title, options };
}

type ValueOf<S extends OptionSpec> = S['type'] extends 'boolean' ? boolean : S['multiple'] extends true ? string[] : string;
export type ValuesOf<T extends OptionTable> = { [K in keyof T]?: ValueOf<T[K]> };
type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;
/** The parsed values of every option in the groups, each optional (absent when not given). */
export type GroupValues<G extends readonly OptionGroup[]> = UnionToIntersection<
  { [I in keyof G]: G[I] extends OptionGroup<infer T> ? ValuesOf<T> : never }[number]
>;

/** A recipe's name, as the recipe module types it. */
export type RecipeName = RecipeSet extends Map<infer K, unknown> ? K : string;

/** A version flag made from a recipe: `--mod-wsgi` for the recipe "mod_wsgi". */
export interface ComponentFlag {
  flag: string;
  component: RecipeName;
  defaultVersion: string;
  versions: string[];
}

/** A version asked for with a component flag (in the order of the recipes). */
export interface ComponentRequest {
  component: RecipeName;
  value: string;
}

export interface ParsedCommand<V> {
  values: V;
  positionals: string[];
  /** Component version flags given (commands with `componentVersions` only). */
  components: ComponentRequest[];
  /** The recipe set the component flags came from (commands with `componentVersions` only). */
  recipes?: RecipeSet;
  /** serve: the raw arguments after the command, for mod_wsgi-express. */
  rest: string[];
}

export interface Operand {
  /** As shown in usage: COMMAND, ACTION. */
  name: string;
  required?: boolean;
  /** The words it may be; anything else is a usage error. */
  choices?: readonly string[];
  /** For completion when there are no choices. */
  complete?: 'file' | 'commands';
}

export interface Command {
  name: string;
  summary: string;
  /** Usage lines without the leading "wsgi-toolchain ". */
  usage: string[];
  /** Paragraphs after the usage, when the summary and the options do not say it all. */
  description?: string;
  /** At most one operand; a command without one takes none. */
  operand?: Operand;
  groups: readonly OptionGroup[];
  /** Adds a version flag per loaded recipe (`--httpd V`, `--mod-wsgi V`), found with the command's --recipes. */
  componentVersions?: boolean;
  /** serve: everything after the operand goes to another program unparsed. */
  passThrough?: boolean;
  examples: string[];
  // biome-ignore lint/suspicious/noExplicitAny: each command's run is typed by defineCommand; the registry erases it.
  run(parsed: ParsedCommand<any>): Promise<number>;
}

export interface CommandSpec<G extends readonly OptionGroup[]> extends Omit<Command, 'groups' | 'run'> {
  groups: G;
  run(parsed: ParsedCommand<GroupValues<G>>): Promise<number>;
}

/** Types `run`'s values from the command's own option groups. */
export function defineCommand<const G extends readonly OptionGroup[]>(spec: CommandSpec<G>): Command {
  return spec as Command;
}

/** Every option of a command, by long name (without the component flags, which depend on the recipes). */
export function staticOptions(command: Command): OptionTable {
  return Object.assign({}, ...command.groups.map((g) => g.options));
}

/** The table as node:util parseArgs takes it. */
export function parseArgsOptions(table: OptionTable): Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> {
  return Object.fromEntries(
    Object.entries(table).map(([name, o]) => [
      name,
      { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) },
    ]),
  );
}

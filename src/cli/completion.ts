/**
 * Shell completion scripts made from the command objects: the command names, each command's options, the words an
 * option or operand may be (cache list|prune, the recipe versions of --httpd), and file or directory names for the
 * options that take a path (--python, --prefix, --recipes, --sources, ...).
 */
import { toolVersion } from '../version.js';
import type { Command, ComponentFlag, OptionSpec, OptionTable } from './command.js';
import { staticOptions } from './command.js';
import { componentOptionTable } from './component-flags.js';

export interface CompletionCommand {
  command: Command;
  flags: ComponentFlag[];
}

const globalOptions = ['--help', '--version'];

interface Model {
  names: string[];
  /** Every option form that takes a value (`--prefix`, `-j`), whatever the command. */
  valueForms: string[];
  dirForms: string[];
  fileForms: string[];
  /** Option form -> the words its value may be. */
  wordForms: Map<string, readonly string[]>;
  perCommand: { command: Command; options: [string, OptionSpec][]; operandWords: string[]; operandFiles: boolean }[];
}

function forms(name: string, spec: OptionSpec): string[] {
  return [`--${name}`, ...(spec.short ? [`-${spec.short}`] : [])];
}

function model(described: CompletionCommand[]): Model {
  const valueForms = new Set<string>();
  const dirForms = new Set<string>();
  const fileForms = new Set<string>();
  const wordForms = new Map<string, readonly string[]>();
  const perCommand: Model['perCommand'] = [];
  for (const { command, flags } of described) {
    const table: OptionTable = { ...staticOptions(command), ...componentOptionTable(flags) };
    for (const [name, spec] of Object.entries(table)) {
      if (spec.type !== 'string') continue;
      for (const form of forms(name, spec)) {
        valueForms.add(form);
        if (spec.complete === 'dir') dirForms.add(form);
        else if (spec.complete === 'file') fileForms.add(form);
        else if (Array.isArray(spec.complete) && !wordForms.has(form)) wordForms.set(form, spec.complete);
      }
    }
    const operand = command.operand;
    perCommand.push({
      command,
      options: Object.entries(table),
      operandWords: operand?.choices ? [...operand.choices] : operand?.complete === 'commands' ? described.map((d) => d.command.name) : [],
      operandFiles: operand?.complete === 'file',
    });
  }
  return {
    names: described.map((d) => d.command.name),
    valueForms: [...valueForms].sort(),
    dirForms: [...dirForms].sort(),
    fileForms: [...fileForms].sort(),
    wordForms,
    perCommand,
  };
}

/** A case branch for these words, or nothing when there are none (an empty pattern is a syntax error). */
const branch = (list: readonly string[], body: string) => (list.length ? `    ${list.join('|')}) ${body} ;;` : '');
const lines = (...parts: string[]) => parts.filter(Boolean).join('\n');

export function bashCompletion(described: CompletionCommand[]): string {
  const m = model(described);
  const words = [...m.wordForms].map(([form, list]) => branch([form], `COMPREPLY=($(compgen -W "${list.join(' ')}" -- "$cur")); return`));
  const commands = m.perCommand.map(
    ({ command, options, operandWords, operandFiles }) =>
      `    ${command.name}) opts="${[...options.map(([n]) => `--${n}`), '--help'].join(' ')}"; operand="${operandWords.join(' ')}"; files=${operandFiles ? 1 : 0}; pass=${command.passThrough ? 1 : 0} ;;`,
  );
  return `# bash completion for wsgi-toolchain ${toolVersion}, made by \`wsgi-toolchain completion bash\`.
# Use: eval "$(wsgi-toolchain completion bash)" in ~/.bashrc, or save it as
# ~/.local/share/bash-completion/completions/wsgi-toolchain

_wsgi_toolchain_paths() {
  compopt -o filenames 2>/dev/null
  local IFS=$'\\n'
  COMPREPLY=($(compgen "$1" -- "$2"))
}

_wsgi_toolchain() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="" cmd="" word i operands=0
  local opts="" operand="" files=0 pass=0
  COMPREPLY=()
  ((COMP_CWORD > 0)) && prev="\${COMP_WORDS[COMP_CWORD-1]}"
  # --opt=value: bash splits at "=".
  if [[ "$cur" == "=" ]]; then cur=""; elif [[ "$prev" == "=" && COMP_CWORD -gt 1 ]]; then prev="\${COMP_WORDS[COMP_CWORD-2]}"; fi
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    case "$word" in
    --) break ;;
${branch(m.valueForms, '((i++))')}
    -*) ;;
    *) if [[ -z "$cmd" ]]; then cmd="$word"; else ((operands++)); fi ;;
    esac
  done
  case "$prev" in
${lines(
  branch(m.dirForms, '_wsgi_toolchain_paths -d "$cur"; return'),
  branch(m.fileForms, '_wsgi_toolchain_paths -f "$cur"; return'),
  ...words,
  branch(m.valueForms, 'return'),
)}
  esac
  if [[ -z "$cmd" ]]; then
    if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W "${globalOptions.join(' ')}" -- "$cur"))
    else COMPREPLY=($(compgen -W "${m.names.join(' ')}" -- "$cur")); fi
    return
  fi
  case "$cmd" in
${commands.join('\n')}
    *) return ;;
  esac
  # serve: everything after TARGET belongs to mod_wsgi-express.
  if ((pass && operands > 0)); then _wsgi_toolchain_paths -f "$cur"; return; fi
  if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W "$opts" -- "$cur")); return; fi
  if ((files)); then _wsgi_toolchain_paths -f "$cur"; return; fi
  COMPREPLY=($(compgen -W "$operand" -- "$cur"))
}

complete -F _wsgi_toolchain wsgi-toolchain
`;
}

/** A single-quoted zsh word. */
const zq = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;

export function zshCompletion(described: CompletionCommand[]): string {
  const m = model(described);
  const words = [...m.wordForms].map(([form, list]) => branch([form], `values=(${list.map(zq).join(' ')}); compadd -a values; return`));
  const commands = m.perCommand.map(({ command, options, operandWords, operandFiles }) => {
    const described = [...options.map(([n, spec]) => zq(`--${n}:${spec.help}`)), zq('--help:this help')];
    return [
      `    ${command.name})`,
      `      opts=(${described.join(' ')})`,
      `      operand=(${operandWords.map(zq).join(' ')}); files=${operandFiles ? 1 : 0}; pass=${command.passThrough ? 1 : 0} ;;`,
    ].join('\n');
  });
  return `#compdef wsgi-toolchain
# zsh completion for wsgi-toolchain ${toolVersion}, made by \`wsgi-toolchain completion zsh\`.
# Use: save it as _wsgi-toolchain in a directory of $fpath (before compinit), or source it after compinit.

_wsgi_toolchain() {
  local -a commands opts operand values
  local cmd="" word cur="\${words[CURRENT]}" prev="\${words[CURRENT-1]}"
  local -i i operands=0 files=0 pass=0
  commands=(${m.perCommand.map(({ command }) => zq(`${command.name}:${command.summary}`)).join(' ')})
  for ((i = 2; i < CURRENT; i++)); do
    word="\${words[i]}"
    case "$word" in
    --) break ;;
${branch(m.valueForms, '((i++))')}
    -*) ;;
    *) if [[ -z "$cmd" ]]; then cmd="$word"; else ((operands++)); fi ;;
    esac
  done
  case "$prev" in
${lines(branch(m.dirForms, '_files -/; return'), branch(m.fileForms, '_files; return'), ...words, branch(m.valueForms, 'return'))}
  esac
  if [[ -z "$cmd" ]]; then
    if [[ "$cur" == -* ]]; then compadd -- ${globalOptions.join(' ')}
    else _describe -t commands 'wsgi-toolchain command' commands; fi
    return
  fi
  case "$cmd" in
${commands.join('\n')}
    *) return ;;
  esac
  if ((pass && operands > 0)); then _files; return; fi
  if [[ "$cur" == -* ]]; then _describe -t options option opts; return; fi
  if ((files)); then _files; return; fi
  compadd -a operand
}

if [[ "\${zsh_eval_context[-1]}" == loadautofunc ]]; then
  _wsgi_toolchain "$@"
else
  compdef _wsgi_toolchain wsgi-toolchain
fi
`;
}

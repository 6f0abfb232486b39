import { ExitCode } from '../../errors.js';
import { defineCommand, staticOptions } from '../command.js';
import { loadComponentFlags } from '../component-flags.js';
import type { CompletionCommand } from '../completion.js';
import { out } from '../output.js';

export const completionCommand = defineCommand({
  name: 'completion',
  summary: 'print a shell completion script (bash or zsh): commands, their options, files and directories',
  usage: ['completion bash|zsh'],
  description:
    'bash: eval "$(wsgi-toolchain completion bash)" in ~/.bashrc, or save the script as ' +
    '~/.local/share/bash-completion/completions/wsgi-toolchain. zsh: save it as _wsgi-toolchain in a directory of ' +
    '$fpath before compinit runs, or source it after compinit. The component version flags are those of the recipes ' +
    'found when the script is made (built in, plus $WSGI_HTTPD_RECIPES).',
  operand: { name: 'SHELL', required: true, choices: ['bash', 'zsh'] },
  groups: [],
  examples: ['wsgi-toolchain completion bash > ~/.local/share/bash-completion/completions/wsgi-toolchain'],
  async run({ positionals }) {
    const { commands } = await import('./index.js');
    const described: CompletionCommand[] = [];
    for (const command of commands) {
      const flags = command.componentVersions ? (await loadComponentFlags([], staticOptions(command), process.env, command.name)).flags : [];
      described.push({ command, flags });
    }
    const { bashCompletion, zshCompletion } = await import('../completion.js');
    out(positionals[0] === 'zsh' ? zshCompletion(described) : bashCompletion(described));
    return ExitCode.ok;
  },
});

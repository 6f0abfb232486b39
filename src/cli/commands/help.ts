import { ExitCode, UsageError } from '../../errors.js';
import { defineCommand, staticOptions } from '../command.js';
import { loadComponentFlags } from '../component-flags.js';
import { commandHelp, mainHelp } from '../help.js';
import { out } from '../output.js';

export const helpCommand = defineCommand({
  name: 'help',
  summary: 'the list of commands, or one command in full: its usage, options and examples',
  usage: ['help [COMMAND]'],
  operand: { name: 'COMMAND', complete: 'commands' },
  groups: [],
  examples: ['wsgi-toolchain help build', 'wsgi-toolchain help cache'],
  async run({ positionals }) {
    // The registry imports this module, so it is read at run time, when both are loaded.
    const { commands, findCommand } = await import('./index.js');
    const name = positionals[0];
    if (name === undefined) {
      out(mainHelp(commands));
      return ExitCode.ok;
    }
    const command = findCommand(name);
    if (!command) throw new UsageError(`unknown command "${name}"`, "run 'wsgi-toolchain help' for the commands");
    const flags = command.componentVersions ? (await loadComponentFlags([], staticOptions(command), process.env, command.name)).flags : [];
    out(commandHelp(command, flags));
    return ExitCode.ok;
  },
});

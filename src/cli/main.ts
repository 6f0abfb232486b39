#!/usr/bin/env node
/**
 * `wsgi-toolchain`: finds the command in argv and runs it. Each command (src/cli/commands/) declares its own options,
 * usage and examples; parse.ts checks the arguments against them, help.ts and completion.ts are made from them.
 */
import { ExitCode, UsageError } from '../errors.js';
import { toolVersion } from '../version.js';
import type { Command } from './command.js';
import { commands, findCommand } from './commands/index.js';
import { commandHelp, mainHelp } from './help.js';
import { out } from './output.js';
import { locateCommand, parseCommandArgs } from './parse.js';
import { printError } from './report-error.js';

async function runCommand(command: Command, args: string[], rest: string[]): Promise<number> {
  const parsed = await parseCommandArgs(command, args, commands, process.env);
  if (parsed.help) {
    out(commandHelp(command, parsed.flags));
    return ExitCode.ok;
  }
  return command.run({ ...parsed, rest });
}

export async function main(argv: string[]): Promise<number> {
  try {
    const located = locateCommand(argv, commands);
    if (located.version) {
      out(`wsgi-toolchain ${toolVersion}`);
      return ExitCode.ok;
    }
    if (located.name === undefined) {
      if (located.help) {
        out(mainHelp(commands));
        return ExitCode.ok;
      }
      if (argv.length === 0) {
        out(mainHelp(commands));
        return ExitCode.usage;
      }
      throw new UsageError(`no command given in "${argv.join(' ')}"`, "run 'wsgi-toolchain help' for the commands");
    }
    const command = findCommand(located.name);
    if (!command) throw new UsageError(`unknown command "${located.name}"`, "run 'wsgi-toolchain help' for the commands");
    const before = argv.slice(0, located.index);
    const after = argv.slice(located.index + 1);
    if (located.help) return await runCommand(command, [...before, '--help'], []);
    // serve passes mod_wsgi-express options through untouched: only the options before it are parsed here.
    if (command.passThrough) return await runCommand(command, before, after);
    return await runCommand(command, [...before, ...after], []);
  } catch (error) {
    return printError(error);
  }
}

/**
 * `wsgi-toolchain list | head -1`: once the reader of stdout is gone, writes fail with EPIPE (Node ignores SIGPIPE, so
 * without this listener that is an unhandled 'error' event: a stack trace and exit 1). Like npm and git, we say
 * nothing and do not fail: the rest of stdout is dropped, and the command ends with its own exit code (0 for list).
 * It is not cut short, so a build whose output reader went away is neither killed half-way nor reported as failed.
 * Any other error on stdout (a full disk under `> file`) is reported like any error.
 */
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') return;
  process.exitCode = printError(error);
});

main(process.argv.slice(2)).then((code) => {
  process.exitCode ??= code;
});

/** Every command, in the order the main help lists them. */
import type { Command } from '../command.js';
import { buildCommand } from './build.js';
import { cacheCommand } from './cache.js';
import { completionCommand } from './completion.js';
import { doctorCommand } from './doctor.js';
import { fetchCommand } from './fetch.js';
import { helpCommand } from './help.js';
import { infoCommand } from './info.js';
import { listCommand } from './list.js';
import { lockCommand } from './lock.js';
import { packCommand } from './pack.js';
import { pushCommand } from './push.js';
import { serveCommand } from './serve.js';
import { uninstallCommand } from './uninstall.js';
import { verifyCommand } from './verify.js';

export const commands: readonly Command[] = [
  buildCommand,
  verifyCommand,
  doctorCommand,
  lockCommand,
  listCommand,
  infoCommand,
  uninstallCommand,
  serveCommand,
  fetchCommand,
  packCommand,
  pushCommand,
  cacheCommand,
  helpCommand,
  completionCommand,
];

export function findCommand(name: string): Command | undefined {
  return commands.find((c) => c.name === name);
}

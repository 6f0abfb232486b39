import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';

/** True when `file` is a regular file (after symlinks) that we may execute. */
export async function isExecutableFile(file: string): Promise<boolean> {
  try {
    const info = await stat(file);
    if (!info.isFile()) return false;
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Resolves a command the way execvp would, but against the PATH of `env` (not necessarily ours): a name containing a
 * slash is taken as a path (relative to cwd); otherwise the first executable `dir/name` on PATH wins. Undefined when
 * there is none. Empty PATH entries (meaning ".") are ignored on purpose.
 */
export async function which(command: string, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  if (!command) return undefined;
  if (command.includes('/')) {
    const full = path.resolve(command);
    return (await isExecutableFile(full)) ? full : undefined;
  }
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir || !path.isAbsolute(dir)) continue;
    const candidate = path.join(dir, command);
    if (await isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

/**
 * As root, a prefix that another user can change is refused before anything is read from it or written to it. They
 * could swap a directory in it for a link while root writes or deletes there (the build log, the stack, the launcher,
 * the Python package), or make its records (the stack manifest, the lock) name programs root would run. Node has no
 * openat(2) to pin the paths, so the prefix's owners and modes are checked instead, as sshd's StrictModes does.
 */
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { writableByOthers } from '../util/path-trust.js';
import { stateDirName } from './layout.js';

/** `within`: more paths under the prefix the command works in (a virtualenv's site-packages). */
export async function checkPrefixTrust(prefix: string, within: string[] = []): Promise<void> {
  if (process.getuid?.() !== 0) return;
  const state = join(prefix, stateDirName);
  const why = await writableByOthers([prefix, state, join(state, 'stacks'), join(state, 'logs'), join(prefix, 'bin'), ...within], 0);
  if (why)
    throw new UsageError(
      `as root, the prefix ${prefix} is not safe to work in: ${why}, so another user could change what root writes, deletes or runs there`,
      `run wsgi-toolchain as the user who owns the prefix, or make it root's alone (chown -R root: ${prefix} && chmod -R go-w ${prefix})`,
    );
}

import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/** A system user made for one test file (another local user, e.g. an attacker), removed by `remove()`. */
export interface ThrowawayUser {
  name: string;
  uid: number;
  gid: number;
  /** Runs a command as that user; throws with its stderr when it fails. */
  run: (command: string[]) => string;
  remove: () => void;
}

/** Why no throwaway user can be made here (not root, no useradd), or undefined when one can. */
export function throwawayUsersUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'creating another local user needs root';
  if (spawnSync('useradd', ['--help']).error) return 'useradd is not installed';
  return undefined;
}

/** Creates `<prefix>-<random>` with no home and no login shell. */
export function createThrowawayUser(prefix = 'wsgi-attacker'): ThrowawayUser {
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  execFileSync('useradd', ['--system', '--no-create-home', '--user-group', '--shell', '/usr/sbin/nologin', name], { stdio: 'pipe' });
  const uid = Number(execFileSync('id', ['-u', name]).toString().trim());
  const gid = Number(execFileSync('id', ['-g', name]).toString().trim());
  return {
    name,
    uid,
    gid,
    run: (command) => {
      const result = spawnSync(command[0]!, command.slice(1), { uid, gid, encoding: 'utf8', cwd: '/' });
      if (result.error || result.status !== 0)
        throw new Error(`as ${name}: ${command.join(' ')} failed: ${result.error?.message ?? result.stderr.trim()}`);
      return result.stdout;
    },
    remove: () => {
      spawnSync('userdel', [name], { stdio: 'pipe' });
      spawnSync('groupdel', [name], { stdio: 'pipe' });
    },
  };
}

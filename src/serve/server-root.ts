/**
 * The server root of `serve`: where mod_wsgi-express writes httpd.conf, handler.wsgi, apachectl, the daemon sockets
 * and (without --log-to-terminal) the logs, and what root's httpd then reads. mod_wsgi-express's own default is the
 * predictable `$TMPDIR/mod_wsgi-HOST:PORT:UID`, reused when it exists: another local user who made that directory
 * first could replace httpd.conf before root's httpd reads it, and it stays after Ctrl-C. So serve always passes
 * --server-root: a fresh private directory (mkdtemp under the system temp dir, removed when serve ends), or the
 * user's --server-root DIR (kept).
 *
 * Mode: 0700 when the server runs as the caller. As root, httpd's children and mod_wsgi's daemon processes run as the
 * server account, and they need to reach three things in the server root: handler.wsgi (the daemon processes load
 * it), the daemon sockets `wsgi.*.sock` (the worker children connect to them) and htdocs (served as static files).
 * All three are reached by name, so search permission is enough: the directory is 0710, owned by the caller, its
 * group the server account's group. Nobody else can list it or enter it, and nobody but the caller can write it.
 *
 * As root, a server root (or any directory on its way, or on its real path) that another user can write is refused:
 * that user could swap httpd.conf, or a directory on the way, between the moment express writes it and the moment
 * root's httpd reads it.
 */
import { chmod, chown, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fromSystemError, PrerequisiteError, UsageError } from '../errors.js';
import { blockingDirectory } from '../util/accounts.js';
import { writableByOthers } from '../util/path-trust.js';

/** mod_wsgi's daemon sockets are `<server root>/wsgi.<pid>.<generation>.<n>.sock`; sun_path holds 107 bytes. */
const maxSocketPrefix = 80;

export interface ServerAccount {
  user: string;
  group: string;
  uid: number;
  gid: number;
}

export interface ServerRoot {
  path: string;
  /** A fresh directory of serve's own (removed when serve ends, unless --setup-only keeps it). */
  private: boolean;
  /** Removes a private server root (a no-op for a given one). */
  remove: () => Promise<void>;
}

function refuse(path: string, why: string, given: boolean): UsageError {
  return new UsageError(
    `the server root ${path} is not safe for root's httpd: ${why}, so another user could change the configuration before httpd reads it`,
    given
      ? 'pass a --server-root DIR that only root can write, on a path only root can change (e.g. under /run or /root)'
      : 'point TMPDIR at a directory only root can write (or with the sticky bit, like /tmp), or pass --server-root DIR',
  );
}

/** Gives the server account search permission (0710, group = its group); only the caller otherwise. */
async function narrow(path: string, account: ServerAccount | undefined): Promise<void> {
  if (account) {
    await chown(path, process.getuid!(), account.gid);
    await chmod(path, 0o710);
  } else await chmod(path, 0o700);
}

/**
 * Makes the server root: the user's --server-root DIR (created when missing, then 0710/0700 as above; an existing one
 * keeps its mode but must let the server account in), or a fresh private directory under the system temp dir.
 * `account` is the server account when running as root.
 */
export async function makeServerRoot(given: string | undefined, account: ServerAccount | undefined): Promise<ServerRoot> {
  const isRoot = process.getuid?.() === 0;
  const target = given ? resolve(given) : resolve(tmpdir());
  if (isRoot) {
    const why = await writableByOthers(target, 0);
    if (why) throw refuse(given ? target : `under ${target}`, why, given !== undefined);
  }
  let path: string;
  let created = false;
  try {
    if (given) {
      const st = await stat(target).catch(() => undefined);
      if (st && !st.isDirectory())
        throw new UsageError(`--server-root ${target} is not a directory`, 'pass a directory (it is created when missing)');
      if (!st) {
        await mkdir(target, { recursive: true, mode: 0o700 });
        created = true;
      }
      path = target;
    } else {
      path = await mkdtemp(join(target, 'wsgi-serve-'));
      created = true;
    }
  } catch (error) {
    throw fromSystemError(error, { path: target, action: 'create the server root' }) ?? error;
  }
  const remove = async () => {
    if (!given) await rm(path, { recursive: true, force: true });
  };
  try {
    if (`${path}/wsgi`.length > maxSocketPrefix)
      throw new UsageError(
        `the server root ${path} is too long for mod_wsgi's unix sockets (${path.length} bytes)`,
        given ? 'pass a shorter --server-root' : 'point TMPDIR at a shorter directory (e.g. /tmp), or pass a short --server-root',
      );
    if (created) await narrow(path, isRoot ? account : undefined);
    if (isRoot && account) {
      // The user's own directory may be closed to the server account: say so now, not from a 503.
      const blocked = blockingDirectory(join(path, 'handler.wsgi'), account);
      if (blocked)
        throw new PrerequisiteError(
          `the server runs as ${account.user}:${account.group}, which cannot enter ${blocked} on the way to the server root ${path}`,
          `let it in (chgrp ${account.group} ${blocked} && chmod g+x ${blocked}), or pass another --server-root`,
        );
    }
    if (isRoot) {
      // Once more, now that it exists: what we just made is ours alone (a race on the way would show here).
      const why = await writableByOthers(path, 0);
      if (why) throw refuse(path, why, given !== undefined);
    }
  } catch (error) {
    if (created) await rm(path, { recursive: true, force: true });
    throw error;
  }
  return { path, private: !given, remove };
}

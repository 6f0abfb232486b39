/** Local accounts from /etc/passwd and /etc/group: the unprivileged one httpd's children run as when we are root. */
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { UsageError, VerifyError } from '../errors.js';

export interface Account {
  user: string;
  group: string;
  uid: number;
  gid: number;
}

function readDb(path: string): string[][] {
  try {
    return readFileSync(path, 'utf8')
      .split('\n')
      .filter((line) => line && !line.startsWith('#'))
      .map((line) => line.split(':'));
  } catch {
    return [];
  }
}

/** The unprivileged account httpd children and the mod_wsgi daemon use when we run as root. */
export function unprivilegedAccount(wanted?: { user: string; group: string }): Account {
  const passwd = readDb('/etc/passwd');
  const groups = readDb('/etc/group');
  const userNames = wanted ? [wanted.user] : ['www-data', 'daemon', 'nobody'];
  const user = userNames.map((name) => passwd.find((row) => row[0] === name)).find((row) => row !== undefined);
  if (!user) {
    throw new VerifyError(
      `none of the users ${userNames.join(', ')} exists, and httpd must not run its children as root`,
      'create an unprivileged user (e.g. useradd --system www-data) or pass another one to run as',
    );
  }
  const groupNames = wanted ? [wanted.group] : [groups.find((row) => row[2] === user[3])?.[0] ?? '', 'www-data', 'daemon', 'nogroup', 'nobody'];
  const group = groupNames.map((name) => groups.find((row) => row[0] === name)).find((row) => row !== undefined);
  if (!group) {
    throw new VerifyError(
      `none of the groups ${groupNames.filter(Boolean).join(', ')} exists`,
      'create an unprivileged group or pass another one to run as',
    );
  }
  return { user: user[0]!, uid: Number(user[2]), group: group[0]!, gid: Number(group[2]) };
}

/**
 * The account for `--user`/`--group` as mod_wsgi-express takes them (names, or #uid / #gid); the unprivileged default
 * for what is not given. A name that does not exist is a usage error.
 */
export function lookupAccount(user: string | undefined, group: string | undefined): Account {
  if (!user && !group) return unprivilegedAccount();
  const passwd = readDb('/etc/passwd');
  const groups = readDb('/etc/group');
  const byName = (rows: string[][], name: string) => rows.find((r) => r[0] === name || (name.startsWith('#') && r[2] === name.slice(1)));
  let u: { name: string; uid: number; gid: number };
  if (user) {
    const row = byName(passwd, user);
    if (!row) throw new UsageError(`--user ${user} does not exist`, 'pass an existing unprivileged user (e.g. www-data)');
    u = { name: row[0]!, uid: Number(row[2]), gid: Number(row[3]) };
  } else {
    const d = unprivilegedAccount();
    u = { name: d.user, uid: d.uid, gid: d.gid };
  }
  const g = group ? byName(groups, group) : groups.find((r) => Number(r[2]) === u.gid);
  if (group && !g) throw new UsageError(`--group ${group} does not exist`, 'pass an existing group (e.g. www-data)');
  return { user: u.name, uid: u.uid, group: g ? g[0]! : `#${u.gid}`, gid: g ? Number(g[2]) : u.gid };
}

/** The first directory on the way to `path` that `account` may not search (by mode bits), if any. */
export function blockingDirectory(path: string, account: { uid: number; gid: number }): string | undefined {
  const parts = resolve(path).split('/').filter(Boolean);
  for (let i = 0; i < parts.length; i++) {
    const dir = `/${parts.slice(0, i).join('/')}`;
    const stat = statSync(dir, { throwIfNoEntry: false });
    if (!stat) return undefined;
    const bit = stat.uid === account.uid ? 0o100 : stat.gid === account.gid ? 0o010 : 0o001;
    if ((stat.mode & bit) === 0) return dir;
  }
  return undefined;
}

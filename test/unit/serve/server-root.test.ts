/**
 * Issue 14.2: what makes a server root unsafe for root's httpd. Each directory on the way, as given and on its real
 * path, must be the caller's, and not writable by group or others unless it has the sticky bit (like /tmp); a link
 * on the way must be the caller's too, or its owner could point it elsewhere.
 */
import test from 'ava';
import { chmod, chown, lchown, mkdir, mkdtemp, realpath, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writableByOthers } from '../../../src/util/path-trust.js';
import { requiring } from '../../helpers/requires.js';

const me = process.getuid!();
let base: string;

test.before(async () => {
  base = await realpath(await mkdtemp(join(tmpdir(), 'wsgi-server-root-')));
});
test.after.always(() => rm(base, { recursive: true, force: true }));

async function dir(name: string, mode: number): Promise<string> {
  const path = join(base, name);
  await mkdir(path);
  await chmod(path, mode);
  return path;
}

test('14.2 writable by others or by the group without the sticky bit: named; with the sticky bit (like /tmp): safe', async (t) => {
  const open = await dir('open', 0o777);
  t.is(await writableByOthers(join(open, 'root'), me), `${open} is writable by others (mode 0777) without the sticky bit`);
  const group = await dir('group', 0o775);
  t.is(await writableByOthers(join(group, 'root'), me), `${group} is writable by its group (mode 0775) without the sticky bit`);
  const sticky = await dir('sticky', 0o1777);
  t.is(await writableByOthers(join(sticky, 'root'), me), undefined);
  const mine = await dir('mine', 0o755);
  t.is(await writableByOthers(join(mine, 'a', 'b'), me), undefined, 'what does not exist yet is made by the caller');
});

test('14.2 a path through a link of the caller is judged on its real path too', async (t) => {
  const open = await dir('open-target', 0o777);
  const link = join(base, 'link-to-open');
  await symlink(open, link);
  t.is(await writableByOthers(join(link, 'root'), me), `${open} is writable by others (mode 0777) without the sticky bit`);
});

const rootTitle = '14.2 as root: a directory or a link owned by another user on the way is named';
requiring(me === 0 ? undefined : 'needs root, to give a directory to another user')(rootTitle, async (t) => {
  const theirs = await dir('theirs', 0o755);
  await chown(theirs, 65534, 65534);
  t.is(await writableByOthers(join(theirs, 'root'), 0), `${theirs} is owned by uid 65534`);
  const safe = await dir('safe', 0o755);
  const link = join(base, 'their-link');
  await symlink(safe, link);
  await lchown(link, 65534, 65534);
  t.is(await writableByOthers(join(link, 'root'), 0), `${link} is a symbolic link owned by uid 65534, who can point it elsewhere`);
});

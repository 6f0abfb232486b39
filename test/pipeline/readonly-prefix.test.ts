/**
 * A build whose --prefix is on a read-only file system, through the CLI as a user runs it: the build itself works (in
 * the writable build and cache directories), and the install stops with a FileSystemError (exit 9) naming the path
 * and EROFS, with a hint, instead of an internal error. The read-only mount is a tmpfs in a private user + mount
 * namespace (test/helpers/private-mount.ts), so nothing on the machine is touched.
 */
import test from 'ava';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { cliMain } from '../helpers/cli.js';
import { closeFixtureWorld, openFixtureWorld, type FixtureWorld } from '../helpers/fixture-world.js';
import { privateMountsUnavailable, runWithTmpfs } from '../helpers/private-mount.js';
import { requiring } from '../helpers/requires.js';

let world: FixtureWorld | undefined;

test.before(async () => {
  world = await openFixtureWorld('readonly-prefix');
});

test.after.always(() => closeFixtureWorld(world));

requiring(privateMountsUnavailable())(
  'build --prefix on a read-only file system: exit 9, "read-only file system" naming the prefix, no internal error',
  async (t) => {
    const { work, fixtures } = world!;
    const mnt = join(work, 'ro');
    await mkdir(mnt);
    const prefix = join(mnt, 'prefix');
    // 2 GiB is only the tmpfs size limit (no memory is used): doctor wants 1 GiB free under the prefix.
    const result = await runWithTmpfs(
      mnt,
      { size: '2g', readOnly: true },
      [
        process.execPath,
        cliMain,
        'build',
        '--prefix',
        prefix,
        '--recipes',
        fixtures.recipesDir,
        '--python',
        '/usr/bin/python3',
        '--no-verify',
        '--no-python-package',
        '--plain',
        '-j',
        '2',
      ],
      { ...process.env, CI: '1', WSGI_HTTPD_CACHE_DIR: join(work, 'cache') },
    );
    t.is(result.code, 9, result.stderr + result.stdout);
    // Node's recursive mkdir says ENOENT here; fromSystemError finds the read-only file system behind it.
    t.true(
      result.stderr.includes(
        `wsgi-toolchain: error: cannot create ${prefix}: read-only file system (EROFS) (fix: choose a location on a writable file system: --prefix DIR`,
      ),
      result.stderr,
    );
    t.notRegex(result.stderr, /internal error|\n\s+at /);
  },
);

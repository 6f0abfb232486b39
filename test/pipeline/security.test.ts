/**
 * Trust boundaries (issue 14), one test per item of "What must hold" that no other test file covers; each title
 * starts with its item number. What another user can do is done as a throwaway system user made here (root only:
 * skipped with the reason elsewhere, a failure under CI). Full or read-only disks are tmpfs mounts in a private user +
 * mount namespace (test/helpers/private-mount.ts), so nothing on the machine is touched.
 *
 * `serve` runs the prefix's mod_wsgi-express; on a fixture build there is no real Apache to start, so the serve tests
 * use a stand-in (test/fixtures/express-stand-in) that chooses and fills the server root as mod_wsgi-express 6.0.5
 * does and answers HTTP itself. What needs the real Apache is in the e2e seed workflow.
 */
import test, { type ExecutionContext } from 'ava';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, copyFile, lstat, mkdir, readdir, readFile, readlink, realpath, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cliMain, repoRoot, runCli } from '../helpers/cli.js';
import { closeFixtureWorld, type FixtureWorld, openFixtureWorld } from '../helpers/fixture-world.js';
import { type FixtureSet, makeFixtureSet } from '../helpers/fixtures.js';
import { privateMountsUnavailable, runWithTmpfs } from '../helpers/private-mount.js';
import { snapshotTree } from '../helpers/tree.js';
import { createThrowawayUser, type ThrowawayUser, throwawayUsersUnavailable } from '../helpers/throwaway-user.js';
import { killAll, processesUnder } from '../helpers/processes.js';

let work: string;
let world: FixtureWorld | undefined;
/** The fixture set, served over loopback (a build that downloads anything shows in world.server.requests). */
let fixtures: FixtureSet;
/** apr sleeps 3 s in configure: a window to change the prefix while a build runs. */
let slowApr: FixtureSet;
/** apr packed differently (the slow variant, 1 s): same version, another sha256. */
let otherApr: FixtureSet;
let attacker: ThrowawayUser | undefined;
const noAttacker = throwawayUsersUnavailable();
const noPrivateMounts = privateMountsUnavailable();

test.before(async () => {
  world = await openFixtureWorld('security'); // mode 755: the server account must reach apps and virtualenvs in here
  work = await realpath(world.work);
  fixtures = world.fixtures;
  slowApr = await makeFixtureSet(join(work, 'slow-apr'), { slow: { apr: 'configure' }, slowSeconds: 3 });
  otherApr = await makeFixtureSet(join(work, 'other-apr'), { slow: { apr: 'make' }, slowSeconds: 1 });
  if (!noAttacker) attacker = createThrowawayUser();
});

test.after.always(async () => {
  attacker?.remove();
  // Only when a test failed half-way: serve runs the server in a process group of its own, so a serve killed by the
  // test's timer leaves it; whatever still runs from this file's work dir is stopped here.
  if (work) killAll(await processesUnder(work));
  await closeFixtureWorld(world);
});

/** A test that needs another local user: skipped with the reason off CI, a failure under CI. */
function withAttacker(title: string, fn: (t: ExecutionContext, attacker: ThrowawayUser) => Promise<void>): void {
  if (!noAttacker) test.serial(title, (t) => fn(t, attacker!));
  else if (process.env.CI) test.serial(title, (t) => t.fail(`needs another local user: ${noAttacker}`));
  else test.skip(`${title} (skipped: ${noAttacker})`, () => {});
}

/** A test that needs a private tmpfs (a full or read-only disk): skipped with the reason off CI, a failure under CI. */
function withPrivateMount(title: string, fn: (t: ExecutionContext) => Promise<void>): void {
  if (!noPrivateMounts) test.serial(title, fn);
  else if (process.env.CI) test.serial(title, (t) => t.fail(noPrivateMounts));
  else test.skip(`${title} (skipped: ${noPrivateMounts})`, () => {});
}

// --- serve ------------------------------------------------------------------------------------------------------

const standInSource = join(repoRoot, 'test', 'fixtures', 'express-stand-in', 'express_stand_in.py');
let standIn: string | undefined;

/** A virtualenv whose mod_wsgi-express is the stand-in (an installed console script, as pip would lay it out). */
async function standInPrefix(): Promise<string> {
  if (standIn) return standIn;
  const venv = join(work, 'express-venv');
  execFileSync('/usr/bin/python3', ['-m', 'venv', '--without-pip', venv]);
  const python = join(venv, 'bin', 'python');
  const site = execFileSync(python, ['-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])']).toString().trim();
  await copyFile(standInSource, join(site, 'express_stand_in.py'));
  const distInfo = join(site, 'mod_wsgi_stand_in-1.0.dist-info');
  await mkdir(distInfo);
  await writeFile(join(distInfo, 'METADATA'), 'Metadata-Version: 2.1\nName: mod-wsgi-stand-in\nVersion: 1.0\n');
  await writeFile(join(distInfo, 'entry_points.txt'), '[console_scripts]\nmod_wsgi-express = express_stand_in:main\n');
  await writeFile(join(distInfo, 'RECORD'), '');
  await writeFile(join(venv, 'bin', 'mod_wsgi-express'), `#!${python}\nimport sys\nfrom express_stand_in import main\nsys.exit(main())\n`, {
    mode: 0o755,
  });
  standIn = venv;
  return venv;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

interface Served {
  pid: number;
  out: () => string;
  err: () => string;
  exit: Promise<number | null>;
  exited: () => boolean;
  kill: (signal: NodeJS.Signals) => void;
}

function serveCli(args: string[], env: NodeJS.ProcessEnv, cwd: string): Served {
  // Run from cwd (the app's directory), so tsx is named by its path.
  const child = spawn(process.execPath, [cliMain, 'serve', ...args], {
    cwd,
    env: { ...process.env, CI: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let exited = false;
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const exit = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      exited = true;
      resolve(code);
    }),
  );
  return { pid: child.pid!, out: () => out, err: () => err, exit, exited: () => exited, kill: (signal) => child.kill(signal) };
}

async function waitFor<T>(what: string, probe: () => T | undefined | false, served?: Served, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (served?.exited()) throw new Error(`serve exited while waiting for ${what}; output:\n${served.out()}\n${served.err()}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${served ? `; output:\n${served.out()}\n${served.err()}` : ''}`);
    await sleep(50);
  }
}

async function getJson(url: string): Promise<{ serverRoot: string; argv: string[]; pid: number }> {
  const res = await fetch(url);
  return (await res.json()) as { serverRoot: string; argv: string[]; pid: number };
}

/** A directory like /tmp (root's, mode 1777) for one test, used as TMPDIR: what the stand-in and serve put there. */
async function stickyTemp(name: string): Promise<string> {
  const dir = join(work, name);
  await mkdir(dir);
  await chmod(dir, 0o1777);
  return dir;
}

const isRoot = process.getuid?.() === 0;
const serverGroupGid = () => Number(execFileSync('id', ['-g', 'www-data']).toString().trim());

async function writeApp(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const app = join(dir, 'app.wsgi');
  await writeFile(app, 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n');
  return app;
}

for (const end of ['SIGINT', 'SIGTERM', 'the server exiting'] as const) {
  withAttacker(
    `14.2 serve: a fresh private server root (not the /tmp/mod_wsgi-HOST:PORT:UID another user made first), only the server account may enter it, removed on ${end}`,
    async (t, attacker) => {
      const prefix = await standInPrefix();
      const dir = join(work, `serve-${end.replace(/\W+/g, '-')}`);
      const app = await writeApp(dir);
      const tmp = await stickyTemp(`tmp-${end.replace(/\W+/g, '-')}`);
      const port = await freePort();
      // The attacker, first: the names mod_wsgi-express would use, with httpd.conf pointing at a file of root's.
      const victim = join(dir, 'victim.conf');
      await writeFile(victim, 'precious\n');
      const planted: string[] = [];
      for (const host of ['localhost', '127.0.0.1']) {
        const trap = join(tmp, `mod_wsgi-${host}:${port}:0`);
        attacker.run(['mkdir', '-m', '0777', trap]);
        attacker.run(['ln', '-s', victim, join(trap, 'httpd.conf')]);
        planted.push(trap);
      }
      const plantedBefore = await Promise.all(planted.map((p) => snapshotTree(p)));

      const served = serveCli(['--prefix', prefix, app, '--port', String(port)], { TMPDIR: tmp }, dir);
      await waitFor('the URL line', () => served.out().includes(`http://127.0.0.1:${port}/\n`), served);
      const body = await getJson(`http://127.0.0.1:${port}/`);
      const root = body.serverRoot;
      t.true(root.startsWith(join(tmp, 'wsgi-serve-')), root);
      t.deepEqual(body.argv.slice(body.argv.indexOf('--server-root'), body.argv.indexOf('--server-root') + 2), ['--server-root', root]);
      const st = await stat(root);
      t.is(st.mode & 0o7777, 0o710, 'search only, for the server group');
      t.is(st.uid, 0, 'owned by the invoking user');
      t.is(st.gid, serverGroupGid(), "its group is the server account's");
      // What httpd's children and the daemon processes need, by name; nobody else gets in.
      t.is(spawnSync('runuser', ['-u', 'www-data', '--', 'cat', join(root, 'handler.wsgi')]).status, 0, 'the server account reads handler.wsgi');
      t.not(spawnSync('runuser', ['-u', 'www-data', '--', 'ls', root]).status, 0, 'but cannot list the server root');
      t.throws(() => attacker.run(['cat', join(root, 'httpd.conf')]), undefined, 'another user cannot read the configuration');
      t.throws(() => attacker.run(['touch', join(root, 'x')]));

      if (end === 'the server exiting') process.kill(body.pid, 'SIGTERM');
      else served.kill(end);
      const code = await served.exit;
      t.is(code, end === 'the server exiting' ? 0 : 130, served.err());
      t.false(existsSync(root), 'the private server root is removed');
      t.is(await readFile(victim, 'utf8'), 'precious\n', "root wrote nothing through the attacker's link");
      t.deepEqual(await Promise.all(planted.map((p) => snapshotTree(p))), plantedBefore, "the attacker's directories were not used");
      t.deepEqual(
        // (tsx, which runs the CLI from source here, keeps its cache in TMPDIR)
        (await readdir(tmp)).filter((n) => !planted.some((p) => p.endsWith(n)) && !n.startsWith('tsx-')),
        [],
        'nothing else is left in the temp dir',
      );
    },
  );
}

test.serial('14.2 serve --server-root DIR: that directory is the server root, created private, and kept after the server stops', async (t) => {
  const prefix = await standInPrefix();
  const dir = join(work, 'serve-given-root');
  const app = await writeApp(dir);
  const root = join(dir, 'server-root');
  const port = await freePort();
  const served = serveCli(['--prefix', prefix, app, '--port', String(port), '--server-root', root], {}, dir);
  await waitFor('the URL line', () => served.out().includes(`http://127.0.0.1:${port}/\n`), served);
  t.is((await getJson(`http://127.0.0.1:${port}/`)).serverRoot, root);
  t.is((await stat(root)).mode & 0o7777, isRoot ? 0o710 : 0o700);
  served.kill('SIGINT');
  t.is(await served.exit, 130, served.err());
  t.true(existsSync(join(root, 'httpd.conf')), 'kept: the user asked for it');
});

withAttacker(
  '14.2 as root, serve refuses a --server-root that another user can write, or under a directory they can: exit 2 naming it',
  async (t, attacker) => {
    const prefix = await standInPrefix();
    const dir = join(work, 'serve-unsafe-root');
    const app = await writeApp(dir);
    const port = await freePort();
    const open = join(dir, 'open');
    await mkdir(open);
    await chmod(open, 0o777); // writable by everyone, no sticky bit: anyone can swap what is inside
    const owned = join(dir, 'owned');
    await chmod(dir, 0o777); // the attacker may make their directory here; taken back below
    attacker.run(['mkdir', owned]);
    const cases: [string, string, RegExp][] = [
      [join(open, 'root'), open, /writable by others \(mode 0777\) without the sticky bit/],
      [owned, owned, new RegExp(`owned by uid ${attacker.uid}`)],
    ];
    await chmod(dir, 0o755);
    for (const [root, named, why] of cases) {
      const before = await snapshotTree(dir);
      const served = serveCli(['--prefix', prefix, app, '--port', String(port), '--server-root', root], {}, dir);
      t.is(await served.exit, 2, served.err());
      const last = served.err().trim().split('\n').at(-1)!;
      t.true(last.includes(`the server root ${root} is not safe for root's httpd: ${named} `), last);
      t.regex(last, why);
      t.regex(last, /\(fix: pass a --server-root DIR that only root can write/);
      t.deepEqual(await snapshotTree(dir), before, 'nothing was created or written');
    }
  },
);

test.serial(
  '14.3 serve listens on 127.0.0.1 unless --host says otherwise, and prints the URL on a line of its own once the server answers',
  async (t) => {
    const prefix = await standInPrefix();
    const dir = join(work, 'serve-host');
    const app = await writeApp(dir);
    for (const [extra, host, shown] of [
      [[], '127.0.0.1', '127.0.0.1'],
      [['--host', '0.0.0.0'], '0.0.0.0', '0.0.0.0'],
    ] as const) {
      const port = await freePort();
      const served = serveCli(['--prefix', prefix, app, '--port', String(port), ...extra], {}, dir);
      const url = `http://${shown}:${port}/`;
      await waitFor('the URL line', () => served.out().split('\n').includes(url), served);
      const body = await getJson(`http://127.0.0.1:${port}/`);
      const hostArgs = body.argv.flatMap((a, i) => (a === '--host' ? [body.argv[i + 1]] : []));
      t.deepEqual(hostArgs, [host], 'one --host, the default or the one given');
      served.kill('SIGTERM');
      t.is(await served.exit, 130, served.err());
    }
  },
);

// --- builds ---------------------------------------------------------------------------------------------------

/** One store for the builds that need nothing special of it: after the first build, nothing is compiled again. */
const sharedCache = () => join(work, 'cache');
const common = (set: FixtureSet = fixtures) => ['--recipes', set.recipesDir, '--python', '/usr/bin/python3', '--no-verify', '--plain', '-j', '2'];
const build = (prefix: string, extra: string[] = [], cache = sharedCache()) =>
  runCli(['build', '--prefix', prefix, ...common(), '--no-python-package', ...extra], { env: { WSGI_HTTPD_CACHE_DIR: cache } });
const lastLine = (text: string) => text.trim().split('\n').at(-1)!;
const escapeRegex = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A directory of someone else's (what a planted link points at), with a few files to lose. */
async function victimDir(name: string): Promise<string> {
  const victim = join(work, name);
  await mkdir(join(victim, 'stacks', 'x'), { recursive: true });
  await writeFile(join(victim, 'precious.txt'), 'precious\n');
  await writeFile(join(victim, 'stacks', 'x', 'data'), 'data\n');
  await writeFile(join(victim, 'lock'), 'not yours\n');
  return victim;
}

withPrivateMount('14.1 a prefix lock that cannot be written (no space left) is exit 9 naming the lock, and leaves nothing behind', async (t) => {
  const mnt = join(work, 'lock-enospc');
  await mkdir(mnt);
  const prefix = join(mnt, 'prefix');
  const requests = world!.server.requests.length;
  // Room for the prefix and its .wsgi-httpd, not for one more file: the lock's owner record.
  const result = await runWithTmpfs(
    mnt,
    { size: '2g', inodes: 3 },
    [
      'sh',
      '-c',
      `"$@"; echo "exit=$?"; find ${mnt} -mindepth 1`,
      'sh',
      process.execPath,
      cliMain,
      'build',
      '--prefix',
      prefix,
      ...common(),
      '--no-python-package',
    ],
    { ...process.env, CI: '1', WSGI_HTTPD_CACHE_DIR: join(work, 'cache-lock-enospc') },
  );
  t.is(result.code, 0, result.stderr);
  const [exit, ...left] = result.stdout
    .trim()
    .split('\n')
    .filter((l) => /^exit=|^\//.test(l));
  t.is(exit, 'exit=9', result.stderr + result.stdout);
  t.true(
    result.stderr.includes(`error: cannot take the lock ${prefix}/.wsgi-httpd/lock: no space left on device (ENOSPC) (fix: free space`),
    result.stderr,
  );
  t.notRegex(result.stderr, /internal error|\n\s+at /);
  t.deepEqual(left, [], 'no lock, no temp file, not even the directories made for it');
  t.is(world!.server.requests.length, requests, 'nothing was downloaded');
});

withPrivateMount('14.1 a prefix lock on a file system gone read-only is exit 9 naming the lock, and changes nothing', async (t) => {
  const mnt = join(work, 'lock-erofs');
  await mkdir(mnt);
  const prefix = join(mnt, 'prefix');
  const listing = `find ${mnt} -printf '%p %y %s\\n' | sort`;
  const cli = (...args: string[]) => [process.execPath, cliMain, ...args].map((a) => `'${a}'`).join(' ');
  const script = [
    `${cli('build', '--prefix', prefix, ...common(), '--no-python-package')} > /dev/null || exit 99`,
    `mount -o remount,ro ${mnt}`,
    `echo BEFORE; ${listing}`,
    `${cli('uninstall', '--prefix', prefix)}; echo "exit=$?"`,
    `echo AFTER; ${listing}`,
  ].join('\n');
  const result = await runWithTmpfs(mnt, { size: '2g' }, ['sh', '-c', script], { ...process.env, CI: '1', WSGI_HTTPD_CACHE_DIR: sharedCache() });
  t.is(result.code, 0, result.stderr + result.stdout);
  const [, before, after] = /BEFORE\n([\s\S]*)exit=\d+\nAFTER\n([\s\S]*)$/.exec(result.stdout) ?? [];
  t.regex(result.stdout, /exit=9\n/, result.stderr);
  t.true(
    result.stderr.includes(`error: cannot take the lock ${prefix}/.wsgi-httpd/lock: read-only file system (EROFS) (fix: choose a location`),
    result.stderr,
  );
  t.truthy(before);
  t.is(after, before, 'nothing changed');
});

test.serial(
  '14.4 a symlinked .wsgi-httpd or .wsgi-httpd/stacks is refused by build (exit 2 naming it); what it points at is untouched',
  async (t) => {
    for (const planted of ['.wsgi-httpd', '.wsgi-httpd/stacks']) {
      const prefix = join(work, `linked-${planted.replace(/\W+/g, '-')}`);
      await mkdir(join(prefix, '.wsgi-httpd'), { recursive: true });
      const victim = await victimDir(`victim-${planted.replace(/\W+/g, '-')}`);
      if (planted === '.wsgi-httpd') await rm(join(prefix, '.wsgi-httpd'), { recursive: true });
      await symlink(victim, join(prefix, planted));
      const before = await snapshotTree(victim);
      const result = await build(prefix);
      t.is(result.code, 2, result.stderr + result.stdout);
      t.true(
        lastLine(result.stderr).includes(`error: ${join(prefix, planted)} is a symbolic link, where wsgi-toolchain keeps a directory of its own`),
      );
      t.deepEqual(await snapshotTree(victim), before, 'the victim is byte-identical');
    }
  },
);

test.serial('14.4 uninstall (and --dry-run) refuses a symlinked .wsgi-httpd or stacks: exit 2 naming it, nothing removed anywhere', async (t) => {
  for (const planted of ['.wsgi-httpd', '.wsgi-httpd/stacks']) {
    const prefix = join(work, `uninstall-linked-${planted.replace(/\W+/g, '-')}`);
    const built = await build(prefix);
    t.is(built.code, 0, built.stderr);
    // The real directory moves out of the prefix; a link to it takes its place (httpd still resolves through it).
    const victim = join(work, `uninstall-victim-${planted.replace(/\W+/g, '-')}`);
    await rename(join(prefix, planted), victim);
    await symlink(victim, join(prefix, planted));
    const before = { prefix: await snapshotTree(prefix), victim: await snapshotTree(victim) };
    for (const extra of [['--dry-run'], []]) {
      const result = await runCli(['uninstall', '--prefix', prefix, ...extra], { env: { WSGI_HTTPD_CACHE_DIR: sharedCache() } });
      t.is(result.code, 2, result.stderr + result.stdout);
      t.true(
        lastLine(result.stderr).includes(`error: ${join(prefix, planted)} is a symbolic link, where wsgi-toolchain keeps a directory of its own`),
      );
      t.deepEqual({ prefix: await snapshotTree(prefix), victim: await snapshotTree(victim) }, before);
    }
  }
});

test.serial(
  '14.4 a symlink planted as <store>/tmp or <store>/layers/<key> is refused (exit 2 naming it); nothing outside the store is deleted',
  async (t) => {
    const seeded = await build(join(work, 'store-seed'));
    t.is(seeded.code, 0, seeded.stderr);

    // tmp/: what a killed build left there (a dead pid in the name) is cleared before each build, never through a link.
    const tmpStore = join(work, 'store-tmp-link');
    await mkdir(tmpStore);
    const tmpVictim = await victimDir('store-tmp-victim');
    await mkdir(join(tmpVictim, 'layer-2147483646-abcd'));
    await writeFile(join(tmpVictim, 'layer-2147483646-abcd', 'file'), 'kept\n');
    await symlink(tmpVictim, join(tmpStore, 'tmp'));
    const tmpBefore = await snapshotTree(tmpVictim);
    const viaTmp = await build(join(work, 'store-tmp-prefix'), [], tmpStore);
    t.is(viaTmp.code, 2, viaTmp.stderr + viaTmp.stdout);
    t.true(lastLine(viaTmp.stderr).includes(`error: ${join(tmpStore, 'tmp')} is a symbolic link`), viaTmp.stderr);
    t.deepEqual(await snapshotTree(tmpVictim), tmpBefore);

    // layers/<key>: a copy of the store whose apr layer directory is a link to a lookalike elsewhere.
    const layerStore = join(work, 'store-layer-link');
    execFileSync('cp', ['-a', sharedCache(), layerStore]);
    const key = (await readdir(join(layerStore, 'layers'))).find(
      (k) => readFileSyncJson(join(layerStore, 'layers', k, 'layer.json')).component === 'apr',
    )!;
    const layerVictim = join(work, 'store-layer-victim');
    await rename(join(layerStore, 'layers', key), layerVictim);
    await symlink(layerVictim, join(layerStore, 'layers', key));
    const layerBefore = await snapshotTree(layerVictim);
    const viaLayer = await build(join(work, 'store-layer-prefix'), ['--force'], layerStore);
    t.is(viaLayer.code, 2, viaLayer.stderr + viaLayer.stdout);
    t.true(lastLine(viaLayer.stderr).includes(`error: ${join(layerStore, 'layers', key)} is a symbolic link`), viaLayer.stderr);
    const pruned = await runCli(['cache', 'prune', '--keep', '0'], { env: { WSGI_HTTPD_CACHE_DIR: layerStore } });
    t.is(pruned.code, 2, pruned.stderr + pruned.stdout);
    t.true(lastLine(pruned.stderr).includes(`${join(layerStore, 'layers', key)} is a symbolic link`), pruned.stderr);
    t.deepEqual(await snapshotTree(layerVictim), layerBefore, 'the lookalike layer elsewhere is byte-identical');
  },
);

function readFileSyncJson(path: string): { component?: string } {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as { component?: string };
  } catch {
    return {};
  }
}

/** A virtualenv made without pip (the build lays the package out itself), readable by the server account. */
function makeVenv(dir: string): string {
  execFileSync('/usr/bin/python3', ['-m', 'venv', '--without-pip', dir]);
  return join(dir, 'bin', 'python');
}

/** Whether a `sleep N` (a slow fixture step) runs with its working directory under dir. */
async function sleepingUnder(dir: string): Promise<boolean> {
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = (await readFile(`/proc/${name}/cmdline`, 'utf8')).split('\0').join(' ').trim();
      const cwd = await readlink(`/proc/${name}/cwd`).catch(() => '');
      if (/^sleep \d+$/.test(cmdline) && cwd.startsWith(`${dir}/`)) return true;
    } catch {
      /* gone meanwhile */
    }
  }
  return false;
}

test.serial(
  '14.5 a build that fails at the switch, after the Python package went into the virtualenv, leaves the virtualenv byte-identical',
  async (t) => {
    const dir = join(work, 'venv-rollback');
    await mkdir(dir);
    const venv = join(dir, 'venv');
    const python = makeVenv(venv);
    const before = await snapshotTree(venv);
    const cache = join(dir, 'cache'); // its own store: the build compiles, and its slow apr configure is a window
    const child = spawn(
      process.execPath,
      [cliMain, 'build', '--prefix', venv, ...common(slowApr), '--sources', slowApr.sourcesDir, '--python', python],
      { cwd: repoRoot, env: { ...process.env, CI: '1', WSGI_HTTPD_CACHE_DIR: cache }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exit = new Promise<number | null>((resolve) => child.on('close', resolve));
    const deadline = Date.now() + 60_000;
    while (!(await sleepingUnder(cache))) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`apr's configure never slept:\n${out}`);
      await sleep(50);
    }
    // While the build runs (after every plan-time check), something not of the tool's appears where the lock goes.
    const foreign = join(venv, 'wsgi-toolchain.lock.json');
    await mkdir(foreign);
    const code = await exit;
    t.is(code, 2, out);
    t.regex(out, /Python package .*: mod_wsgi 9\.0\.0, \d+ files, nothing compiled/, 'the package step ran');
    t.true(lastLine(out).includes(`error: ${foreign} exists and was not written by wsgi-toolchain (it is a directory)`), lastLine(out));
    const after = await snapshotTree(venv);
    delete after['wsgi-toolchain.lock.json'];
    t.deepEqual(after, before, 'the virtualenv is byte-identical: no package, no script, no stack, no link');
  },
);

test.serial('14.5 a mod_wsgi-apxs of another installer in the virtualenv is never overwritten: the drop-in is skipped, naming it', async (t) => {
  const venv = join(work, 'venv-foreign-apxs');
  const python = makeVenv(venv);
  const apxs = join(venv, 'bin', 'mod_wsgi-apxs');
  await writeFile(apxs, '#!/bin/sh\necho theirs\n', { mode: 0o755 });
  const result = await runCli(['build', '--prefix', venv, ...common(), '--python', python], { env: { WSGI_HTTPD_CACHE_DIR: sharedCache() } });
  t.is(result.code, 0, result.stderr + result.stdout);
  t.true(result.stdout.includes(`drop-in skipped: ${venv} already has mod_wsgi-httpd (${apxs})`), result.stdout);
  t.is(await readFile(apxs, 'utf8'), '#!/bin/sh\necho theirs\n');
  const site = execFileSync(python, ['-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])']).toString().trim();
  t.false(existsSync(join(site, 'mod_wsgi_packages')));
});

test.serial(
  '14.6 a too long prefix, a prefix with a space, a prefix that is a file: --dry-run says where the build would stop (exit 2); the build exits 2 before any download',
  async (t) => {
    const file = join(work, 'a-file');
    await writeFile(file, 'not a directory\n');
    const cases: [string, string][] = [
      [join(work, 'long', 'x'.repeat(200)), 'bytes long; binaries are built for a 200-byte path'],
      [join(work, 'with space'), "contains a space, which Apache's configuration, apachectl and apxs cannot carry"],
      [file, `the prefix ${file} is a file, not a directory`],
      [join(file, 'sub'), `${file}, on the way to the prefix ${join(file, 'sub')}, is a file, not a directory`],
    ];
    for (const [prefix, problem] of cases) {
      const cache = join(work, `cache-plan-${cases.findIndex((c) => c[0] === prefix)}`); // empty: a build would download
      const requests = world!.server.requests.length;
      const dry = await runCli(['build', '--prefix', prefix, ...common(), '--dry-run'], { env: { WSGI_HTTPD_CACHE_DIR: cache } });
      t.is(dry.code, 2, `--dry-run exits as the build would: ${dry.stderr}`);
      const stop = dry.stdout.slice(dry.stdout.indexOf('The build would stop here:'));
      t.true(stop.startsWith('The build would stop here:') && stop.includes(problem), dry.stdout);
      const real = await runCli(['build', '--prefix', prefix, ...common()], { env: { WSGI_HTTPD_CACHE_DIR: cache } });
      t.is(real.code, 2, real.stderr);
      t.true(lastLine(real.stderr).includes(problem), lastLine(real.stderr));
      t.is(world!.server.requests.length, requests, 'nothing was downloaded');
      t.false(existsSync(join(work, 'long')) || existsSync(join(work, 'with space')), 'no prefix was made');
    }
  },
);

withPrivateMount(
  '14.6 a store on its own small file system: --dry-run says the build would stop at its free space; the build stops there',
  async (t) => {
    const mnt = join(work, 'small-store');
    await mkdir(mnt);
    const buildDir = join(work, 'small-store-build');
    const requests = world!.server.requests.length;
    const cli = (...args: string[]) => [process.execPath, cliMain, ...args].map((a) => `'${a}'`).join(' ');
    const prefix = join(work, 'small-store-prefix');
    const script = [
      `${cli('build', '--prefix', prefix, ...common(), '--dry-run')}; echo "dry=$?"`,
      `${cli('build', '--prefix', prefix, ...common())}; echo "real=$?"`,
    ].join('\n');
    const result = await runWithTmpfs(mnt, { size: '64m' }, ['sh', '-c', script], {
      ...process.env,
      CI: '1',
      WSGI_HTTPD_CACHE_DIR: join(mnt, 'cache'),
      WSGI_HTTPD_BUILD_DIR: buildDir,
    });
    t.is(result.code, 0, result.stderr + result.stdout);
    t.regex(result.stdout, /dry=3\n/, 'a dry run exits with the code the build would stop with');
    t.regex(
      result.stdout,
      /The build would stop here:\n(.|\n)*Free space \(store\)(.|\n)*free for the store .*\/small-store\/cache; the build needs at least 1\.0 GiB/,
    );
    t.regex(result.stdout, /real=3\n/, result.stderr);
    t.regex(lastLine(result.stderr), /free for the store .*\/small-store\/cache/);
    t.is(world!.server.requests.length, requests, 'nothing was downloaded');
    t.false(existsSync(prefix));
  },
);

withPrivateMount('14.7 no space left while the stack is assembled: exit 9 naming the path, the prefix as it was, the new stack gone', async (t) => {
  const mnt = join(work, 'assemble-enospc');
  await mkdir(mnt);
  const prefix = join(mnt, 'prefix');
  const warm = await build(join(work, 'assemble-warm')); // the layers are in the store: the build only assembles
  t.is(warm.code, 0, warm.stderr);
  const listing = `find ${mnt} -printf '%p %y %s\\n' | sort`;
  const cli = [process.execPath, cliMain, 'build', '--prefix', prefix, ...common(), '--no-python-package'].map((a) => `'${a}'`).join(' ');
  // doctor wants 1 GiB free under the prefix, so the disk fills by files, not bytes: room for the prefix, a file of
  // the user's, .wsgi-httpd with its lock and stacks/, and a few files of the stack, not all of them.
  const script = [`echo mine > ${prefix}/README`, `echo BEFORE; ${listing}`, `${cli} > /dev/null; echo "exit=$?"`, `echo AFTER; ${listing}`].join(
    '\n',
  );
  const result = await runWithTmpfs(mnt, { size: '2g', inodes: 16, mkdirs: [prefix] }, ['sh', '-c', script], {
    ...process.env,
    CI: '1',
    WSGI_HTTPD_CACHE_DIR: sharedCache(),
  });
  t.is(result.code, 0, result.stderr + result.stdout);
  t.regex(result.stdout, /exit=9\n/, result.stderr + result.stdout);
  t.regex(
    lastLine(result.stderr),
    new RegExp(`error: cannot \\w+ ${escapeRegex(prefix)}/\\.wsgi-httpd/stacks/[0-9a-f]+/\\S+: no space left on device \\(ENOSPC\\)`),
  );
  t.notRegex(result.stderr, /internal error|\n\s+at /);
  const [, before, after] = /BEFORE\n([\s\S]*)exit=\d+\nAFTER\n([\s\S]*)$/.exec(result.stdout) ?? [];
  t.truthy(before);
  t.is(after, before, 'the prefix is as it was: the new stack, .wsgi-httpd and the lock are gone');
});

test.serial('14.7 -j 0, -j -1, -j 100000: exit 2 before anything is done', async (t) => {
  for (const jobs of ['0', '-1', '100000']) {
    const prefix = join(work, `jobs-${jobs}`);
    const result = await runCli(['build', '--prefix', prefix, '--recipes', fixtures.recipesDir, '--python', '/usr/bin/python3', `-j${jobs}`]);
    t.is(result.code, 2, result.stderr);
    t.true(lastLine(result.stderr).includes(`--jobs ${jobs} is not a number from 1 to 512`), result.stderr);
    t.false(existsSync(prefix));
  }
});

test.serial(
  '14.9 a lock is untrusted input: a file name with a path, an extra configure argument, an apr sha256 the recipes do not give: exit 2 naming it; the overlay that defines that sha256 makes it pass',
  async (t) => {
    const dir = join(work, 'untrusted-lock');
    await mkdir(dir);
    const env = { WSGI_HTTPD_CACHE_DIR: join(dir, 'cache') }; // empty: anything that got as far as a download would show
    const lockFile = join(dir, 'good.lock.json');
    const locked = await runCli(['lock', '--output', lockFile, ...common()], { env });
    t.is(locked.code, 0, locked.stderr);
    const good = JSON.parse(await readFile(lockFile, 'utf8')) as {
      components: { name: string; version: string; artifacts: { file: string; sha256: string }[]; configureArgs: string[] }[];
    };
    const variant = async (name: string, change: (lock: typeof good) => void) => {
      const lock = structuredClone(good);
      change(lock);
      const file = join(dir, `${name}.lock.json`);
      await writeFile(file, JSON.stringify(lock, null, 2));
      return file;
    };
    const component = (lock: typeof good, name: string) => lock.components.find((c) => c.name === name)!;
    const otherSha = otherApr.files.find((f) => f.component === 'apr')!.sha256;
    t.not(otherSha, component(good, 'apr').artifacts[0]!.sha256, 'the other apr tarball has its own sha256');
    const cases: [string, string, RegExp][] = [
      [
        await variant('path-name', (l) => {
          component(l, 'apr').artifacts[0]!.file = '../x';
        }),
        'path',
        /is not valid: apr names the file "\.\.\/x", which is not a plain file name/,
      ],
      [
        await variant('extra-arg', (l) => {
          component(l, 'httpd').configureArgs.push('--enable-so-evil');
        }),
        'extra',
        /does not match the recipes for httpd 2\.4\.99: its configureArgs \[.*"--enable-so-evil"\] differ from the recipe's/,
      ],
      [
        await variant('other-apr', (l) => {
          component(l, 'apr').artifacts[0]!.sha256 = otherSha;
        }),
        'sha',
        new RegExp(`does not match the recipes for apr 1\\.9\\.0: its files apr-1\\.9\\.0\\.tar\\.gz ${otherSha} are not what the recipes give`),
      ],
    ];
    const requests = world!.server.requests.length;
    for (const [file, , message] of cases) {
      const prefix = join(dir, 'prefix');
      const result = await runCli(['build', '--prefix', prefix, '--lock', file, ...common(), '--no-python-package'], { env });
      t.is(result.code, 2, result.stderr);
      t.regex(lastLine(result.stderr), message);
      t.false(existsSync(prefix));
    }
    t.is(world!.server.requests.length, requests, 'nothing was downloaded');
    // The overlay that defines that apr sha256 (its recipes, its sources) makes the same lock good.
    const passed = await runCli(
      [
        'build',
        '--prefix',
        join(dir, 'prefix'),
        '--lock',
        cases[2]![0],
        ...common(otherApr),
        '--sources',
        otherApr.sourcesDir,
        '--no-python-package',
      ],
      { env },
    );
    t.is(passed.code, 0, passed.stderr + passed.stdout);
    const installed = JSON.parse(await readFile(join(dir, 'prefix', 'wsgi-toolchain.lock.json'), 'utf8')) as typeof good;
    t.is(component(installed, 'apr').artifacts[0]!.sha256, otherSha);
  },
);

withAttacker(
  '14.10 as root, a prefix another user owns or can write is refused by build, info, pack, push and uninstall: exit 2 naming why, nothing written or run',
  async (t, attacker) => {
    const prefix = join(work, 'trust-prefix');
    const built = await build(prefix);
    t.is(built.code, 0, built.stderr);
    const commands: [string, string[]][] = [
      ['build', ['build', '--prefix', prefix, ...common(), '--no-python-package', '--force']],
      ['info', ['info', '--prefix', prefix]],
      ['pack', ['pack', '--prefix', prefix, '--output', join(work, 'trust.tar')]],
      ['push', ['push', '--prefix', prefix, '127.0.0.1:1/trust/stack']],
      ['uninstall', ['uninstall', '--prefix', prefix]],
    ];
    const cases: [string, () => Promise<void>, RegExp][] = [
      [
        'owned by the other user',
        () => chownTree(prefix, attacker.uid, attacker.gid),
        new RegExp(`${escapeRegex(prefix)} is owned by uid ${attacker.uid}`),
      ],
      [
        'a directory in it writable by others',
        () => chmod(join(prefix, '.wsgi-httpd', 'logs'), 0o777),
        /\.wsgi-httpd\/logs is writable by others \(mode 0777\) without the sticky bit/,
      ],
    ];
    for (const [what, make, why] of cases) {
      await chownTree(prefix, 0, 0);
      await chmod(join(prefix, '.wsgi-httpd', 'logs'), 0o755);
      await make();
      const before = await snapshotTree(prefix);
      for (const [name, argv] of commands) {
        const result = await runCli(argv, { env: { WSGI_HTTPD_CACHE_DIR: sharedCache() } });
        t.is(result.code, 2, `${what}: ${name}: ${result.stderr}`);
        const line = lastLine(result.stderr);
        t.true(line.startsWith(`wsgi-toolchain: error: as root, the prefix ${prefix} is not safe to work in: `), `${what}: ${name}: ${line}`);
        t.regex(line, why, `${what}: ${name}`);
      }
      t.deepEqual(await snapshotTree(prefix), before, `${what}: the prefix is as it was`);
      t.false(existsSync(join(work, 'trust.tar')), 'no archive was written');
    }
  },
);

async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  execFileSync('chown', ['-R', '-h', `${uid}:${gid}`, dir]);
}

test.serial(
  '14.10 a build.log in the prefix planted as a link to another file: the build replaces the link, never writes or chmods through it',
  async (t) => {
    const prefix = join(work, 'log-link-prefix');
    const first = await build(prefix);
    t.is(first.code, 0, first.stderr);
    const victim = join(await victimDir('log-link-victim'), 'precious.txt');
    await chmod(victim, 0o600);
    const log = join(prefix, '.wsgi-httpd', 'logs', 'build.log');
    await rm(log);
    await symlink(victim, log);
    const again = await build(prefix, ['--force']);
    t.is(again.code, 0, again.stderr);
    t.is(await readFile(victim, 'utf8'), 'precious\n');
    t.is((await stat(victim)).mode & 0o777, 0o600);
    t.false((await lstat(log)).isSymbolicLink());
    t.regex(await readFile(log, 'utf8'), /build of /);
  },
);

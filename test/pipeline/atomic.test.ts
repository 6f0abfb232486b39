/**
 * Atomic builds: a build interrupted anywhere (download, configure, make, install; SIGINT, SIGTERM, even SIGKILL)
 * leaves the prefix byte for byte as it was, no process behind and no build or stage directory; the next build cleans
 * up and succeeds. And one build per prefix at a time: a second one fails at once (exit 8) or waits (--wait).
 */
import test, { type ExecutionContext } from 'ava';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, readlink, realpath, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cliMain, repoRoot, runCli } from '../helpers/cli.js';
import { makeFixtureSet, type FixtureSet, type SlowStep } from '../helpers/fixtures.js';
import { startLoopbackServer, type Handler, type LoopbackServer } from '../helpers/loopback-server.js';
import { snapshotTree } from '../helpers/tree.js';
import { killAll, processesUnder } from '../helpers/processes.js';

let work: string;
let server: LoopbackServer;
const handlers: Record<string, Handler> = {};
/** Completed builds come from here (--sources). */
let fixtures: FixtureSet;
/** apr sleeps in that step. */
const slowSets: Partial<Record<SlowStep, FixtureSet>> = {};
/** Served by the loopback server; its apr (1.9.1, a tarball no other set has) can be made to stall mid-body. */
let served: FixtureSet;
let stall = false;
/** A store holding the `fixtures` stack: each test starts from a copy, so its first build installs instead of compiling. */
const seedStore = () => join(work, 'seed', 'cache');
let stalled = 0;
const slowSeconds = 3;

test.before(async () => {
  work = await realpath(await mkdtemp(join(tmpdir(), 'wsgi-atomic-')));
  await chmod(work, 0o755);
  server = await startLoopbackServer({ root: join(work, 'served', 'sources'), handlers, lifetimeMs: 15 * 60_000 });
  fixtures = await makeFixtureSet(join(work, 'fixtures'));
  for (const step of ['configure', 'make', 'install'] as const)
    slowSets[step] = await makeFixtureSet(join(work, `slow-${step}`), { slow: { apr: step }, slowSeconds });
  served = await makeFixtureSet(join(work, 'served'), { baseUrl: server.url, versions: { apr: '1.9.1' } });
  const seeded = await runCli(buildArgs(join(work, 'seed', 'prefix'), fixtures), { env: { WSGI_HTTPD_CACHE_DIR: seedStore() } });
  if (seeded.code !== 0) throw new Error(`the seed build failed: ${seeded.stderr}${seeded.stdout}`);
  const file = join(served.sourcesDir, 'apr', 'apr-1.9.1.tar.gz');
  handlers['/apr/apr-1.9.1.tar.gz'] = (_req, res) => {
    if (!stall) return false;
    // Headers and half the body, then nothing: the download is in progress until the client goes away.
    const data = readFileSync(file);
    res.writeHead(200, { 'content-length': data.length });
    res.write(data.subarray(0, data.length >> 1));
    stalled++;
    return true;
  };
});

test.after.always(async () => {
  await server?.close();
  if (work) {
    killAll(await processesUnder(work)); // only if a test failed half-way
    await rm(work, { recursive: true, force: true });
  }
});

const common = ['--python', '/usr/bin/python3', '--no-verify', '--no-python-package', '--plain'];
const buildArgs = (prefix: string, set: FixtureSet, ...extra: string[]) => [
  'build',
  '--prefix',
  prefix,
  '--recipes',
  set.recipesDir,
  ...(set === served ? [] : ['--sources', set.sourcesDir]),
  ...common,
  ...extra,
];

interface Running {
  child: ChildProcess;
  pid: number;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The CLI as a user starts it, with its pid at hand (killed after timeoutMs so a hang cannot block the suite). */
function startCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000): Running {
  const child = spawn(process.execPath, [cliMain, ...args], {
    cwd: repoRoot,
    env: { ...process.env, CI: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    }),
  );
  return { child, pid: child.pid!, stdout: () => stdout, stderr: () => stderr, exit };
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** The sleep of a slow fixture step, running under dir. */
const sleeping = async (dir: string) => (await processesUnder(dir)).find((p) => /^sleep \d+$/.test(p.cmdline));

/** What a build leaves in the cache's build root: nothing but an empty stage directory. */
async function buildRootLeftovers(cache: string): Promise<string[]> {
  const root = join(cache, 'build');
  const names = await readdir(root).catch(() => [] as string[]);
  const stage = names.includes('stage') ? (await readdir(join(root, 'stage'))).map((n) => `stage/${n}`) : [];
  return [...names.filter((n) => n !== 'stage'), ...stage];
}

const lockDirs = async (cache: string) => readdir(join(cache, 'locks')).catch(() => [] as string[]);

async function setUp(t: ExecutionContext, name: string) {
  const dir = join(work, name);
  await mkdir(dir);
  const env = { WSGI_HTTPD_CACHE_DIR: join(dir, 'cache') };
  await cp(seedStore(), env.WSGI_HTTPD_CACHE_DIR, { recursive: true, verbatimSymlinks: true });
  const prefix = join(dir, 'prefix');
  const first = await runCli(buildArgs(prefix, fixtures), { env });
  t.is(first.code, 0, first.stderr + first.stdout);
  return { dir, env, prefix, cache: env.WSGI_HTTPD_CACHE_DIR, liveBefore: await readlink(join(prefix, 'httpd')) };
}

/** The step title the plain output shows when that step starts. */
const stepLine: Record<SlowStep, RegExp> = {
  configure: /\] apr [\d.]+: configure\n/,
  make: /\] apr [\d.]+: compile\n/,
  install: /\] apr [\d.]+: install\n/,
};

type Point = 'download' | SlowStep;

async function interrupt(t: ExecutionContext, point: Point, signal: 'SIGINT' | 'SIGTERM') {
  const { dir, env, prefix, cache, liveBefore } = await setUp(t, `${point}-${signal}`);
  const before = await snapshotTree(prefix);
  const set = point === 'download' ? served : slowSets[point]!;

  stall = point === 'download';
  const stalledBefore = stalled;
  const build = startCli(buildArgs(prefix, set), env);
  if (point === 'download') {
    await waitFor('the stalled download', () => stalled > stalledBefore && /\] apr 1\.9\.1: download apr-1\.9\.1\.tar\.gz/.test(build.stdout()));
    await sleep(300); // the client has the first half
  } else {
    await waitFor(`"apr: ${point}" in the output`, () => stepLine[point].test(build.stdout())).catch((error: Error) => {
      throw new Error(`${error.message}; the output so far:\n${build.stdout()}\n${build.stderr()}`);
    });
    await waitFor(`the ${point} step's sleep`, () => sleeping(dir));
  }
  t.is(build.child.exitCode, null, 'still running when interrupted');
  process.kill(build.pid, signal);
  const exit = await build.exit;
  stall = false;

  t.is(exit.code, 130, build.stderr() + build.stdout());
  t.regex(build.stderr(), new RegExp(`interrupted by ${signal}.*\\(fix: nothing was changed in the prefix`));
  t.deepEqual(await snapshotTree(prefix), before, 'the prefix is byte-identical');
  const left = await waitFor('every child to exit', async () => ((await processesUnder(dir)).length === 0 ? [] : false), 5_000).catch(
    () => undefined,
  );
  t.deepEqual(left ?? (await processesUnder(dir)), [], 'no process survives');
  t.deepEqual(await buildRootLeftovers(cache), [], 'no build directory, no stage directory');
  t.deepEqual(await lockDirs(cache), [], 'the locks are released');

  const rerun = await runCli(buildArgs(prefix, set), { env });
  t.is(rerun.code, 0, rerun.stderr + rerun.stdout);
  t.not(await readlink(join(prefix, 'httpd')), liveBefore, 'the new build is live');
  t.deepEqual(await readdir(join(prefix, '.wsgi-httpd', 'stacks')), [(await readlink(join(prefix, 'httpd'))).split('/').at(-1)]);
  t.regex(execFileSync(join(prefix, 'httpd', 'bin', 'httpd'), ['-V']).toString(), /Apache\/2\.4\.99/);
  t.deepEqual(await processesUnder(dir), []);
  t.deepEqual(await buildRootLeftovers(cache), []);
}

for (const point of ['download', 'configure', 'make', 'install'] as const) {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    test.serial(`${signal} during ${point}: exit 130, prefix byte-identical, no process left, no build or stage dir, rerun succeeds`, (t) =>
      interrupt(t, point, signal),
    );
  }
}

test.serial('SIGKILL during make: the live stack is untouched, and the next build clears the leftovers and succeeds', async (t) => {
  const { dir, env, prefix, cache, liveBefore } = await setUp(t, 'make-SIGKILL');
  const before = await snapshotTree(prefix);
  const set = slowSets.make!;
  const build = startCli(buildArgs(prefix, set), env);
  await waitFor('"apr: compile" in the output', () => stepLine.make.test(build.stdout()));
  await waitFor("the make step's sleep", () => sleeping(dir));
  process.kill(build.pid, 'SIGKILL');
  t.is((await build.exit).signal, 'SIGKILL');

  // Nothing ran to clean up: whatever changed must be outside the live stack, under a new stack id.
  const after = await snapshotTree(prefix);
  const liveId = liveBefore.split('/').at(-1)!;
  for (const [path, digest] of Object.entries(before)) t.is(after[path], digest, path);
  const added = Object.keys(after).filter((p) => !(p in before));
  t.true(
    added.every((p) => p === '.wsgi-httpd/lock' || (p.startsWith('.wsgi-httpd/stacks/') && !p.startsWith(`.wsgi-httpd/stacks/${liveId}`))),
    added.join(', '),
  );
  t.is(await readlink(join(prefix, 'httpd')), liveBefore);
  t.regex(execFileSync(join(prefix, 'httpd', 'bin', 'httpd'), ['-V']).toString(), /Apache\/2\.4\.99/);

  // The leftovers: the build and stage directories, the stage lock in the store and the prefix's lock, owned by a
  // dead pid (the lock file is the one thing of the killed build in the prefix outside a stack of its own).
  t.true((await buildRootLeftovers(cache)).length >= 2);
  const locks = await lockDirs(cache);
  t.is(locks.length, 1);
  for (const lock of [join(cache, 'locks', locks[0]!), join(prefix, '.wsgi-httpd', 'lock')])
    t.is(JSON.parse(await readFile(lock, 'utf8')).pid, build.pid, lock);

  // The killed build's make (its own process group) carries on by itself for a moment; let it end.
  await waitFor('the orphaned make to finish', async () => (await processesUnder(dir)).length === 0, slowSeconds * 1000 + 20_000).catch(async () => {
    killAll(await processesUnder(dir));
  });

  const rerun = await runCli(buildArgs(prefix, set), { env });
  t.is(rerun.code, 0, rerun.stderr + rerun.stdout);
  const live = await readlink(join(prefix, 'httpd'));
  t.not(live, liveBefore);
  t.deepEqual(await readdir(join(prefix, '.wsgi-httpd', 'stacks')), [live.split('/').at(-1)], 'only the live stack');
  t.deepEqual(await buildRootLeftovers(cache), [], 'the killed build directory and stage are gone');
  t.deepEqual(await lockDirs(cache), [], 'the stale locks were taken over and released');
  t.false(existsSync(join(prefix, '.wsgi-httpd', 'lock')));
  t.regex(rerun.stdout, /note: took over the stale lock \S+\/\.wsgi-httpd\/lock \(process \d+ is gone\)/);
  t.deepEqual(await processesUnder(dir), []);
});

test.serial(
  'two builds on one prefix: the second fails at once with exit 8 naming the first pid; with --wait it waits, then is up to date',
  async (t) => {
    const dir = join(work, 'concurrent');
    await mkdir(dir);
    const env = { WSGI_HTTPD_CACHE_DIR: join(dir, 'cache') };
    const prefix = join(dir, 'prefix');
    const args = buildArgs(prefix, slowSets.configure!);
    const first = startCli(args, env);
    await waitFor('the first build to be configuring', () => sleeping(dir));

    const t0 = Date.now();
    const second = await runCli(args, { env });
    t.is(second.code, 8, second.stderr);
    const last = second.stderr.trim().split('\n').at(-1)!;
    t.regex(
      last,
      new RegExp(`a build of ${prefix.replaceAll('.', '\\.')} holds ${prefix.replaceAll('.', '\\.')}/\\.wsgi-httpd/lock \\(process ${first.pid} on `),
    );
    t.regex(last, /\(fix: wait for it to finish, or pass --wait SECONDS/);
    t.is(first.child.exitCode, null, `the second gave up at once (${Date.now() - t0} ms), without waiting for the first`);
    t.false(existsSync(join(prefix, 'httpd')));

    const waiting = startCli([...args, '--wait', '60'], env);
    const firstExit = await first.exit;
    t.is(firstExit.code, 0, first.stderr());
    t.is(waiting.child.exitCode, null, 'the waiting build was still waiting when the first finished');
    const waited = await waiting.exit;
    t.is(waited.code, 0, waiting.stderr() + waiting.stdout());
    t.regex(waiting.stdout(), /^up to date: /m);
    t.notRegex(waiting.stdout(), /\] apr [\d.]+: (configure|compile)/, 'nothing was built twice');
    t.regex(execFileSync(join(prefix, 'httpd', 'bin', 'httpd'), ['-V']).toString(), /Apache\/2\.4\.99/);
    t.deepEqual(await lockDirs(env.WSGI_HTTPD_CACHE_DIR), []);
  },
);

test.serial('the same build into two prefixes at once: the second waits for the first and reuses it, leaving its build alone', async (t) => {
  const dir = join(work, 'two-prefixes');
  await mkdir(dir);
  const env = { WSGI_HTTPD_CACHE_DIR: join(dir, 'cache') };
  const first = startCli(buildArgs(join(dir, 'one'), slowSets.make!), env);
  await waitFor('the first build to be compiling', () => sleeping(dir));
  const second = await runCli(buildArgs(join(dir, 'two'), slowSets.make!), { env });
  const firstExit = await first.exit;
  t.is(firstExit.code, 0, first.stderr() + first.stdout());
  t.is(second.code, 0, second.stderr + second.stdout);
  t.notRegex(second.stdout, /: (configure|compile)\n/, 'the second compiled nothing');
  t.regex(second.stdout, /Assemble the stack from its layers: \d+ files from 5 layers/);
  for (const prefix of ['one', 'two']) t.regex(execFileSync(join(dir, prefix, 'httpd', 'bin', 'httpd'), ['-V']).toString(), /Apache\/2\.4\.99/);
  t.deepEqual(await buildRootLeftovers(env.WSGI_HTTPD_CACHE_DIR), []);
});

for (const [what, record] of [
  [
    'names a dead pid',
    (dead: number) => JSON.stringify({ pid: dead, host: hostname(), started: new Date(Date.now() - 3600_000).toISOString(), what: 'x' }),
  ],
  ['is empty (a full disk)', () => ''],
  ['is garbage', () => '{"pid": "not a number"'],
] as const) {
  test.serial(`a stale prefix lock whose owner record ${what} is taken over with a line naming it`, async (t) => {
    const dir = join(work, `stale-lock-${what.replace(/\W+/g, '-')}`);
    await mkdir(dir);
    const cache = join(dir, 'cache');
    const prefix = join(dir, 'prefix');
    const lock = join(prefix, '.wsgi-httpd', 'lock');
    await mkdir(join(prefix, '.wsgi-httpd'), { recursive: true });
    await writeFile(lock, record(spawnSync('true').pid!)); // exited and reaped: a pid nobody has
    const result = await runCli(buildArgs(prefix, fixtures), { env: { WSGI_HTTPD_CACHE_DIR: cache } });
    t.is(result.code, 0, result.stderr + result.stdout);
    t.regex(
      result.stdout,
      new RegExp(`note: took over the stale lock ${lock.replaceAll('.', '\\.')} \\((process \\d+ is gone|its owner record is empty or damaged)\\)`),
    );
    t.false(existsSync(lock), 'released after the build');
    t.true(existsSync(join(prefix, 'httpd', 'bin', 'httpd')));
  });
}

test.serial('a build through a symlink to the prefix and one on the real path share one lock', async (t) => {
  const dir = join(work, 'symlinked');
  await mkdir(dir);
  const env = { WSGI_HTTPD_CACHE_DIR: join(dir, 'cache') };
  const otherEnv = { WSGI_HTTPD_CACHE_DIR: join(dir, 'another-store') };
  const prefix = join(dir, 'prefix');
  await mkdir(prefix);
  const { symlink } = await import('node:fs/promises');
  await symlink(prefix, join(dir, 'link'));
  const first = startCli(buildArgs(prefix, slowSets.configure!), env);
  await waitFor('the first build to be configuring', () => sleeping(dir));
  const viaLink = await runCli(buildArgs(join(dir, 'link'), slowSets.configure!), { env: otherEnv });
  t.is(viaLink.code, 8, viaLink.stderr);
  t.regex(
    viaLink.stderr.trim().split('\n').at(-1)!,
    new RegExp(`holds ${prefix.replaceAll('.', '\\.')}/\\.wsgi-httpd/lock \\(process ${first.pid} `),
  );
  t.is((await first.exit).code, 0, first.stderr());
});

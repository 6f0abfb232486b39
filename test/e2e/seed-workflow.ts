/**
 * The seed's workflow on the real stack: mod_wsgi-express through `wsgi-toolchain serve`, Django's runmodwsgi, and the
 * mod_wsgi-httpd drop-in. Registered by the real-build tests after each real build (and by test/dev/seed-dev.test.ts
 * against WSGI_HTTPD_DEV_PREFIX). Everything listens on 127.0.0.1 only, every wait is bounded, and every test stops
 * what it started; the last test checks /proc that nothing survived.
 */
import type { TestFn, ExecutionContext } from 'ava';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { layOutDropIn, uninstallDropIn } from '../../src/install/dropin.js';
import type { Lock, LockedComponent } from '../../src/resolve/lock.js';
import { readPythonInfo } from '../../src/python/detect.js';
import { freePort } from '../../src/util/port.js';
import { cliMain, repoRoot, runCli } from '../helpers/cli.js';

export interface SeedContext {
  prefix: string;
  sources: string;
  python: string;
  /** Arguments that build this very set again (versions, --sources, --offline, overlays), for a prefix of its own. */
  buildArgs: string[];
  /** Environment for those builds (the test's store). */
  env: NodeJS.ProcessEnv;
}
const cliSource = cliMain;
const isRoot = process.getuid?.() === 0;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface State {
  ctx: SeedContext;
  work: string;
  /** The prefix `serve --prefix` uses. */
  servePrefix: string;
  stackRoot: string;
  sourceTarball: string;
  /** The mod_wsgi component as the prefix's lock records it: version, patches, Python package layout. */
  modWsgi: LockedComponent;
  djangoVenv?: string;
  started: ChildProcess[];
}

function sha256(file: string): Promise<string> {
  return new Promise((done, fail) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (d) => hash.update(d))
      .on('end', () => done(hash.digest('hex')))
      .on('error', fail);
  });
}

/** Unpacks the verified mod_wsgi tarball into a fresh directory, with the patches the lock applies; returns its top dir. */
async function unpackModWsgi(s: State, name: string): Promise<string> {
  const dir = join(s.work, name);
  await mkdir(dir, { recursive: true });
  execFileSync('tar', ['-xzf', s.sourceTarball, '-C', dir]);
  const [top] = await readdir(dir);
  const source = join(dir, top!);
  for (const patch of s.modWsgi.patches)
    execFileSync('patch', [`-p${patch.strip}`, '--forward', '--batch', '-i', join(repoRoot, 'patches', 'mod_wsgi', patch.file)], { cwd: source });
  return source;
}

/** The package layout's files for this set: where apxs_config lives, which Django app to add. */
const layoutOf = (s: State) => s.modWsgi.pythonPackage!.layout;

interface Served {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exit: Promise<number | null>;
  /** Sends `signal` to the CLI (not its group: the CLI must stop everything itself) and waits, bounded. */
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
}

/** Runs `wsgi-toolchain ...args` from source. */
function cli(s: State, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Served {
  const child = spawn(process.execPath, [cliSource, ...args], {
    cwd: options.cwd ?? s.work,
    env: { ...process.env, CI: '1', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  s.started.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((done) => child.on('close', (code) => done(code)));
  const hardStop = setTimeout(() => child.kill('SIGKILL'), 180_000);
  void exit.then(() => clearTimeout(hardStop));
  return {
    child,
    out: () => out,
    err: () => err,
    exit,
    stop: async (signal = 'SIGINT') => {
      child.kill(signal);
      const code = await Promise.race([exit, sleep(30_000).then(() => 'timeout' as const)]);
      if (code === 'timeout') {
        child.kill('SIGKILL');
        return await exit;
      }
      return code;
    },
  };
}

function get(url: string, timeoutMs = 10_000): Promise<{ status: number; body: string }> {
  return new Promise((done, fail) => {
    const req = request(url, { agent: false, headers: { Connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => done({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', fail);
    req.end();
  });
}

/** Polls until `url` answers with a status (any, unless `want` says which) or the deadline passes. */
async function waitFor(
  url: string,
  served: Served | undefined,
  want: (r: { status: number; body: string }) => boolean = (r) => r.status === 200,
  timeoutMs = 60_000,
) {
  const deadline = Date.now() + timeoutMs;
  let last = 'nothing yet';
  let exited = false;
  void served?.exit.then(() => (exited = true));
  while (Date.now() < deadline) {
    if (exited) throw new Error(`the server exited before ${url} answered\nstdout:\n${served!.out()}\nstderr:\n${served!.err()}`);
    try {
      const r = await get(url, 5_000);
      if (want(r)) return r;
      last = `HTTP ${r.status}: ${r.body.slice(0, 200)}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await sleep(250);
  }
  throw new Error(
    `no wanted answer from ${url} within ${timeoutMs} ms (last: ${last})\nstdout:\n${served?.out() ?? ''}\nstderr:\n${served?.err() ?? ''}`,
  );
}

/** Processes (not zombies) whose command line mentions any of `texts`, or whose executable lies under `exeRoot`. */
function survivors(texts: string[], exeRoot?: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state === 'Z' || state === 'X') continue;
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      let exe = '';
      try {
        exe = readlinkSync(`/proc/${entry}/exe`);
      } catch {
        /* kernel thread or not ours */
      }
      if (texts.some((t) => cmdline.includes(t)) || (exeRoot && exe.startsWith(`${exeRoot}/`))) found.push(`${entry}: ${cmdline.slice(0, 160)}`);
    } catch {
      /* gone */
    }
  }
  return found;
}

async function noSurvivors(t: ExecutionContext, texts: string[]): Promise<void> {
  const deadline = Date.now() + 15_000;
  let left = survivors(texts);
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(200);
    left = survivors(texts);
  }
  t.deepEqual(left, [], `processes left behind:\n${left.join('\n')}`);
}

const helloApp = (text: string) => `import os, sys

def application(environ, start_response):
    body = ('%s pid=%d python=%s\\n' % (${JSON.stringify(text)}, os.getpid(), sys.version.split()[0])).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
`;

async function writeApp(dir: string, name: string, source: string): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await chmod(dir, 0o755);
  const path = join(dir, name);
  await writeFile(path, source, { mode: 0o644 });
  return path;
}

/** The usual express options for a test server: loopback, a free port, a server root inside the work dir. */
async function serverArgs(s: State, name: string): Promise<{ port: number; url: string; root: string; args: string[] }> {
  const port = await freePort();
  const root = join(s.work, `sr-${name}`);
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    root,
    args: ['--host', '127.0.0.1', '--port', String(port), '--server-root', root, '--startup-timeout', '30'],
  };
}

/** Stops whatever a (possibly failed) test left running: the CLI gets SIGINT so it stops its own server first. */
async function cleanup(s: State | undefined): Promise<void> {
  if (!s) return;
  const running = s.started.filter((c) => c.exitCode === null && c.signalCode === null);
  await Promise.all(
    running.map(async (child) => {
      const closed = new Promise<void>((done) => child.once('close', () => done()));
      child.kill('SIGINT');
      try {
        process.kill(-child.pid!, 'SIGTERM'); // runmodwsgi runs in its own group
      } catch {
        /* not a group leader, or gone */
      }
      await Promise.race([closed, sleep(20_000)]);
      child.kill('SIGKILL');
    }),
  );
  // Last resort: our own servers are the only processes naming the work directory.
  for (const line of survivors([s.work])) {
    try {
      process.kill(Number(line.split(':')[0]), 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

export function registerSeedWorkflowTests(ava: TestFn, getContext: () => SeedContext): void {
  let s: State | undefined;
  const state = (): State => {
    if (!s) throw new Error('the seed workflow setup did not run');
    return s;
  };
  const test = {
    /** Registered but skipped, with the reason in its title (the case needs root). */
    skip: (title: string, _fn: (t: ExecutionContext) => Promise<unknown>) =>
      ava.skip(`${title} (skipped: needs root; the server runs as the caller otherwise)`, () => {}),
    serial: (title: string, fn: (t: ExecutionContext) => Promise<unknown>) =>
      ava.serial(title, async (t) => {
        try {
          await fn(t);
        } finally {
          await cleanup(s);
        }
      }),
  };

  test.serial('seed: the prefix has a mod_wsgi-express that names its own httpd (laid out from the verified source)', async (t) => {
    const ctx = getContext();
    const work = await mkdtemp(join(tmpdir(), 'wsgi-seed-'));
    await chmod(work, 0o755); // the daemon account must reach apps and virtualenvs in here
    const stackRoot = realpathSync(join(ctx.prefix, 'httpd'));
    const lock = JSON.parse(await readFile(join(ctx.prefix, 'wsgi-toolchain.lock.json'), 'utf8')) as Lock;
    const modWsgi = lock.components.find((c) => c.name === 'mod_wsgi')!;
    t.truthy(modWsgi.pythonPackage, 'the lock records the package layout');
    const wanted = new Set(modWsgi.artifacts.map((a) => a.sha256));
    let sourceTarball = '';
    for (const file of await readdir(ctx.sources)) {
      if (!/\.tar\.gz$/.test(file)) continue;
      if (wanted.has(await sha256(join(ctx.sources, file)))) sourceTarball = join(ctx.sources, file);
    }
    t.truthy(sourceTarball, `no mod_wsgi ${modWsgi.version} tarball with a sha256 the lock names in ${ctx.sources}`);
    s = { ctx, work, servePrefix: ctx.prefix, stackRoot, sourceTarball, modWsgi, started: [] };

    const express = join(ctx.prefix, 'bin', 'mod_wsgi-express');
    const module = execFileSync(express, ['module-config'], { env: { PATH: process.env.PATH } }).toString();
    t.regex(module, /^LoadModule wsgi_module "\/.*mod_wsgi-py\d+.*\.so"$/m);
    console.log(`mod_wsgi-express module-config (mod_wsgi ${modWsgi.version}):\n${module}`);
    const location = execFileSync(express, ['module-location']).toString().trim();
    t.is(realpathSync(location), join(stackRoot, 'modules', 'mod_wsgi.so'), 'the package loads the module the build verified');
    // module-location is <package root>/mod_wsgi/server/<extension>: the apxs config sits where the layout says.
    const packageRoot = join(location, '..', '..', '..');
    const apxsConfig = await readFile(join(packageRoot, layoutOf(s).apxsConfig), 'utf8');
    const bindir = /^\s+BINDIR = '(.*)'$/m.exec(apxsConfig)?.[1] ?? '';
    t.is(realpathSync(bindir), join(stackRoot, 'bin'), `apxs_config.py names our httpd: ${bindir}`);
  });

  test.serial('seed: serve runs a WSGI script on our httpd; Ctrl-C stops it and everything it started', async (t) => {
    const s = state();
    const app = await writeApp(join(s.work, 'script'), 'app.wsgi', helloApp('script app'));
    const srv = await serverArgs(s, 'script');
    const served = cli(s, ['serve', '--prefix', s.servePrefix, app, ...srv.args]);
    const r = await waitFor(`${srv.url}/`, served);
    t.regex(r.body, /^script app pid=\d+ python=3\./);
    const conf = await readFile(join(srv.root, 'httpd.conf'), 'utf8');
    t.true(conf.includes(s.stackRoot) || conf.includes(join(s.servePrefix, 'httpd')), 'the generated config loads modules from our stack');
    const apachectl = await readFile(join(srv.root, 'apachectl'), 'utf8');
    const httpdLine = /^HTTPD="?([^"\n]+)"?/m.exec(apachectl)?.[1] ?? '';
    t.is(realpathSync(httpdLine.split(' ')[0]!), join(s.stackRoot, 'bin', 'httpd'), 'apachectl runs our httpd');
    if (isRoot) t.regex(served.err() + served.out(), /as (www-data|daemon|nobody):/);
    const code = await served.stop('SIGINT');
    t.is(code, 130, served.err());
    await noSurvivors(t, [srv.root, `127.0.0.1:${srv.port}:`]);
  });

  test.serial('seed: serve with no --host and no --server-root: 127.0.0.1, the URL on a line, a private server root gone after Ctrl-C', async (t) => {
    const s = state();
    const app = await writeApp(join(s.work, 'private-root'), 'app.wsgi', helloApp('private root'));
    const tmp = join(s.work, 'tmp-serve');
    await mkdir(tmp, { mode: 0o755 });
    await chmod(tmp, 0o755);
    const port = await freePort();
    const served = cli(s, ['serve', '--prefix', s.servePrefix, app, '--port', String(port), '--startup-timeout', '30'], { env: { TMPDIR: tmp } });
    const r = await waitFor(`http://127.0.0.1:${port}/`, served);
    t.regex(r.body, /^private root/);
    // Its own line, not the "Server URL : ..." of express's banner, which comes first.
    const urlLine = new RegExp(`^http://127\\.0\\.0\\.1:${port}/$`, 'm');
    const deadline = Date.now() + 30_000;
    while (!urlLine.test(served.out()) && Date.now() < deadline) await sleep(100);
    t.regex(served.out(), urlLine, 'the URL on a line of its own');
    const roots = (await readdir(tmp)).filter((n) => n.startsWith('wsgi-serve-'));
    t.is(roots.length, 1, 'one private server root');
    const mode = (await stat(join(tmp, roots[0]!))).mode & 0o777;
    t.true(mode === 0o700 || mode === 0o710, mode.toString(8));
    t.is(await served.stop('SIGINT'), 130, served.err());
    t.deepEqual(
      (await readdir(tmp)).filter((n) => n.startsWith('wsgi-serve-')),
      [],
      'removed after Ctrl-C',
    );
    await noSurvivors(t, [tmp, `127.0.0.1:${port}:`]);
  });

  test.serial('seed: --setup-only with no --server-root keeps the private root, names it, and its apachectl starts and stops', async (t) => {
    const s = state();
    const app = await writeApp(join(s.work, 'setup-private'), 'app.wsgi', helloApp('setup private'));
    const tmp = join(s.work, 'tmp-setup');
    await mkdir(tmp, { mode: 0o755 });
    await chmod(tmp, 0o755);
    const port = await freePort();
    const served = cli(s, ['serve', '--prefix', s.servePrefix, app, '--port', String(port), '--setup-only'], { env: { TMPDIR: tmp } });
    t.is(await served.exit, 0, served.err());
    const root = /set up in (\S+): start with/.exec(served.err() + served.out())?.[1];
    t.truthy(root, served.err());
    t.true(root!.startsWith(join(tmp, 'wsgi-serve-')));
    const apachectl = join(root!, 'apachectl');
    try {
      execFileSync(apachectl, ['start'], { timeout: 60_000, env: { PATH: process.env.PATH } });
      t.regex((await waitFor(`http://127.0.0.1:${port}/`, undefined)).body, /^setup private/);
    } finally {
      execFileSync(apachectl, ['stop'], { timeout: 60_000, env: { PATH: process.env.PATH } });
    }
    await noSurvivors(t, [root!, `127.0.0.1:${port}:`]);
  });

  test.serial('seed: serve a module app (--application-type module); SIGTERM stops it', async (t) => {
    const s = state();
    const dir = join(s.work, 'modapp');
    await writeApp(dir, 'seedmod.py', helloApp('module app'));
    const srv = await serverArgs(s, 'module');
    const served = cli(s, ['serve', '--prefix', s.servePrefix, 'seedmod', '--application-type', 'module', ...srv.args], { cwd: dir });
    const r = await waitFor(`${srv.url}/`, served);
    t.regex(r.body, /^module app pid=/);
    t.is(await served.stop('SIGTERM'), 130);
    await noSurvivors(t, [srv.root, `127.0.0.1:${srv.port}:`]);
  });

  test.serial('seed: static files with --url-alias, and a --document-root overlay in front of the app', async (t) => {
    const s = state();
    const dir = join(s.work, 'static');
    const app = await writeApp(dir, 'app.wsgi', helloApp('static app'));
    await writeApp(join(dir, 'assets'), 'style.css', 'body { color: green }\n');
    await writeApp(join(dir, 'htdocs'), 'robots.txt', 'User-agent: *\n');
    const srv = await serverArgs(s, 'static');
    const served = cli(s, [
      'serve',
      '--prefix',
      s.servePrefix,
      app,
      '--url-alias',
      '/static',
      join(dir, 'assets'),
      '--document-root',
      join(dir, 'htdocs'),
      ...srv.args,
    ]);
    t.regex((await waitFor(`${srv.url}/`, served)).body, /^static app/);
    const css = await get(`${srv.url}/static/style.css`);
    t.is(css.status, 200);
    t.is(css.body, 'body { color: green }\n');
    const robots = await get(`${srv.url}/robots.txt`);
    t.is(robots.status, 200);
    t.is(robots.body, 'User-agent: *\n');
    t.regex((await get(`${srv.url}/anything-else`)).body, /^static app/, 'what the overlay lacks goes to the app');
    t.is(await served.stop(), 130);
    await noSurvivors(t, [srv.root, `127.0.0.1:${srv.port}:`]);
  });

  test.serial('seed: --processes 2 --threads 1: two distinct daemon processes answer', async (t) => {
    const s = state();
    const app = await writeApp(
      join(s.work, 'procs'),
      'app.wsgi',
      `import os, time

def application(environ, start_response):
    time.sleep(0.3)
    body = ('pid=%d\\n' % os.getpid()).encode()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body]
`,
    );
    const srv = await serverArgs(s, 'procs');
    const served = cli(s, ['serve', '--prefix', s.servePrefix, app, '--processes', '2', '--threads', '1', ...srv.args]);
    await waitFor(`${srv.url}/`, served);
    const pids = new Set<string>();
    for (let round = 0; round < 15 && pids.size < 2; round++) {
      const answers = await Promise.all(Array.from({ length: 4 }, () => get(`${srv.url}/`, 20_000).catch(() => ({ status: 0, body: '' }))));
      for (const a of answers) if (a.status === 200) pids.add(a.body.trim());
    }
    t.is(pids.size, 2, `pids seen: ${[...pids].join(', ')}`);
    t.is(await served.stop(), 130);
    await noSurvivors(t, [srv.root, `127.0.0.1:${srv.port}:`]);
  });

  test.serial('seed: --reload-on-changes: editing the script changes the next answers', async (t) => {
    const s = state();
    const dir = join(s.work, 'reload');
    const app = await writeApp(dir, 'app.wsgi', helloApp('version one'));
    const srv = await serverArgs(s, 'reload');
    const served = cli(s, ['serve', '--prefix', s.servePrefix, app, '--reload-on-changes', ...srv.args]);
    t.regex((await waitFor(`${srv.url}/`, served)).body, /^version one/);
    await sleep(1100); // a new mtime, whatever the file system's granularity
    await writeFile(app, helloApp('version two'));
    const r = await waitFor(`${srv.url}/`, served, (x) => x.status === 200 && x.body.startsWith('version two'), 45_000);
    t.regex(r.body, /^version two/);
    t.is(await served.stop(), 130);
    await noSurvivors(t, [srv.root, `127.0.0.1:${srv.port}:`]);
  });

  test.serial('seed: --setup-only writes a server root whose apachectl starts and stops it', async (t) => {
    const s = state();
    const app = await writeApp(join(s.work, 'setup-only'), 'app.wsgi', helloApp('setup only'));
    const srv = await serverArgs(s, 'setup-only');
    const served = cli(s, ['serve', '--prefix', s.servePrefix, app, '--setup-only', ...srv.args]);
    t.is(await served.exit, 0, served.err());
    t.regex(served.err(), /apachectl start/);
    t.deepEqual(survivors([srv.root]), [], 'setup-only starts nothing');
    const apachectl = join(srv.root, 'apachectl');
    try {
      execFileSync(apachectl, ['start'], { timeout: 60_000, env: { PATH: process.env.PATH } });
      t.regex((await waitFor(`${srv.url}/`, undefined)).body, /^setup only/);
    } finally {
      execFileSync(apachectl, ['stop'], { timeout: 60_000, env: { PATH: process.env.PATH } });
    }
    await noSurvivors(t, [srv.root, `127.0.0.1:${srv.port}:`]);
  });

  test.serial("seed: Django's runmodwsgi (Debian Django, venv) serves a page and a collected static file with a pathlib STATIC_ROOT", async (t) => {
    const s = state();
    const venv = join(s.work, 'venv-django');
    execFileSync(s.ctx.python, ['-m', 'venv', '--system-site-packages', venv]);
    s.djangoVenv = venv;
    const python = join(venv, 'bin', 'python');
    const hasDjango = execFileSync(python, ['-c', 'import importlib.util as u; print(bool(u.find_spec("django")))']).toString().trim();
    if (hasDjango !== 'True') return t.fail(`Django is not importable from ${python}: apt-get install python3-django`);
    // The product's main command: a build into the virtualenv (from the store: nothing compiled once layers exist).
    const started = Date.now();
    const built = await runCli(['build', '--prefix', venv, '--python', python, ...s.ctx.buildArgs, '--plain'], {
      env: s.ctx.env,
      timeoutMs: 30 * 60_000,
    });
    t.is(built.code, 0, built.stderr + built.stdout);
    t.log(`build --prefix <new Django venv>: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const venvExpress = execFileSync(join(venv, 'bin', 'mod_wsgi-express'), ['module-location'])
      .toString()
      .trim();
    t.is(realpathSync(venvExpress), realpathSync(join(venv, 'httpd', 'modules', 'mod_wsgi.so')));

    const project = join(s.work, 'djsite');
    await mkdir(project, { mode: 0o755 });
    execFileSync(python, ['-m', 'django', 'startproject', 'seedsite', project]);
    const settings = join(project, 'seedsite', 'settings.py');
    const original = await readFile(settings, 'utf8');
    t.regex(original, /BASE_DIR = Path\(/, 'the project template uses pathlib');
    await writeFile(
      settings,
      original +
        `
ALLOWED_HOSTS = ['127.0.0.1', 'localhost']
INSTALLED_APPS += ['${layoutOf(s).djangoApp}']
STATIC_URL = '/static/'
STATIC_ROOT = BASE_DIR / 'collected'
STATICFILES_DIRS = [BASE_DIR / 'assets']
`,
    );
    await writeApp(join(project, 'assets'), 'seed.css', 'h1 { color: teal }\n');
    await writeFile(
      join(project, 'seedsite', 'urls.py'),
      `from django.http import HttpResponse
from django.urls import path

urlpatterns = [path('', lambda request: HttpResponse('django says hello'))]
`,
    );
    execFileSync('chmod', ['-R', 'a+rX', project]);
    execFileSync(python, ['manage.py', 'collectstatic', '--noinput'], { cwd: project });
    const srv = await serverArgs(s, 'django');
    const extra = [...(isRoot ? ['--user', 'www-data', '--group', 'www-data'] : []), '--locale', 'C.UTF-8', '--log-to-terminal'];
    const child = spawn(python, ['manage.py', 'runmodwsgi', ...srv.args, ...extra], {
      cwd: project,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    s.started.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const exit = new Promise<number | null>((done) => child.on('close', (code) => done(code)));
    try {
      const served: Served = { child, out: () => out, err: () => '', exit, stop: async () => null };
      t.is((await waitFor(`${srv.url}/`, served)).body, 'django says hello');
      const css = await get(`${srv.url}/static/seed.css`);
      t.is(css.status, 200, out);
      t.is(css.body, 'h1 { color: teal }\n');
      t.notRegex(out, /has no attribute 'endswith'/);
    } finally {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        /* gone */
      }
      await Promise.race([exit, sleep(20_000)]);
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await noSurvivors(t, [srv.root, `127.0.0.1:${srv.port}:`]);
  });

  test.serial('seed: the mod_wsgi-httpd drop-in: plain pip install of the verified mod_wsgi source builds against our httpd', async (t) => {
    const s = state();
    const venv = join(s.work, 'venv-dropin');
    // Debian's setuptools, as mod_wsgi's setup.py needs it: Python 3.12+ venvs have none of their own.
    execFileSync(s.ctx.python, ['-m', 'venv', '--system-site-packages', venv]);
    const python = join(venv, 'bin', 'python');
    const info = await readPythonInfo(python, '--python');
    const laid = await layOutDropIn({ venv, root: join(s.ctx.prefix, 'httpd'), python: info });
    t.true(laid.created.includes(join(venv, 'bin', 'mod_wsgi-apxs')));
    const source = await unpackModWsgi(s, 'src-dropin');
    // No APXS, and Debian's apxs2/apxs may well be on PATH: the drop-in must win.
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${join(venv, 'bin')}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin` };
    delete env.APXS;
    const started = Date.now();
    execFileSync(python, ['-m', 'pip', 'install', '--no-index', '--no-build-isolation', source], { env, stdio: 'ignore', timeout: 600_000 });
    t.log(`plain pip install (compiles mod_wsgi): ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const configModule = layoutOf(s).apxsConfig.replace(/\.py$/, '').replaceAll('/', '.');
    const answer = JSON.parse(
      execFileSync(
        python,
        [
          '-c',
          `import importlib, json; a = importlib.import_module('${configModule}'); print(json.dumps([a.WITH_HTTPD_PACKAGE, a.HTTPD, a.LIBEXECDIR, a.BINDIR, a.__file__]))`,
        ],
        { env },
      ).toString(),
    ) as [boolean, string, string, string, string];
    t.true(answer[0], 'setup.py found mod_wsgi-apxs (WITH_HTTPD_PACKAGE)');
    t.is(realpathSync(answer[1]), join(s.stackRoot, 'bin', 'httpd'));
    t.is(realpathSync(answer[2]), join(s.stackRoot, 'modules'));
    const config = await readFile(answer[4], 'utf8');
    t.true(config.includes(s.stackRoot), 'apxs_config.py names our prefix');

    // And that package serves, through serve --python.
    const app = await writeApp(join(s.work, 'dropin-app'), 'app.wsgi', helloApp('drop-in'));
    const srv = await serverArgs(s, 'dropin');
    const served = cli(s, ['serve', '--prefix', s.ctx.prefix, '--python', python, app, ...srv.args]);
    t.regex((await waitFor(`${srv.url}/`, served)).body, /^drop-in/);
    t.is(await served.stop(), 130);
    await noSurvivors(t, [srv.root, `127.0.0.1:${srv.port}:`]);

    const removed = await uninstallDropIn({ venv, python: info });
    t.deepEqual([...removed].sort(), [...laid.created].sort());
    for (const path of laid.created) t.false(Boolean(await stat(path).catch(() => undefined)), `${path} removed`);
  });

  test.serial('seed: bad input: no TARGET, a TARGET that does not exist, a port in use', async (t) => {
    const s = state();
    const none = cli(s, ['serve', '--prefix', s.servePrefix]);
    t.is(await none.exit, 2);
    t.regex(none.err(), /serve needs a TARGET/);
    const missing = cli(s, ['serve', '--prefix', s.servePrefix, join(s.work, 'nope.wsgi'), '--port', '1']);
    t.is(await missing.exit, 2);
    t.regex(missing.err(), /TARGET .*nope\.wsgi does not exist/);
    const before = cli(s, ['serve', '--port', '8080', 'app.wsgi']);
    t.is(await before.exit, 2);
    t.regex(before.err(), /--port before TARGET/);

    const app = await writeApp(join(s.work, 'busy'), 'app.wsgi', helloApp('busy'));
    const blocker = createServer((c) => c.end());
    const srv = await serverArgs(s, 'busy');
    await new Promise<void>((r) => blocker.listen(srv.port, '127.0.0.1', r));
    try {
      const busy = cli(s, ['serve', '--prefix', s.servePrefix, app, ...srv.args]);
      t.is(await busy.exit, 1);
      t.regex(busy.err(), new RegExp(`port ${srv.port} on 127\\.0\\.0\\.1 is already in use .*--port`));
    } finally {
      await new Promise<void>((r) => blocker.close(() => r()));
    }
    await noSurvivors(t, [srv.root]);
  });

  test.serial('seed: an app that fails to import: HTTP 500 and its traceback on the terminal', async (t) => {
    const s = state();
    const app = await writeApp(join(s.work, 'broken'), 'app.wsgi', 'import seed_module_that_does_not_exist\n\napplication = None\n');
    const srv = await serverArgs(s, 'broken');
    const served = cli(s, ['serve', '--prefix', s.servePrefix, app, ...srv.args]);
    const r = await waitFor(`${srv.url}/`, served, (x) => x.status >= 500);
    t.is(r.status, 500);
    const deadline = Date.now() + 10_000;
    while (!/No module named 'seed_module_that_does_not_exist'/.test(served.out() + served.err()) && Date.now() < deadline) await sleep(200);
    // express logs to the terminal through a piped `tee`, so the log lands on stdout.
    const terminal = served.out() + served.err();
    t.regex(terminal, /Traceback \(most recent call last\)/);
    t.regex(terminal, /File ".*broken\/app\.wsgi", line 1, in <module>/);
    t.regex(terminal, /ModuleNotFoundError: No module named 'seed_module_that_does_not_exist'/);
    t.is(await served.stop(), 130);
    await noSurvivors(t, [srv.root, `127.0.0.1:${srv.port}:`]);
  });

  (isRoot ? test.serial : test.skip)(
    'seed: as root, an app or a Python the server account cannot read is refused before starting, naming the path',
    async (t) => {
      const s = state();
      const hidden = join(s.work, 'private');
      await mkdir(hidden, { mode: 0o700 });
      await chmod(hidden, 0o700);
      const app = await writeApp(join(hidden, 'app'), 'app.wsgi', helloApp('hidden'));
      await chmod(hidden, 0o700);
      const srv = await serverArgs(s, 'private');
      const r1 = cli(s, ['serve', '--prefix', s.servePrefix, app, ...srv.args]);
      t.is(await r1.exit, 3, r1.err());
      t.regex(r1.err(), new RegExp(`cannot read ${app.replaceAll('.', '\\.')}.*${hidden} is not searchable by`));
      t.regex(r1.err(), /fix: the server runs as .*chmod o\+rx/);

      const venv = join(hidden, 'venv');
      execFileSync(s.ctx.python, ['-m', 'venv', '--without-pip', venv]);
      const open = await writeApp(join(s.work, 'open-app'), 'app.wsgi', helloApp('open'));
      const r2 = cli(s, ['serve', '--prefix', s.servePrefix, '--python', join(venv, 'bin', 'python'), open, ...srv.args]);
      t.is(await r2.exit, 3, r2.err());
      t.regex(r2.err(), new RegExp(`cannot run the Python ${venv}/bin/python: ${hidden} is not searchable`));
      t.deepEqual(survivors([srv.root]), []);
    },
  );

  test.serial('seed: no process of the seed workflow survives', async (t) => {
    const s = state();
    for (const child of s.started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await noSurvivors(t, [s.work]);
    t.deepEqual(survivors([], s.stackRoot), [], 'nothing runs from the stack');
    await rm(s.work, { recursive: true, force: true });
  });
}

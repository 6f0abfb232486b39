import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, openSync, statSync } from 'node:fs';
import { chmod, lstat, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { VerifyError } from '../errors.js';
import { type Account, blockingDirectory, unprivilegedAccount } from '../util/accounts.js';
import { freePort } from '../util/port.js';
import { processAlive, processesMentioning, signalQuietly } from '../util/process.js';
import { pythonProgram, pythonProgramArgs } from '../util/package-root.js';
import { activeChildren, run } from '../util/run.js';
import { builtInMpm, type HttpdProbe, mpmNames, probeHttpd, type ApacheLayout } from './apache-layout.js';

export interface VerifyOptions {
  layout: ApacheLayout;
  /** Path of the mod_wsgi.so to load. */
  modWsgi: string;
  /** The Python mod_wsgi was built for; `version` is what that interpreter reports ("3.11.2"). `known`: what the caller
   * already asked it (a build has, and has checked the server account can read it): httpd then starts at once, and
   * the interpreter is probed only to explain a failure. */
  python: { executable: string; version: string; known?: { isVirtualenv: boolean; purelib: string } };
  /** Parent of the fresh temporary directory (default: os.tmpdir()). It must be searchable by the server user. */
  workDir?: string;
  /** Budget for starting httpd and getting a 200 (default 30 s). Stopping has its own bounded budget. */
  timeoutMs?: number;
  onLog?: (line: string) => void;
  /** Replaces the WSGI app (tests use this to make it fail). Must define `application`. */
  appSource?: string;
  /** Who the children and the mod_wsgi daemon run as when we are root (default: first of www-data, daemon, nobody). */
  runAs?: { user: string; group: string };
  /** Use this MPM instead of the first available of event, worker, prefork (ignored when one is compiled in). */
  mpm?: 'event' | 'worker' | 'prefork';
  /** Apache LogLevel for the test server (default "warn"). */
  logLevel?: string;
  /** What `httpd -v` and `-l` say, when the caller has it remembered (default: ask the binary). */
  probeHttpd?: (httpd: string) => Promise<HttpdProbe>;
}

export interface VerifyResult {
  url: string;
  status: number;
  body: string;
  /** sys.version.split()[0] as the WSGI app saw it. */
  pythonVersion: string;
  /** pid of the mod_wsgi daemon process that answered. */
  daemonPid?: number;
  /** "event", "worker" or "prefork". */
  mpm: string;
  httpdVersion: string;
  durationMs: number;
  errorLogTail: string[];
  /** The config the test server ran with; deleted by now, but every process that mentioned it is gone. */
  configFile: string;
}

/** A VerifyError that also carries the test server's error log tail (already included in the message). */
export class ServerVerifyError extends VerifyError {
  readonly errorLogTail: string[];
  constructor(message: string, hint: string, errorLogTail: string[]) {
    const tail = errorLogTail.length > 0 ? `\n--- last ${errorLogTail.length} lines of the error log ---\n${errorLogTail.join('\n')}` : '';
    super(message + tail, hint);
    this.errorLogTail = errorLogTail;
  }
}

const tailLines = 20;
const stopGraceMs = 5_000;
const killWaitMs = 5_000;
/** Between GETs while httpd and the daemon start: short at first (both are usually up within 100 ms), then slower. */
const pollDelayMs = (sinceStartMs: number) => (sinceStartMs < 2_000 ? 10 : 50);
const maxPortAttempts = 3;
/** sun_path is 108 bytes; mod_wsgi appends ".<pid>.<generation>.<id>.sock". */
const maxSocketPrefix = 80;

// ---------------------------------------------------------------------------------------------------------------
// Small helpers (exported where tests use them)

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));
/** A deadline raced against a process's exit: unref'd, so a timer left pending never holds the CLI open after it. */
const unrefSleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms).unref());

/** Quotes a value for httpd.conf. */
function q(value: string): string {
  if (/[\n\r\0]/.test(value)) throw new VerifyError(`path contains a newline or NUL: ${JSON.stringify(value)}`, 'use a plain path');
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** Reads the last `count` non-empty lines of a file ([] when missing). */
async function tail(path: string, count = tailLines): Promise<string[]> {
  try {
    const text = await readFile(path, 'utf8');
    return text
      .split('\n')
      .filter((line) => line.trim() !== '')
      .slice(-count);
  } catch {
    return [];
  }
}

/** True when the reported version is the expected one ("3.11.2"), or extends it ("3.11" expects any 3.11.x). */
export function versionMatches(reported: string, expected: string): boolean {
  return reported === expected || reported.startsWith(`${expected}.`);
}

/** Parses the default app's "key: value" lines. */
export function parseAppBody(body: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of body.split('\n')) {
    const match = /^([a-z-]+): (.*)$/.exec(line.trim());
    if (match) fields[match[1]!] = match[2]!;
  }
  return fields;
}

/** Env for httpd and Python: ours, minus anything that would point the embedded Python elsewhere. */
function serverEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('PYTHON') || key === 'VIRTUAL_ENV' || key === 'CONDA_PREFIX' || key.startsWith('APACHE_')) continue;
    env[key] = value;
  }
  return env;
}

// ---------------------------------------------------------------------------------------------------------------
// Config

export interface ConfigParams {
  dir: string;
  port: number;
  logLevel: string;
  /** [module identifier, .so path] in load order. */
  loadModules: Array<[string, string]>;
  mpm: string;
  appPath: string;
  account?: { user: string; group: string };
  pythonPath?: string;
  accessLog: boolean;
}

/** A self-contained httpd.conf: absolute paths only, no ${VARS}, nothing read from the installation's own config. */
export function renderConfig(p: ConfigParams): string {
  const lines = [
    '# Generated by wsgi-toolchain verify. Self-contained: no Include, no ${VARS}.',
    `ServerRoot ${q(p.dir)}`,
    'ServerName 127.0.0.1',
    `Listen 127.0.0.1:${p.port}`,
    `PidFile ${q(join(p.dir, 'httpd.pid'))}`,
    `DefaultRuntimeDir ${q(p.dir)}`,
    `Mutex ${q(`file:${p.dir}`)} default`,
    `ErrorLog ${q(join(p.dir, 'error.log'))}`,
    `LogLevel ${p.logLevel}`,
    ...p.loadModules.map(([name, path]) => `LoadModule ${name} ${q(path)}`),
  ];
  if (p.account) lines.push(`User ${p.account.user}`, `Group ${p.account.group}`);
  if (p.mpm === 'prefork') {
    lines.push('StartServers 1', 'MinSpareServers 1', 'MaxSpareServers 2', 'MaxRequestWorkers 4');
  } else {
    lines.push('StartServers 1', 'ServerLimit 2', 'ThreadsPerChild 4', 'MinSpareThreads 4', 'MaxSpareThreads 8', 'MaxRequestWorkers 8');
  }
  lines.push('Timeout 30', 'KeepAlive Off', 'GracefulShutdownTimeout 3');
  if (p.accessLog) lines.push(`CustomLog ${q(join(p.dir, 'access.log'))} "%h %t \\"%r\\" %>s %b %D"`);
  const daemon = ['WSGIDaemonProcess verify processes=1 threads=5', `home=${q(p.dir)}`];
  if (p.pythonPath) daemon.push(`python-path=${q(p.pythonPath)}`);
  lines.push(
    `WSGISocketPrefix ${q(join(p.dir, 'wsgi'))}`,
    'WSGIRestrictEmbedded On',
    daemon.join(' '),
    'WSGIProcessGroup verify',
    'WSGIApplicationGroup %{GLOBAL}',
    `WSGIScriptAlias / ${q(p.appPath)}`,
    `<Directory ${q(p.dir)}>`,
    '    Require all granted',
    '</Directory>',
    '',
  );
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// Python probe

interface PythonProbe {
  version: string;
  isVirtualenv: boolean;
  purelib: string;
}

/**
 * Runs the Python (as the server account when we are root) and has it open the app file: proves the daemon will be
 * able to start that interpreter and read the app, before httpd hides the reason in a 503.
 */
async function probePython(executable: string, appPath: string, account: Account | undefined): Promise<PythonProbe> {
  const who = account ? ` as ${account.user}:${account.group}` : '';
  const notReadable = (detail: string) =>
    new VerifyError(
      `Python ${executable} cannot be run${who}: ${detail}`,
      account
        ? `the mod_wsgi daemon runs as ${account.user}, so the interpreter and its standard library must be readable by that user. ` +
            'A Python under /root (e.g. pyenv) is not: use one installed under /usr, /usr/local or /opt (or make its directories world-readable)'
        : 'check that the interpreter exists and runs',
    );
  const result = await run([executable, '-I', ...pythonProgramArgs('probe-app.py'), appPath], {
    cwd: '/',
    env: { ...serverEnv(), ...(account ? { HOME: '/' } : {}) },
    ...(account ? { uid: account.uid, gid: account.gid } : {}),
    timeoutMs: 20_000,
  }).catch((error: NodeJS.ErrnoException) => ({ error, code: null, stdout: '', stderr: '' }));
  if ('error' in result) {
    if (result.error.code === 'ENOENT') {
      throw new VerifyError(`Python ${executable} does not exist`, 'pass the interpreter mod_wsgi was built for (--python)');
    }
    const blocked = account ? blockingDirectory(executable, account) : undefined;
    throw notReadable(
      blocked
        ? `${blocked} is not searchable by ${account!.user} (${result.error.code})`
        : `${result.error.code ?? ''} ${result.error.message}`.trim(),
    );
  }
  let parsed: { version: string; venv: boolean; purelib: string; app: string } | undefined;
  try {
    parsed = JSON.parse(result.stdout.trim().split('\n').pop() ?? '');
  } catch {
    parsed = undefined;
  }
  if (result.code !== 0 || !parsed) {
    const detail = result.stderr.trim().split('\n').slice(-5).join(' | ') || `exit ${result.code}`;
    throw notReadable(detail);
  }
  if (parsed.app) {
    throw new VerifyError(
      `the server account${who} cannot read the test app ${appPath}: ${parsed.app}`,
      'the work directory and its parents must be searchable by that user: use a --work-dir outside /root (e.g. under /tmp)',
    );
  }
  return { version: parsed.version, isVirtualenv: parsed.venv, purelib: parsed.purelib };
}

// ---------------------------------------------------------------------------------------------------------------
// Running httpd

interface Server {
  child: ChildProcess;
  pid: number;
  exited: boolean;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>;
}

let setpriv: { path?: string } | undefined;
/** util-linux's setpriv, where the system has it. */
function deathSignalWrapper(): string | undefined {
  if (!setpriv) {
    setpriv = {};
    if (process.platform === 'linux')
      for (const dir of ['/usr/bin', '/bin', '/usr/sbin', '/sbin'])
        try {
          accessSync(join(dir, 'setpriv'), constants.X_OK);
          setpriv.path = join(dir, 'setpriv');
          break;
        } catch {
          /* not here */
        }
  }
  return setpriv.path;
}

function startHttpd(httpd: string, conf: string, dir: string, stderrPath: string): Server {
  const out = openSync(stderrPath, 'a', 0o644);
  let child: ChildProcess;
  try {
    const argv = [httpd, '-f', conf, '-DFOREGROUND'];
    // Under setpriv --pdeathsig where there is one: if we are killed (kill -9 leaves no handler to run), httpd gets
    // SIGTERM from the kernel and stops with its children and the mod_wsgi daemon, instead of serving on unowned.
    const wrapper = deathSignalWrapper();
    const [command, ...args] = wrapper ? [wrapper, '--pdeathsig', 'TERM', '--', ...argv] : argv;
    child = spawn(command!, args, {
      cwd: dir,
      env: serverEnv(),
      stdio: ['ignore', out, out],
      detached: true,
    });
  } finally {
    closeSync(out);
  }
  const server: Server = {
    child,
    pid: child.pid ?? 0,
    exited: false,
    exit: new Promise((done) => {
      child.once('error', (error) => {
        server.exited = true;
        done({ code: null, signal: null, error });
      });
      child.once('exit', (code, signal) => {
        server.exited = true;
        done({ code, signal });
      });
    }),
  };
  if (server.pid) activeChildren.add(server.pid);
  return server;
}

/**
 * SIGTERM to the httpd parent (it stops its children and the mod_wsgi daemon), bounded wait, then SIGKILL for the
 * whole process group and for anything else still running with our config. Returns pids that would not die.
 * `graceful: false` (the app answered: nothing more to learn from the server) skips SIGTERM: httpd's own shutdown
 * reaps its children in growing sleeps, ~80 ms of a warm build, and leaves nothing a SIGKILL would not (the pid file,
 * mutex and daemon sockets are in the temporary directory, removed next; the scoreboard is anonymous memory).
 */
async function stopHttpd(server: Server, conf: string, log: (line: string) => void, graceful = true): Promise<number[]> {
  if (server.pid) {
    if (!server.exited && !graceful) {
      signalQuietly(-server.pid, 'SIGKILL');
      await Promise.race([server.exit, unrefSleep(killWaitMs)]);
    }
    if (!server.exited) {
      signalQuietly(server.pid, 'SIGTERM');
      const stopped = await Promise.race([server.exit.then(() => true), unrefSleep(stopGraceMs).then(() => false)]);
      if (!stopped) {
        log(`httpd (pid ${server.pid}) ignored SIGTERM for ${stopGraceMs} ms; killing its process group`);
        signalQuietly(-server.pid, 'SIGKILL');
        await Promise.race([server.exit, unrefSleep(killWaitMs)]);
      }
    }
    // Anything left in the group (a daemon process that outlived its parent) goes too.
    signalQuietly(-server.pid, 'SIGKILL');
    activeChildren.delete(server.pid);
  }
  const deadline = Date.now() + killWaitMs;
  let survivors = processesMentioning(conf);
  // Children killed with the group may still be on their way out: look again soon, then less often.
  for (let round = 0; survivors.length > 0 && Date.now() < deadline; round++) {
    for (const pid of survivors) signalQuietly(pid, 'SIGKILL');
    await sleep(Math.min(100, 5 * 2 ** round));
    survivors = processesMentioning(conf);
  }
  return survivors;
}

type Probe =
  | { kind: 'ok'; status: number; body: string }
  | { kind: 'status'; status: number; body: string }
  | { kind: 'exited'; code: number | null; signal: NodeJS.Signals | null; error?: Error }
  | { kind: 'timeout'; last: string };

function httpGet(url: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((done, fail) => {
    const req = request(url, { method: 'GET', agent: false, timeout: timeoutMs, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (body.length < 64 * 1024) body += chunk;
      });
      res.on('end', () => done({ status: res.statusCode ?? 0, body }));
      res.on('error', fail);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', fail);
    req.end();
  });
}

/** Real GETs until a 200, a definite failure, httpd exiting, or the deadline. 503 means "daemon still starting". */
async function waitForApp(server: Server, url: string, deadline: number, log: (line: string) => void): Promise<Probe> {
  let last = 'no attempt';
  const start = Date.now();
  for (let attempt = 1; Date.now() < deadline; attempt++) {
    if (server.exited) return { kind: 'exited', ...(await server.exit) };
    const remaining = deadline - Date.now();
    try {
      const res = await Promise.race([httpGet(url, Math.max(500, Math.min(10_000, remaining))), server.exit.then(() => undefined)]);
      if (res === undefined) return { kind: 'exited', ...(await server.exit) };
      if (res.status === 200) return { kind: 'ok', ...res };
      last = `HTTP ${res.status}`;
      if (res.status !== 503) return { kind: 'status', ...res };
      if (attempt === 1 || attempt % 20 === 0) log(`GET ${url} -> 503 (daemon starting?), retrying`);
    } catch (error) {
      last = (error as Error).message;
    }
    await sleep(pollDelayMs(Date.now() - start));
  }
  return { kind: 'timeout', last };
}

// ---------------------------------------------------------------------------------------------------------------

interface Modules {
  load: Array<[string, string]>;
  mpm: string;
  accessLog: boolean;
}

function chooseModules(layout: ApacheLayout, compiledIn: string[], modWsgi: string, needUnixd: boolean, preferred?: string): Modules {
  const load: Array<[string, string]> = [];
  const has = (name: string) => compiledIn.includes(`mod_${name}.c`);
  const shared = (name: string) => {
    const path = join(layout.modulesDir, `mod_${name}.so`);
    return statSync(path, { throwIfNoEntry: false })?.isFile() ? path : undefined;
  };
  const missing = (what: string) =>
    new VerifyError(
      `${what} is neither compiled into ${layout.httpd} nor in ${layout.modulesDir}`,
      'the Apache installation is incomplete; rebuild it (or on Debian reinstall apache2-bin)',
    );

  let mpm = builtInMpm(compiledIn);
  if (!mpm) {
    for (const name of preferred ? [preferred] : mpmNames) {
      const path = shared(`mpm_${name}`);
      if (path) {
        load.push([`mpm_${name}_module`, path]);
        mpm = name;
        break;
      }
    }
  }
  if (!mpm) throw missing(preferred ? `mod_mpm_${preferred}` : 'no MPM (event, worker or prefork)');

  const want = (name: string, required: boolean): boolean => {
    if (has(name)) return true;
    const path = shared(name);
    if (path) {
      load.push([`${name}_module`, path]);
      return true;
    }
    if (required) throw missing(`mod_${name}`);
    return false;
  };
  want('authz_core', true);
  want('unixd', needUnixd);
  const accessLog = want('log_config', false);
  load.push(['wsgi_module', modWsgi]);
  return { load, mpm, accessLog };
}

/** A response body for a message: Apache's own HTML error pages shrink to their title. */
function showBody(body: string): string {
  const title = /^\s*<!DOCTYPE[\s\S]*?<title>([^<]*)<\/title>/i.exec(body)?.[1];
  if (title) return `Apache error page "${title}"`;
  const text = body.length > 2000 ? `${body.slice(0, 2000)}...` : body;
  return `body:\n${text}`;
}

function startupHint(text: string): string {
  if (/undefined symbol|cannot open shared object|wrong ELF|API module structure|Cannot load/i.test(text)) {
    return "a module failed to load: mod_wsgi.so must be built with this httpd's apxs and against the Python given; rebuild mod_wsgi";
  }
  if (/Address already in use|could not bind/i.test(text)) return 'another process took the test port; retry';
  if (/Syntax error|Invalid command/i.test(text))
    return 'httpd rejected the generated configuration (a module it needs is missing?); see the lines above';
  return 'httpd stopped during startup; see the lines above';
}

/**
 * Starts the given httpd with a throwaway config serving a tiny WSGI app through mod_wsgi in daemon mode, checks over
 * real HTTP on 127.0.0.1 that the app answers from the expected Python, and stops everything again. Leaves no process
 * and no files behind, success or failure.
 */
export async function verifyServer(opts: VerifyOptions): Promise<VerifyResult> {
  const started = Date.now();
  const log = opts.onLog ?? (() => {});
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const { layout } = opts;
  const modWsgi = resolve(opts.modWsgi);

  try {
    accessSync(layout.httpd, constants.X_OK);
  } catch {
    throw new VerifyError(
      `httpd not found or not executable: ${layout.httpd}`,
      'build and install Apache first, or point at an existing one (Debian: apt-get install apache2 apache2-dev)',
    );
  }
  if (!statSync(modWsgi, { throwIfNoEntry: false })?.isFile()) {
    throw new VerifyError(`mod_wsgi module not found: ${modWsgi}`, 'build mod_wsgi first (or pass the path of an existing mod_wsgi.so)');
  }

  // httpd says what it has while the temporary directory is made and the Python is probed.
  const probing = (opts.probeHttpd ?? probeHttpd)(layout.httpd);
  const isRoot = process.getuid?.() === 0;
  const account = isRoot ? unprivilegedAccount(opts.runAs) : undefined;

  const parent = resolve(opts.workDir ?? tmpdir());
  await removeStaleVerifyDirs(parent);
  let dir: string;
  try {
    dir = await mkdtemp(join(parent, `wsgi-verify-${process.pid}-`));
  } catch (error) {
    throw new VerifyError(`cannot create a temporary directory in ${parent}: ${(error as Error).message}`, 'pass a writable --work-dir');
  }
  const conf = join(dir, 'httpd.conf');
  const errorLog = join(dir, 'error.log');
  const stderrLog = join(dir, 'httpd.stderr');
  let server: Server | undefined;
  let failure: { message: string; hint: string } | undefined;
  let success: Omit<VerifyResult, 'durationMs' | 'errorLogTail' | 'configFile'> | undefined;
  let pythonProbing: Promise<PythonProbe> | undefined;

  try {
    await chmod(dir, 0o755);
    if (join(dir, 'wsgi').length > maxSocketPrefix) {
      throw new VerifyError(`the temporary directory ${dir} is too long for mod_wsgi's unix sockets`, 'use a shorter --work-dir (e.g. /tmp)');
    }
    const appPath = join(dir, 'app.wsgi');
    await writeFile(appPath, opts.appSource ?? (await readFile(pythonProgram('verify-app.py'), 'utf8')), { mode: 0o644 });
    const { known } = opts.python;
    pythonProbing = known ? undefined : probePython(opts.python.executable, appPath, account);
    pythonProbing?.catch(() => undefined); // awaited below, after httpd's own checks
    const probe = await probing;
    if (probe.compiledIn.length === 0) {
      throw new VerifyError(`${layout.httpd} -l did not list its compiled-in modules`, `run "${layout.httpd} -l" to see why it fails`);
    }
    if (!probe.compiledIn.includes('mod_so.c')) {
      throw new VerifyError(`${layout.httpd} was built without mod_so and cannot load mod_wsgi`, 'rebuild httpd with --enable-so');
    }
    const modules = chooseModules(layout, probe.compiledIn, modWsgi, isRoot, opts.mpm);
    const python = known ? { version: opts.python.version, ...known } : await pythonProbing!;
    if (!known) log(`python ${opts.python.executable} reports ${python.version}${python.isVirtualenv ? ' (virtualenv)' : ''}`);

    for (let attempt = 1; attempt <= maxPortAttempts; attempt++) {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}/`;
      await writeFile(
        conf,
        renderConfig({
          dir,
          port,
          logLevel: opts.logLevel ?? 'warn',
          loadModules: modules.load,
          mpm: modules.mpm,
          appPath,
          ...(account ? { account } : {}),
          ...(python.isVirtualenv ? { pythonPath: python.purelib } : {}),
          accessLog: modules.accessLog,
        }),
        { mode: 0o644 },
      );
      log(`starting ${layout.httpd} -f ${conf} -DFOREGROUND (${modules.mpm} MPM, port ${port})`);
      server = startHttpd(layout.httpd, conf, dir, stderrLog);
      const outcome = await waitForApp(server, url, started + timeoutMs, log);

      if (outcome.kind === 'ok') {
        const fields = parseAppBody(outcome.body);
        const reported = fields['python-version'];
        log(`GET ${url} -> 200 from Python ${reported ?? '?'} (pid ${fields.pid ?? '?'}, group "${fields['process-group'] ?? ''}")`);
        if (!reported) {
          failure = {
            message: `the WSGI app answered 200 but does not name a Python version; ${showBody(outcome.body)}`,
            hint: 'the app must answer with a line "python-version: X"',
          };
        } else if (!versionMatches(reported, opts.python.version)) {
          failure = {
            message: `mod_wsgi runs Python ${reported}, expected ${opts.python.version} (${opts.python.executable} reports ${python.version}); ${showBody(outcome.body)}`,
            hint:
              python.version === reported
                ? 'the expected version passed in is not the one this interpreter reports'
                : 'this mod_wsgi.so was built for a different Python: rebuild mod_wsgi with the Python you want',
          };
        } else if (fields['process-group'] !== 'verify') {
          failure = {
            message: `the WSGI app ran outside the mod_wsgi daemon process (process group "${fields['process-group'] ?? ''}")`,
            hint: 'this mod_wsgi does not support daemon mode (built without threads?); rebuild it',
          };
        } else {
          success = {
            url,
            status: outcome.status,
            body: outcome.body,
            pythonVersion: reported,
            ...(fields.pid && /^\d+$/.test(fields.pid) ? { daemonPid: Number(fields.pid) } : {}),
            mpm: modules.mpm,
            httpdVersion: probe.version ?? layout.version ?? 'unknown',
          };
        }
        break;
      }
      if (outcome.kind === 'status') {
        failure = {
          message: `GET ${url} returned HTTP ${outcome.status} instead of 200: ${showBody(outcome.body)}`,
          hint:
            outcome.status === 500
              ? 'the WSGI app or the Python inside mod_wsgi failed; the traceback is in the error log lines above'
              : 'httpd answered but not from the WSGI app; see the error log lines above',
        };
        break;
      }
      if (outcome.kind === 'timeout') {
        failure = {
          message: `no HTTP 200 from ${url} within ${timeoutMs} ms (last: ${outcome.last})`,
          hint: outcome.last.startsWith('no answer')
            ? 'httpd accepted the request but the WSGI app never answered (it hangs, or the mod_wsgi daemon is stuck); see the error log lines above'
            : 'the mod_wsgi daemon process did not come up (Python not loadable by the server user? wrong python-home?); see the error log lines above',
        };
        break;
      }
      // httpd exited during startup.
      const output = [...(await tail(stderrLog)), ...(await tail(errorLog))].join('\n');
      const why = outcome.error ? outcome.error.message : `exit ${outcome.code ?? outcome.signal}`;
      if (/Address already in use|could not bind/i.test(output) && attempt < maxPortAttempts) {
        log(`port ${port} was taken before httpd bound it; retrying with another`);
        await stopHttpd(server, conf, log);
        server = undefined;
        await rm(stderrLog, { force: true });
        await rm(errorLog, { force: true });
        continue;
      }
      failure = { message: `httpd exited during startup (${why})`, hint: startupHint(output) };
      break;
    }
    // Not probed before (the caller knew the interpreter): a Python that cannot run here explains the failure best.
    if (failure && known) {
      const reason = await probePython(opts.python.executable, appPath, account).then(
        () => undefined,
        (error: unknown) => error,
      );
      if (reason instanceof VerifyError) failure = { message: reason.message, hint: reason.hint };
    }
  } catch (error) {
    if (server) await stopHttpd(server, conf, log).catch(() => []);
    await rm(dir, { recursive: true, force: true }).catch(() => {});
    throw error;
  }

  const [survivors] = await Promise.all([server ? stopHttpd(server, conf, log, !success) : [], pythonProbing?.catch(() => undefined)]);
  if (server) log(`httpd stopped`);
  const logTail = await tail(errorLog);
  const stderrTail = await tail(stderrLog, 10);
  const errorLogTail = logTail.length > 0 ? logTail : stderrTail;
  await rm(dir, { recursive: true, force: true }).catch(() => {});

  if (survivors.length > 0) {
    throw new ServerVerifyError(
      `processes using ${conf} survived SIGKILL: ${survivors.join(', ')}`,
      'they are probably stuck in the kernel (D state); kill them by pid once they can be killed',
      errorLogTail,
    );
  }
  if (failure || !success) {
    const extra = logTail.length > 0 && stderrTail.length > 0 ? `\n--- httpd stderr ---\n${stderrTail.join('\n')}` : '';
    throw new ServerVerifyError(
      (failure?.message ?? 'verification did not complete') + extra,
      failure?.hint ?? 'see the error log lines above',
      errorLogTail,
    );
  }
  return { ...success, durationMs: Date.now() - started, errorLogTail, configFile: conf };
}

/**
 * The temporary directories of verify runs whose process is gone (killed with -9, which no cleanup survives): each is
 * ours (named with its pid, a real directory of this user), and a server still running from it is stopped first.
 */
export async function removeStaleVerifyDirs(parent: string): Promise<void> {
  const names = await readdir(parent).catch(() => [] as string[]);
  for (const name of names) {
    const pid = Number(/^wsgi-verify-(\d+)-[^-]+$/.exec(name)?.[1]);
    if (!pid || pid === process.pid || processAlive(pid)) continue;
    const dir = join(parent, name);
    const info = await lstat(dir).catch(() => undefined);
    if (!info?.isDirectory() || info.uid !== process.getuid?.()) continue;
    for (const server of processesMentioning(join(dir, 'httpd.conf'))) signalQuietly(server, 'SIGKILL');
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

/**
 * `wsgi-toolchain serve`: mod_wsgi-express start-server on the prefix's httpd, in the foreground, with the checks a
 * root user otherwise learns about from a 503 or a log file: the daemon account must be able to read the app, the
 * virtualenv and the Python home; the locale must exist; the port must be free. Ctrl-C / SIGTERM stop httpd and every
 * process it started before we exit.
 */
import { spawn } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { PrerequisiteError, ToolchainError, UsageError, ExitCode } from '../errors.js';
import { pythonEnv } from '../python-package/install.js';
import { parseLauncher } from '../python-package/launcher.js';
import { pythonProgram } from '../util/package-root.js';
import { type Account, blockingDirectory, lookupAccount } from '../util/accounts.js';
import { processGroupMembers } from '../util/process.js';
import { capture, run } from '../util/run.js';
import { serverUrl, waitUntilAnswering } from './ready.js';
import { makeServerRoot, type ServerRoot } from './server-root.js';

export interface ServeArgs {
  prefix?: string;
  python?: string;
  target?: string;
  /** Everything for mod_wsgi-express after TARGET (or after --), unchanged. */
  passthrough: string[];
  /** Whether TARGET came before the passthrough (false after a bare --). */
  targetGiven: boolean;
  help: boolean;
}

/** Our own options come before TARGET; everything from TARGET (or after --) is mod_wsgi-express's. */
export function parseServeArgv(argv: string[]): ServeArgs {
  const args: ServeArgs = { passthrough: [], targetGiven: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      args.passthrough = argv.slice(i + 1);
      return args;
    }
    const m = /^--(prefix|python)(?:=(.*))?$/.exec(arg);
    if (m) {
      const value = m[2] ?? argv[++i];
      if (value === undefined || value === '')
        throw new UsageError(`--${m[1]} needs a value`, `pass --${m[1]} ${m[1] === 'prefix' ? 'DIR' : 'PATH'}`);
      args[m[1] as 'prefix' | 'python'] = value;
      continue;
    }
    if (arg === '--help' || arg === '-h') {
      args.help = true;
      continue;
    }
    if (arg.startsWith('-')) {
      throw new UsageError(
        `${arg} before TARGET: only --prefix and --python go there`,
        'put mod_wsgi-express options after TARGET (wsgi-toolchain serve app.wsgi --port 8080), or after --',
      );
    }
    args.target = arg;
    args.targetGiven = true;
    args.passthrough = argv.slice(i + 1);
    return args;
  }
  return args;
}

/** The value of an express option in the passthrough (`--name value` or `--name=value`; the last one wins). */
export function optionValue(list: string[], name: string): string | undefined {
  let found: string | undefined;
  for (let i = 0; i < list.length; i++) {
    const arg = list[i]!;
    if (arg === '--') break;
    if (arg === `--${name}`) found = list[i + 1];
    else if (arg.startsWith(`--${name}=`)) found = arg.slice(name.length + 3);
  }
  return found;
}

export function hasFlag(list: string[], name: string): boolean {
  return list.some((a) => a === `--${name}` || a.startsWith(`--${name}=`));
}

// ---------------------------------------------------------------------------------------------------------------

export interface ExpressCommand {
  /** argv that runs mod_wsgi-express (the launcher/script, or python -c for --python). */
  argv: string[];
  python: string;
  /** PYTHONPATH the launcher adds, if any. */
  pythonPath?: string;
  /** What we found, for messages. */
  source: string;
}

async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() ?? false;
}

/** The prefix's mod_wsgi-express: <prefix>/bin/mod_wsgi-express (a venv's console script or our launcher). */
export async function findExpress(prefix: string, python?: string): Promise<ExpressCommand> {
  if (python) {
    // Whatever the package's layout: its installed metadata names the entry point.
    return {
      argv: [python, pythonProgram('run-console-script.py'), 'mod_wsgi-express'],
      python,
      source: `${python} (its mod_wsgi-express entry point)`,
    };
  }
  const express = join(prefix, 'bin', 'mod_wsgi-express');
  if (!(await isFile(express))) {
    throw new UsageError(
      `${prefix} has no mod_wsgi-express (${express})`,
      `build the prefix with the Python package (wsgi-toolchain build --prefix ${prefix}, without --no-python-package), ` +
        `or install it: APXS=${join(prefix, 'httpd', 'bin', 'apxs')} pip install mod_wsgi`,
    );
  }
  const text = await readFile(express, 'utf8');
  const launcher = parseLauncher(text);
  if (launcher) return { argv: [express], python: launcher.python, pythonPath: launcher.pythonPath, source: express };
  const shebang = /^#!\s*(\S+)/.exec(text)?.[1];
  let interpreter = shebang && !/\/(env|sh|bash)$/.test(shebang) ? shebang : undefined;
  if (!interpreter && (await isFile(join(prefix, 'bin', 'python')))) interpreter = join(prefix, 'bin', 'python');
  if (!interpreter) throw new UsageError(`cannot tell which Python runs ${express}`, 'pass --python PATH');
  return { argv: [express], python: interpreter, source: express };
}

/** Installed locales, normalized ("en_us.utf8"); undefined when `locale -a` is unavailable. */
async function installedLocales(): Promise<Set<string> | undefined> {
  const out = await capture(['locale', '-a']);
  if (out === undefined) return undefined;
  return new Set(out.split('\n').map((l) => normalizeLocale(l.trim())));
}

export function normalizeLocale(name: string): string {
  return name.toLowerCase().replace(/utf-8$/, 'utf8');
}

/** --locale to add: en_US.UTF-8 when installed, else C.UTF-8, unless the environment already names an installed one. */
export function chooseLocale(installed: Set<string> | undefined, env: NodeJS.ProcessEnv): string | undefined {
  if (!installed) return undefined;
  const current = env.LC_ALL || env.LC_CTYPE || env.LANG;
  if (current && !/^(C|POSIX)(\.|$)/i.test(current) && installed.has(normalizeLocale(current))) return undefined;
  if (installed.has('en_us.utf8')) return 'en_US.UTF-8';
  if (installed.has('c.utf8')) return 'C.UTF-8';
  return undefined;
}

/** Fails when host:port cannot be bound right now. */
function checkPort(host: string, port: number): Promise<void> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.unref();
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') {
        fail(
          new ToolchainError(
            `port ${port} on ${host} is already in use`,
            `stop what listens there, or pass another port after TARGET: --port ${port === 8000 ? 8080 : port + 1}`,
          ),
        );
      } else if (error.code === 'EADDRNOTAVAIL') {
        fail(
          new UsageError(
            `--host ${host} is not an address of this machine`,
            'leave --host out (127.0.0.1), or pass --host 0.0.0.0 to listen on every address',
          ),
        );
      } else done(); // e.g. EACCES for a low port as non-root: let httpd say it
    });
    server.listen({ port, host, exclusive: true }, () => server.close(() => done()));
  });
}

/** Runs the Python as the server account and has it read everything the daemon will need. */
export async function checkAccess(
  express: ExpressCommand,
  account: Account,
  paths: Array<['dir' | 'file', string]>,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  const who = `${account.user}:${account.group}`;
  const fix = (path: string) =>
    `the server runs as ${who}: make ${path} readable by it (e.g. chmod o+rx on each directory down to it), move the app/virtualenv under /srv or /opt, or pass --user/--group of an account that can read it (after TARGET)`;
  const result = await run([express.python, pythonProgram('check-access.py'), JSON.stringify(paths), 'mod_wsgi-express'], {
    cwd: '/',
    env: pythonEnv(env, { HOME: '/', ...(express.pythonPath ? { PYTHONPATH: express.pythonPath } : {}) }),
    uid: account.uid,
    gid: account.gid,
    timeoutMs: 30_000,
  }).catch((error: NodeJS.ErrnoException) => ({ error, code: null, stdout: '', stderr: '' }));
  if ('error' in result) {
    const blocked = blockingDirectory(express.python, account);
    const path = blocked ?? express.python;
    throw new PrerequisiteError(
      `${who} cannot run the Python ${express.python}: ${blocked ? `${blocked} is not searchable by ${account.user}` : result.error.message}`,
      fix(path),
    );
  }
  const line = result.stdout.split('\n').find((l) => l.startsWith('WSGI_TOOLCHAIN_ACCESS '));
  if (!line) {
    const detail = result.stderr.trim().split('\n').slice(-3).join(' | ') || `exit ${result.code}`;
    const blocked = blockingDirectory(express.python, account);
    throw new PrerequisiteError(
      `${who} cannot start the Python ${express.python} (its home or standard library is unreadable: ${detail})`,
      fix(blocked ?? express.python),
    );
  }
  const parsed = JSON.parse(line.slice('WSGI_TOOLCHAIN_ACCESS '.length)) as { problems: Array<{ path: string; error: string }> };
  const first = parsed.problems[0];
  if (first) {
    const blocked = first.path.startsWith('/') ? blockingDirectory(first.path, account) : undefined;
    const what = first.path;
    throw new PrerequisiteError(
      `${who} cannot read ${what}: ${first.error}${blocked ? ` (${blocked} is not searchable by ${account.user})` : ''}` +
        (parsed.problems.length > 1
          ? `; also ${parsed.problems
              .slice(1)
              .map((p) => p.path)
              .join(', ')}`
          : ''),
      fix(blocked ?? what),
    );
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface ServeOptions {
  prefix: string;
  python?: string;
  target?: string;
  targetGiven: boolean;
  passthrough: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Messages of ours (not express's output): default stderr. */
  note?: (line: string) => void;
  /** How long httpd gets to stop after SIGTERM before SIGKILL (default 10 s). */
  stopGraceMs?: number;
  /** Where the URL line goes once the server answers: default stdout. */
  announce?: (line: string) => void;
}

export interface PreparedServe {
  argv: string[];
  env: NodeJS.ProcessEnv;
  express: ExpressCommand;
  account?: Account;
  setupOnly: boolean;
  /** Where the server listens (127.0.0.1 unless --host is given) and the URL serve prints once it answers. */
  host: string;
  port: number;
  url?: string;
  /** Made here, last: the caller must `remove()` it when done (a no-op for a --server-root of the user's). */
  serverRoot: ServerRoot;
}

/**
 * Everything serve would run (also what tests check). Its one side effect is the server root, made after every
 * check has passed: the caller removes it with `serverRoot.remove()`.
 */
export async function prepareServe(opts: ServeOptions): Promise<PreparedServe> {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const prefix = resolve(cwd, opts.prefix);
  const rest = [...opts.passthrough];
  if (!opts.targetGiven && rest.length === 0) {
    throw new UsageError(
      'serve needs a TARGET: the WSGI script to run (or a module name with --application-type module)',
      "run 'wsgi-toolchain serve --help'",
    );
  }
  const express = await findExpress(prefix, opts.python);
  const appType = optionValue(rest, 'application-type') ?? 'script';
  const checks: Array<['dir' | 'file', string]> = [];
  if (opts.targetGiven && opts.target !== undefined) {
    if (appType === 'script' || appType === 'static') {
      const path = resolve(cwd, opts.target);
      const info = await stat(path).catch(() => undefined);
      if (!info)
        throw new UsageError(
          `TARGET ${opts.target} does not exist (${path})`,
          'pass the path of your WSGI script (e.g. app.wsgi), or a module name with --application-type module',
        );
      checks.push([info.isDirectory() ? 'dir' : 'file', path]);
    }
  }
  const workingDirectory = optionValue(rest, 'working-directory');
  checks.push(['dir', resolve(cwd, workingDirectory ?? cwd)]);
  for (const name of ['document-root']) {
    const value = optionValue(rest, name);
    if (value) checks.push(['dir', resolve(cwd, value)]);
  }

  const extra: string[] = [];
  let account: Account | undefined;
  if (process.getuid?.() === 0) {
    account = lookupAccount(optionValue(rest, 'user'), optionValue(rest, 'group'));
    if (!hasFlag(rest, 'user')) extra.push('--user', account.user);
    if (!hasFlag(rest, 'group')) extra.push('--group', account.group);
    await checkAccess(express, account, checks, env);
  }
  if (!hasFlag(rest, 'locale') && !hasFlag(rest, 'lang')) {
    const locale = chooseLocale(await installedLocales(), env);
    if (locale) extra.push('--locale', locale);
  }
  const setupOnly = hasFlag(rest, 'setup-only');
  if (!setupOnly && !hasFlag(rest, 'log-to-terminal') && !hasFlag(rest, 'log-directory') && !hasFlag(rest, 'error-log-name'))
    extra.push('--log-to-terminal');
  // Like Django's runserver: only this machine can connect unless --host says otherwise.
  const host = optionValue(rest, 'host') ?? '127.0.0.1';
  if (!hasFlag(rest, 'host')) extra.push('--host', host);
  const portText = optionValue(rest, 'port') ?? '8000';
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`--port ${portText} is not a port number`, 'pass --port 8000 or another number up to 65535');
  if (!setupOnly && port > 0) await checkPort(host, port);
  const givenRoot = optionValue(rest, 'server-root');
  if (hasFlag(rest, 'server-root') && !givenRoot) throw new UsageError('--server-root needs a value', 'pass --server-root DIR');
  const serverRoot = await makeServerRoot(givenRoot === undefined ? undefined : resolve(cwd, givenRoot), account);
  if (!givenRoot) extra.push('--server-root', serverRoot.path);
  // TARGET stays first so express reads it as its positional argument; our additions go last, after the user's own.
  const argv = [...express.argv, 'start-server', ...(opts.targetGiven && opts.target !== undefined ? [opts.target] : []), ...rest, ...extra];
  const childEnv = pythonEnv(env, express.pythonPath ? { PYTHONPATH: express.pythonPath } : {});
  delete childEnv.PIP_DISABLE_PIP_VERSION_CHECK;
  delete childEnv.PIP_NO_INPUT;
  const url = !setupOnly && port > 0 ? serverUrl(host, port) : undefined;
  return { argv, env: childEnv, express, account, setupOnly, host, port, url, serverRoot };
}

/**
 * Runs the server in the foreground until it exits or we are told to stop; returns the exit code for the CLI. The
 * private server root is removed whatever the end (normal exit, Ctrl-C, SIGTERM, SIGHUP, an error); only a SIGKILL
 * of serve itself leaves it (a `wsgi-serve-*` directory in the system temp dir).
 */
export async function serve(opts: ServeOptions): Promise<number> {
  const note = opts.note ?? ((line: string) => process.stderr.write(`wsgi-toolchain: ${line}\n`));
  const announce = opts.announce ?? ((line: string) => process.stdout.write(`${line}\n`));
  const prepared = await prepareServe(opts);
  let code: number | undefined;
  try {
    code = await runServer(opts, prepared, note, announce);
    return code;
  } finally {
    // --setup-only leaves a server root to start later with its apachectl: a private one is kept when it worked.
    if (!(prepared.setupOnly && code === 0)) await prepared.serverRoot.remove();
  }
}

async function runServer(
  opts: ServeOptions,
  prepared: PreparedServe,
  note: (line: string) => void,
  announce: (line: string) => void,
): Promise<number> {
  note(`${prepared.express.source} start-server${prepared.account ? ` as ${prepared.account.user}:${prepared.account.group}` : ''}`);
  const child = spawn(prepared.argv[0]!, prepared.argv.slice(1), {
    cwd: opts.cwd ?? process.cwd(),
    env: prepared.env,
    stdio: ['ignore', 'inherit', 'inherit'],
    detached: true, // its own process group: we decide when it stops, and can stop all of it
  });
  const pgid = child.pid;
  let stopping: NodeJS.Signals | undefined;
  let exited = false;
  let killTimer: NodeJS.Timeout | undefined;
  const kill = (signal: NodeJS.Signals) => {
    if (!pgid) return;
    try {
      process.kill(-pgid, signal);
    } catch {
      /* gone */
    }
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      kill('SIGKILL');
      return;
    }
    stopping = signal;
    note(`${signal}: stopping the server`);
    kill('SIGTERM');
    killTimer = setTimeout(() => kill('SIGKILL'), opts.stopGraceMs ?? 10_000);
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, onSignal);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((done) => {
    child.once('error', (error) => done({ code: null, signal: null, error }));
    child.once('exit', (code, signal) => done({ code, signal }));
  }).finally(() => {
    exited = true;
  });
  const url = prepared.url;
  const ready = url
    ? waitUntilAnswering(prepared.host, prepared.port, () => exited || stopping !== undefined).then((up) => {
        if (up) announce(url);
      })
    : Promise.resolve();
  const result = await exit;
  await ready;
  for (const s of signals) process.off(s, onSignal);
  if (killTimer) clearTimeout(killTimer);
  if (result.error)
    throw new ToolchainError(`cannot run ${prepared.argv[0]}: ${result.error.message}`, 'rebuild the prefix (its mod_wsgi-express is broken)');

  // httpd stops its children itself; anything left in the group after a bounded wait is killed.
  if (pgid && !prepared.setupOnly) {
    const deadline = Date.now() + 5_000;
    while (processGroupMembers(pgid).length > 0 && Date.now() < deadline) await sleep(100);
    if (processGroupMembers(pgid).length > 0) {
      kill('SIGKILL');
      const hard = Date.now() + 5_000;
      while (processGroupMembers(pgid).length > 0 && Date.now() < hard) await sleep(100);
    }
    const left = processGroupMembers(pgid);
    if (left.length > 0) note(`processes ${left.join(', ')} did not stop even after SIGKILL`);
  }
  if (prepared.setupOnly && result.code === 0) {
    const root = prepared.serverRoot.path;
    note(`set up in ${root}: start with ${join(root, 'apachectl')} start, stop with ${join(root, 'apachectl')} stop`);
  }
  if (stopping) return ExitCode.interrupted;
  return result.code ?? ExitCode.failure;
}

import { createRequire } from 'node:module';
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import lt from 'semver/functions/lt.js';
import valid from 'semver/functions/valid.js';
import { hashOf } from '../util/hash-of.js';
import { type FactsCache, fileStamp, recall, remember } from '../util/remembered.js';
import { PrerequisiteError, UsageError } from '../errors.js';
import { pythonProgramArgs } from '../util/package-root.js';
import { run } from '../util/run.js';
import type { PythonInfo } from './types.js';
import { isExecutableFile, which } from './which.js';
import { targetExists } from '../util/fs.js';

/** node-gyp's finder refuses anything older; we apply the same floor to explicitly named interpreters. */
export const MIN_PYTHON = '3.6.0';

/** Where the interpreter came from, in the order they are tried. */
export type PythonSource = '--python' | 'WSGI_HTTPD_PYTHON' | 'PYTHON' | 'prefix venv' | 'VIRTUAL_ENV' | 'PATH';

export interface DetectPythonOptions {
  /** --python: a path or a command name looked up on PATH. */
  python?: string;
  /** The install prefix; when it is a virtualenv (has pyvenv.cfg) its own interpreter is used. */
  prefix?: string;
  env?: NodeJS.ProcessEnv;
  /** Where the interpreter's answers may be kept between runs (a build passes `<store>/facts`). */
  cache?: FactsCache;
}

/**
 * Finds the Python that mod_wsgi is to be built for and reads its sysconfig. Order: --python, WSGI_HTTPD_PYTHON,
 * PYTHON, the prefix's interpreter when the prefix is a virtualenv, VIRTUAL_ENV, python3 (then python) on PATH. A
 * named candidate that is unusable is an error (UsageError naming its source), never a silent fall-through.
 */
export async function detectPython(opts: DetectPythonOptions = {}): Promise<PythonInfo> {
  const env = opts.env ?? process.env;

  const { cache } = opts;
  if (opts.python) return fromExplicit('--python', opts.python, env, cache);
  if (env.WSGI_HTTPD_PYTHON) return fromExplicit('WSGI_HTTPD_PYTHON', env.WSGI_HTTPD_PYTHON, env, cache);
  if (env.PYTHON) return fromExplicit('PYTHON', env.PYTHON, env, cache);

  if (opts.prefix) {
    const prefix = path.resolve(opts.prefix);
    if (await isFile(path.join(prefix, 'pyvenv.cfg'))) return fromVenv('prefix venv', prefix, env, cache);
  }
  if (env.VIRTUAL_ENV) return fromVenv('VIRTUAL_ENV', path.resolve(env.VIRTUAL_ENV), env, cache);

  return fromPath(env, cache);
}

/** Reads what the build needs from `executable` (one subprocess). Throws UsageError when it is not a usable Python. */
export async function readPythonInfo(executable: string, foundBy: string, env: NodeJS.ProcessEnv = process.env): Promise<PythonInfo> {
  return readInfo(executable, foundBy, env, { label: executable, hint: usageHint(foundBy, executable) });
}

// ---------------------------------------------------------------------------------------------------------------

interface Blame {
  /** How to name the candidate in an error, e.g. "WSGI_HTTPD_PYTHON=/x". */
  label: string;
  hint: string;
}

function usageHint(source: string, value: string): string {
  const example = 'e.g. /usr/bin/python3';
  switch (source) {
    case '--python':
      return `pass --python the path of a Python 3 interpreter (${example}), or leave it out to use python3 on PATH`;
    case 'WSGI_HTTPD_PYTHON':
    case 'PYTHON':
      return `set ${source} to the path of a Python 3 interpreter (${example}), or unset it (unset ${source})`;
    case 'prefix venv':
      return (
        `the virtualenv at ${value} is broken (its base Python may have been removed or upgraded): recreate it with ` +
        `"python3 -m venv --clear ${value}", or choose the interpreter with --python`
      );
    case 'VIRTUAL_ENV':
      return (
        `VIRTUAL_ENV points at a virtualenv that is missing or broken: run "deactivate" (or unset VIRTUAL_ENV), ` +
        `recreate it with "python3 -m venv --clear ${value}", or choose the interpreter with --python`
      );
    default:
      return `choose a working Python 3 interpreter with --python (${example})`;
  }
}

async function fromExplicit(source: PythonSource, value: string, env: NodeJS.ProcessEnv, cache?: FactsCache): Promise<PythonInfo> {
  const blame: Blame = { label: `${source}=${value}`, hint: usageHint(source, value) };
  const resolved = value.includes('/') ? path.resolve(value) : await which(value, env);
  if (!resolved) throw new UsageError(`${blame.label} is not a Python interpreter: there is no command "${value}" on PATH`, blame.hint);
  await assertRunnable(resolved, blame);
  return readInfo(resolved, source, env, blame, cache);
}

async function fromVenv(source: PythonSource, dir: string, env: NodeJS.ProcessEnv, cache?: FactsCache): Promise<PythonInfo> {
  const label = source === 'VIRTUAL_ENV' ? `VIRTUAL_ENV=${dir}` : `the prefix ${dir} (a virtualenv: it has pyvenv.cfg)`;
  const blame: Blame = { label, hint: usageHint(source, dir) };
  const candidates = [path.join(dir, 'bin', 'python3'), path.join(dir, 'bin', 'python')];
  for (const candidate of candidates) {
    if (await isExecutableFile(candidate)) {
      return readInfo(candidate, source, env, { label: `${label}: ${candidate}`, hint: blame.hint }, cache);
    }
  }
  const why = (await targetExists(dir)) ? `has no working bin/python3 or bin/python` : 'does not exist';
  throw new UsageError(`${label} ${why}`, blame.hint);
}

async function fromPath(env: NodeJS.ProcessEnv, cache?: FactsCache): Promise<PythonInfo> {
  // node-gyp's finder: python3, then python, each must be >= 3.6. Give it an env without the variables we already
  // handled (PYTHON) or that would override everything (NODE_GYP_FORCE_PYTHON), so it only searches PATH.
  const finderEnv: NodeJS.ProcessEnv = { ...env };
  delete finderEnv.PYTHON;
  delete finderEnv.NODE_GYP_FORCE_PYTHON;
  let found: string;
  try {
    const Finder = loadPythonFinder();
    const finder = new Finder(undefined);
    finder.env = finderEnv;
    found = await finder.findPython();
  } catch {
    throw new PrerequisiteError(
      `no Python ${MIN_PYTHON.replace(/\.0$/, '')} or newer found: neither python3 nor python on PATH is one`,
      'install Python 3 with its headers (Debian/Ubuntu: apt-get install python3 python3-dev; RHEL/Fedora: ' +
        'dnf install python3 python3-devel; macOS: brew install python), or name an interpreter with --python ' +
        '/path/to/python3 or WSGI_HTTPD_PYTHON',
    );
  }
  return readInfo(
    found,
    'PATH',
    env,
    {
      label: `${found} (python3 on PATH)`,
      hint: 'choose a working Python 3 interpreter with --python (e.g. /usr/bin/python3)',
    },
    cache,
  );
}

interface PythonFinderInstance {
  env: NodeJS.ProcessEnv;
  findPython(): Promise<string>;
}
type PythonFinderClass = new (configPython: string | undefined) => PythonFinderInstance;

let finderClass: PythonFinderClass | undefined;

function loadPythonFinder(): PythonFinderClass {
  if (!finderClass) {
    // Must be set before node-gyp's log module loads, or it installs a stderr logger that fights the live UI.
    process.env.NODE_GYP_NULL_LOGGER ??= '1';
    const require = createRequire(import.meta.url);
    finderClass = require('node-gyp/lib/find-python.js') as PythonFinderClass;
  }
  return finderClass;
}

async function assertRunnable(file: string, blame: Blame): Promise<void> {
  let info;
  try {
    info = await stat(file);
  } catch {
    throw new UsageError(`${blame.label} is not a Python interpreter: ${file} does not exist`, blame.hint);
  }
  if (info.isDirectory()) {
    throw new UsageError(
      `${blame.label} is not a Python interpreter: ${file} is a directory (give the interpreter, e.g. ${path.join(file, 'bin', 'python3')})`,
      blame.hint,
    );
  }
  if (!(await isExecutableFile(file))) {
    throw new UsageError(`${blame.label} is not a Python interpreter: ${file} is not executable`, blame.hint);
  }
}

const marker = '@@wsgi-httpd-python-info@@';

interface RawInfo {
  version: string;
  majorMinor: string;
  implementation: string;
  soabi: string;
  prefix: string;
  basePrefix: string;
  executable: string;
  realExecutable: string;
  includeDir: string;
  hasHeaders: boolean;
  libDir: string;
  ldLibrary: string;
  enableShared: boolean;
  ldVersion: string;
  abiFlags: string;
  libPl: string | null;
  instSoName: string | null;
  multiarch: string | null;
  framework: string | null;
  sharedLibrary: string | null;
  sitePackages: string;
  extSuffix: string;
  baseExecutable: string;
}

async function readInfo(executable: string, foundBy: string, env: NodeJS.ProcessEnv, blame: Blame, cache?: FactsCache): Promise<PythonInfo> {
  const raw = await rememberedAnswer(executable, cache, () => askInterpreter(executable, env, blame));
  if (!valid(raw.version) || lt(raw.version, MIN_PYTHON)) {
    throw new UsageError(`${blame.label} is Python ${raw.version}; mod_wsgi needs Python ${MIN_PYTHON.replace(/\.0$/, '')} or newer`, blame.hint);
  }

  // A wrapper (pyenv shim, shell script) is replaced by the interpreter it ran, so later steps do not depend on the
  // wrapper's environment; a venv's bin/python (a symlink to the base interpreter) is kept as it is.
  let chosen = path.resolve(executable);
  const realGiven = await realpath(chosen).catch(() => chosen);
  const realExecutable = raw.realExecutable || realGiven;
  if (raw.executable && realGiven !== realExecutable) chosen = raw.executable;

  const prefix = raw.prefix;
  const basePrefix = raw.basePrefix;
  return {
    executable: chosen,
    realExecutable,
    version: raw.version,
    abi: raw.soabi,
    prefix,
    basePrefix,
    isVirtualenv: prefix !== basePrefix || (await isFile(path.join(prefix, 'pyvenv.cfg'))),
    includeDir: raw.includeDir,
    hasHeaders: raw.hasHeaders,
    libDir: raw.libDir,
    ldLibrary: raw.ldLibrary,
    enableShared: raw.enableShared,
    sitePackages: raw.sitePackages,
    foundBy,
    majorMinor: raw.majorMinor,
    implementation: raw.implementation,
    ldVersion: raw.ldVersion,
    abiFlags: raw.abiFlags,
    ...(raw.libPl ? { libPl: raw.libPl } : {}),
    ...(raw.instSoName ? { instSoName: raw.instSoName } : {}),
    ...(raw.multiarch ? { multiarch: raw.multiarch } : {}),
    ...(raw.framework ? { framework: raw.framework } : {}),
    sharedLibrary: raw.sharedLibrary,
    extSuffix: raw.extSuffix,
    baseExecutable: raw.baseExecutable || realExecutable,
    homeAccess: await othersCanReach([basePrefix, prefix]),
  };
}

/**
 * The interpreter's answer, kept in the facts cache under its binary's identity (and its venv's pyvenv.cfg), so a no-op
 * build starts no Python. Only an interpreter run directly is kept: a wrapper (a pyenv shim) picks its Python when it
 * runs. Header presence is looked at again every time (python3-dev may come later).
 */
async function rememberedAnswer(executable: string, cache: FactsCache | undefined, ask: () => Promise<RawInfo>): Promise<RawInfo> {
  if (!cache) return ask();
  const given = path.resolve(executable);
  const real = await realpath(given).catch(() => undefined);
  if (!real) return ask();
  const key = hashOf({
    given,
    real,
    binary: await fileStamp(real),
    venv: await fileStamp(path.join(path.dirname(path.dirname(given)), 'pyvenv.cfg')),
  });
  const saved = await recall<RawInfo>(cache, 'python', key);
  if (saved && typeof saved.version === 'string' && typeof saved.soabi === 'string' && typeof saved.prefix === 'string')
    return { ...saved, hasHeaders: Boolean(saved.includeDir) && (await isFile(path.join(saved.includeDir, 'Python.h'))) };
  const raw = await ask();
  if (raw.realExecutable === real) await remember(cache, 'python', key, raw);
  return raw;
}

/** Runs the python-info program in the interpreter (one subprocess) and parses its answer. */
async function askInterpreter(executable: string, env: NodeJS.ProcessEnv, blame: Blame): Promise<RawInfo> {
  let result;
  try {
    result = await run([executable, '-E', '-s', ...pythonProgramArgs('python-info.py')], {
      env: { ...env, PYTHONIOENCODING: 'utf-8' },
      signal: AbortSignal.timeout(60_000),
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not executable' : `could not be run (${code ?? String(error)})`;
    throw new UsageError(`${blame.label} is not a Python interpreter: ${executable} ${why}`, blame.hint);
  }
  const line = result.stdout.split('\n').find((l) => l.startsWith(marker));
  let raw: RawInfo | undefined;
  if (result.code === 0 && line) {
    try {
      raw = JSON.parse(line.slice(marker.length)) as RawInfo;
    } catch {
      raw = undefined;
    }
  }
  if (!raw) {
    const said = lastLine(result.stderr) || lastLine(result.stdout);
    const how = result.signal
      ? `it was killed by ${result.signal}`
      : result.code === 0
        ? 'it ran but did not answer a Python query'
        : `running it as Python failed (exit code ${result.code})`;
    throw new UsageError(`${blame.label} is not a Python interpreter: ${how}${said ? `: ${said}` : ''}`, blame.hint);
  }
  return raw;
}

/**
 * Can a user who is neither owner nor in the group reach these directories? Every directory on the way needs "others"
 * execute; the directories themselves also "others" read. Mode bits only (ACLs are not consulted).
 */
export async function othersCanReach(dirs: string[]): Promise<{ readableByOthers: boolean; blockedAt?: string }> {
  for (const dir of dirs) {
    const real = await realpath(dir).catch(() => path.resolve(dir));
    const parts = real.split(path.sep).filter(Boolean);
    let current: string = path.sep;
    const chain = [current, ...parts.map((part) => (current = path.join(current, part)))];
    for (const [index, step] of chain.entries()) {
      let mode: number;
      try {
        mode = (await stat(step)).mode;
      } catch {
        break; // gone or unreadable for us: nothing useful to say
      }
      const needed = index === chain.length - 1 ? 0o005 : 0o001;
      if ((mode & needed) !== needed) return { readableByOthers: false, blockedAt: step };
    }
  }
  return { readableByOthers: true };
}

function lastLine(text: string): string {
  return (
    text
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .pop() ?? ''
  ).slice(0, 300);
}

async function isFile(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------------------

export interface PythonProblem {
  /** Stable id: "python-implementation" | "python-headers" | "python-shared" | "python-home-access". */
  id: string;
  severity: 'error' | 'warning';
  message: string;
  hint: string;
}

/** What stops (errors) or endangers (warnings) building mod_wsgi for this Python. Pure: uses only `info`. */
export function pythonProblems(info: PythonInfo, platform: NodeJS.Platform = process.platform): PythonProblem[] {
  const problems: PythonProblem[] = [];
  const mm = info.majorMinor ?? /^(\d+\.\d+)/.exec(info.version)?.[1] ?? '3';
  const where = `${info.executable} (Python ${info.version})`;
  const systemPython = isSystemPrefix(info.basePrefix);

  if (info.implementation && info.implementation !== 'cpython') {
    problems.push({
      id: 'python-implementation',
      severity: 'error',
      message: `${where} is ${info.implementation}; mod_wsgi embeds CPython and cannot be built for it`,
      hint: 'choose a CPython interpreter with --python (e.g. /usr/bin/python3)',
    });
  }

  if (!info.hasHeaders) {
    const packages =
      `Debian/Ubuntu: apt-get install python${mm}-dev; RHEL/Fedora: dnf install python${mm}-devel ` +
      `(python3-devel for the default python3); macOS: the headers come with python.org and Homebrew Python ` +
      `(brew install python@${mm})`;
    const hint = systemPython
      ? `install the Python development headers: ${packages}`
      : `this Python (under ${info.basePrefix}) was installed without its C headers: reinstall it with headers, ` +
        `or use the system Python with its headers (${packages})`;
    problems.push({
      id: 'python-headers',
      severity: 'error',
      message: `Python.h is missing for ${where}: looked in ${info.includeDir || '(sysconfig INCLUDEPY is empty)'}`,
      hint,
    });
  }

  const frameworkBuild = platform === 'darwin' && Boolean(info.framework);
  const libName = `libpython${info.ldVersion ?? mm}`;
  const devPackageHint = systemPython
    ? `install the development package: Debian/Ubuntu: apt-get install libpython${mm}-dev (comes with python${mm}-dev); ` +
      `RHEL/Fedora: dnf install python${mm}-devel (python3-devel for the default python3)`
    : `reinstall this Python (under ${info.basePrefix}) completely, or use the system Python with its development package`;
  const noShared = info.sharedLibrary === null || (info.sharedLibrary === undefined && !info.enableShared);
  if (!frameworkBuild && noShared && !info.enableShared) {
    problems.push({
      id: 'python-shared',
      severity: 'error',
      message:
        `${where} has no shared ${libName} (built without --enable-shared; ${info.libDir || 'LIBDIR'} has only ` +
        `${info.ldLibrary || 'a static library'})`,
      hint:
        `mod_wsgi must link against a shared libpython: rebuild this Python with --enable-shared (pyenv: ` +
        `env PYTHON_CONFIGURE_OPTS="--enable-shared" pyenv install --force ${info.version}), ` +
        `or use the system Python (e.g. --python /usr/bin/python3)`,
    });
  } else if (!frameworkBuild && noShared) {
    problems.push({
      id: 'python-shared',
      severity: 'error',
      message: `${where} was built with --enable-shared but ${libName}.so is not in ${info.libDir || 'LIBDIR'}`,
      hint: devPackageHint,
    });
  } else if (!frameworkBuild && typeof info.sharedLibrary === 'string' && /\.so\.\d/.test(path.basename(info.sharedLibrary))) {
    // Only the runtime soname (libpython3.X.so.1.0) is there; linking with -lpython3.X needs the unversioned name.
    problems.push({
      id: 'python-shared',
      severity: 'error',
      message: `${where}: only ${info.sharedLibrary} is present; the link-time ${libName}.so is missing`,
      hint: devPackageHint,
    });
  }

  if (info.homeAccess && !info.homeAccess.readableByOthers) {
    const blocked = info.homeAccess.blockedAt ?? info.basePrefix;
    problems.push({
      id: 'python-home-access',
      severity: 'warning',
      message:
        `${where} lives where other users cannot read it (${blocked} is not readable/searchable by others); when ` +
        `httpd is started as root its worker processes run as an unprivileged user and could not load Python`,
      hint:
        `use a Python installed outside ${blocked} (e.g. the system /usr/bin/python3, or a pyenv/venv under /opt), ` +
        `or run httpd as the owner of ${blocked} (not as root), or open it up with chmod o+x on each directory ` +
        `down to ${info.basePrefix}`,
    });
  }
  return problems;
}

/** A distribution's own Python, whose headers and libpython come from distribution packages. */
function isSystemPrefix(prefix: string): boolean {
  return prefix === '/usr';
}

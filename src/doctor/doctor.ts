import { chmod, mkdtemp, realpath, rm, stat, statfs, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ExitCode, isToolchainError, PrerequisiteError, type ToolchainError } from '../errors.js';
import { buildRootFor } from '../pipeline/build-root.js';
import { detectPython, pythonProblems } from '../python/detect.js';
import type { PythonInfo } from '../python/types.js';
import { which } from '../python/which.js';
import type { FactsCache } from '../util/remembered.js';
import { compilerFacts } from './compiler-facts.js';
import { storeRoot } from '../store/store.js';
import { formatBytes } from '../util/format.js';
import { run } from '../util/run.js';

export interface Fix {
  debian: string;
  rhel: string;
  macos: string;
}

export interface Check {
  id: string;
  title: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
  /** Exact packages/commands per platform family, for checks a package install fixes. */
  fix?: Fix;
  /** What to do when no package fixes it (disk space, noexec mounts, rebuilding a Python). */
  hint?: string;
  /** The typed error a build stops with for this check (its own exit code), when not a missing prerequisite. */
  error?: ToolchainError;
}

export interface ToolFacts {
  /** "linux-x64", "darwin-arm64". */
  platform: string;
  /** The C compiler's resolved path ($CC's first word, else cc, gcc, clang), or null. */
  cc: string | null;
  /** The full compiler command ($CC may carry arguments, e.g. "ccache gcc" or "gcc -m64"). */
  ccCommand: string[];
  /** First line of `cc --version`. */
  ccVersion: string | null;
  make: string | null;
  perl: string | null;
  /** Whether the header checks ran (they need a compiler). */
  headersChecked: boolean;
  /** Each found by compiling `#include <…>` with the compiler and $CPPFLAGS. */
  hasExpatHeaders: boolean;
  hasOpensslHeaders: boolean;
  hasZlibHeaders: boolean;
  /** OPENSSL_VERSION_TEXT from the headers, e.g. "OpenSSL 3.0.15 3 Sep 2024". */
  opensslVersion?: string;
  /** Free bytes (for unprivileged users) on the prefix's filesystem; null when no prefix was given or unknown. */
  freeDiskBytes: number | null;
  /** Free bytes on the build directory's filesystem. */
  buildDirFreeBytes: number | null;
  buildDir: string;
  /** os.availableParallelism(). */
  nproc: number;
}

export type ExecProbeResult = { status: 'ok' } | { status: 'noexec' | 'not-writable'; detail: string };

export interface DoctorOptions {
  /** The detected Python, or the error detection threw (or a promise of either, to probe while it is asked); when
   * absent, detectPython({prefix, env}) is run. */
  python?: PythonInfo | Error | Promise<PythonInfo | Error>;
  prefix?: string;
  /** The directory the build will compile in; by default the build's own rule (buildRootFor): $WSGI_HTTPD_BUILD_DIR,
   * else `<store>/build`. */
  buildDir?: string;
  /** The store (`--cache-dir`); default WSGI_HTTPD_CACHE_DIR, else ~/.cache/wsgi-httpd. */
  cacheDir?: string;
  /** Whether the build will verify (serve a request through httpd's unprivileged children when run as root). */
  verify?: boolean;
  /** Whether we run as root (default: the real uid); tests pass it. */
  asRoot?: boolean;
  /** 'build': expat is built from source anyway, so missing headers are fine. */
  needExpat?: 'auto' | 'build';
  wantSsl?: 'auto' | 'yes' | 'no';
  env?: NodeJS.ProcessEnv;
  /** Where the compiler's answers may be kept between runs (a build passes `<store>/facts`; doctor always probes). */
  factsCache?: FactsCache;
  /** Replaces the real "can we execute files in the build dir" probe (tests). */
  probeExec?: (dir: string) => Promise<ExecProbeResult>;
}

export const MIN_FREE_BYTES = 1024 ** 3;

const fixes = {
  compiler: { debian: 'apt-get install build-essential', rhel: 'dnf install gcc make', macos: 'xcode-select --install' },
  perl: { debian: 'apt-get install perl', rhel: 'dnf install perl', macos: 'xcode-select --install (perl ships with macOS)' },
  python: {
    debian: 'apt-get install python3 python3-dev',
    rhel: 'dnf install python3 python3-devel',
    macos: 'brew install python (or the python.org installer)',
  },
  expat: { debian: 'apt-get install libexpat1-dev', rhel: 'dnf install expat-devel', macos: 'brew install expat' },
  openssl: {
    debian: 'apt-get install libssl-dev',
    rhel: 'dnf install openssl-devel',
    macos: 'brew install openssl@3 (keg-only: add CPPFLAGS=-I$(brew --prefix openssl@3)/include)',
  },
  zlib: {
    debian: 'apt-get install zlib1g-dev',
    rhel: 'dnf install zlib-devel',
    macos: 'xcode-select --install (zlib ships with the macOS SDK)',
  },
} satisfies Record<string, Fix>;

function pythonFix(mm: string): Fix {
  return {
    debian: `apt-get install python${mm}-dev`,
    rhel: `dnf install python${mm}-devel (python3-devel for the default python3)`,
    macos: `brew install python@${mm} (python.org and Homebrew Python include the headers)`,
  };
}

/** Checks everything the build needs before anything is downloaded. `ok` is false when any check failed. */
export async function runDoctor(opts: DoctorOptions = {}): Promise<{ checks: Check[]; ok: boolean; facts: ToolFacts }> {
  const env = opts.env ?? process.env;
  const buildDir = path.resolve(opts.buildDir ?? buildRootFor(await storeRoot({ cacheDir: opts.cacheDir, env }), { env }));
  const prefix = opts.prefix ? path.resolve(opts.prefix) : undefined;

  const pythonPromise: Promise<PythonInfo | Error | undefined> =
    opts.python !== undefined
      ? Promise.resolve(opts.python)
      : detectPython({ prefix, env }).catch((error: unknown) => (error instanceof Error ? error : new Error(String(error))));

  const [facts, python, execProbe] = await Promise.all([
    gatherFacts(env, buildDir, prefix, opts.factsCache),
    pythonPromise,
    (opts.probeExec ?? probeExec)(buildDir),
  ]);

  const checks: Check[] = [
    ...toolChecks(facts, env),
    ...pythonChecks(python, prefix ? await venvOfPrefix(prefix) : undefined, {
      asRoot: opts.asRoot ?? process.getuid?.() === 0,
      verify: opts.verify ?? true,
    }),
    ...headerChecks(facts, opts.needExpat ?? 'auto', opts.wantSsl ?? 'auto'),
  ];
  if (prefix) checks.push(diskCheck('disk-prefix', 'Free space (prefix)', prefix, facts.freeDiskBytes));
  checks.push(diskCheck('disk-build', 'Free space (build dir)', buildDir, facts.buildDirFreeBytes));
  checks.push(execCheck(buildDir, execProbe));

  return { checks, ok: checks.every((check) => check.status !== 'fail'), facts };
}

// --- facts ------------------------------------------------------------------------------------------------------

export async function gatherFacts(env: NodeJS.ProcessEnv, buildDir: string, prefix?: string, factsCache?: FactsCache): Promise<ToolFacts> {
  const [compiler, make, perl, freeDiskBytes, buildDirFreeBytes] = await Promise.all([
    findCompiler(env),
    env.MAKE ? which(env.MAKE.trim().split(/\s+/)[0]!, env) : firstFound(['make', 'gmake'], env),
    which('perl', env),
    prefix ? freeBytes(prefix) : Promise.resolve(null),
    freeBytes(buildDir),
  ]);
  const facts: ToolFacts = {
    platform: `${process.platform}-${process.arch}`,
    cc: compiler?.path ?? null,
    ccCommand: compiler?.command ?? [],
    ccVersion: null,
    make: make ?? null,
    perl: perl ?? null,
    headersChecked: false,
    hasExpatHeaders: false,
    hasOpensslHeaders: false,
    hasZlibHeaders: false,
    freeDiskBytes,
    buildDirFreeBytes,
    buildDir,
    nproc: os.availableParallelism(),
  };
  if (compiler) {
    const probed = await compilerFacts(compiler.command, env, factsCache);
    Object.assign(facts, probed, { headersChecked: true });
  }
  return facts;
}

async function findCompiler(env: NodeJS.ProcessEnv): Promise<{ path: string; command: string[] } | undefined> {
  const cc = env.CC?.trim();
  if (cc) {
    const words = cc.split(/\s+/);
    const found = await which(words[0]!, env);
    return found ? { path: found, command: [found, ...words.slice(1)] } : undefined;
  }
  const found = await firstFound(['cc', 'gcc', 'clang'], env);
  return found ? { path: found, command: [found] } : undefined;
}

async function firstFound(names: string[], env: NodeJS.ProcessEnv): Promise<string | undefined> {
  for (const name of names) {
    const found = await which(name, env);
    if (found) return found;
  }
  return undefined;
}

/** statfs of the nearest existing ancestor (the prefix or build dir may not exist yet). */
async function freeBytes(dir: string): Promise<number | null> {
  try {
    const info = await statfs(await nearestExisting(dir));
    return Number(info.bavail) * Number(info.bsize);
  } catch {
    return null;
  }
}

async function nearestExisting(dir: string): Promise<string> {
  let current = path.resolve(dir);
  for (;;) {
    try {
      await stat(current);
      return current;
    } catch {
      const parent = path.dirname(current);
      if (parent === current) return current;
      current = parent;
    }
  }
}

/**
 * Writes a tiny shell script into a fresh directory under the build dir (or its nearest existing ancestor, which is
 * on the same mount) and runs it: configure scripts and libtool fail in odd ways on a noexec mount.
 */
export async function probeExec(dir: string): Promise<ExecProbeResult> {
  const base = await nearestExisting(dir);
  let scratch: string;
  try {
    scratch = await mkdtemp(path.join(base, '.wsgi-httpd-exec-probe-'));
  } catch (error) {
    return { status: 'not-writable', detail: `cannot create files in ${base}: ${(error as Error).message}` };
  }
  try {
    const script = path.join(scratch, 'probe.sh');
    await writeFile(script, '#!/bin/sh\necho wsgi-httpd-exec-ok\n');
    await chmod(script, 0o755);
    try {
      const result = await run([script], { signal: AbortSignal.timeout(30_000) });
      if (result.code === 0 && result.stdout.includes('wsgi-httpd-exec-ok')) return { status: 'ok' };
      return { status: 'noexec', detail: `a script written to ${base} did not run (exit ${result.code ?? result.signal})` };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      return { status: 'noexec', detail: `a script written to ${base} cannot be executed (${code}): mounted noexec?` };
    }
  } finally {
    await rm(scratch, { recursive: true, force: true }).catch(() => undefined);
  }
}

// --- checks (pure) ----------------------------------------------------------------------------------------------

export function toolChecks(facts: ToolFacts, env: NodeJS.ProcessEnv = {}): Check[] {
  const checks: Check[] = [];
  const givenCc = env.CC?.trim();
  checks.push(
    facts.cc
      ? {
          id: 'cc',
          title: 'C compiler',
          status: 'ok',
          detail: `${facts.ccCommand.join(' ') || facts.cc}${facts.ccVersion ? ` (${facts.ccVersion})` : ''}`,
        }
      : {
          id: 'cc',
          title: 'C compiler',
          status: 'fail',
          detail: givenCc ? `CC=${givenCc} is not an executable on PATH` : 'no C compiler (cc, gcc or clang) on PATH',
          fix: fixes.compiler,
          ...(givenCc ? { hint: `fix or unset CC (CC=${givenCc})` } : {}),
        },
  );
  checks.push(
    facts.make
      ? { id: 'make', title: 'make', status: 'ok', detail: facts.make }
      : {
          id: 'make',
          title: 'make',
          status: 'fail',
          detail: env.MAKE ? `MAKE=${env.MAKE} is not an executable on PATH` : 'no make (or gmake) on PATH',
          fix: fixes.compiler,
        },
  );
  checks.push(
    facts.perl
      ? { id: 'perl', title: 'perl', status: 'ok', detail: facts.perl }
      : {
          id: 'perl',
          title: 'perl',
          status: 'fail',
          detail: 'no perl on PATH (httpd installs apxs, a perl script that mod_wsgi is built with)',
          fix: fixes.perl,
        },
  );
  return checks;
}

/**
 * As root, verify (and serve) run httpd's children as an unprivileged account, which must reach the Python: the error a
 * build stops with, before anything is downloaded, when it cannot.
 */
function serverAccountError(python: PythonInfo, home: { blockedAt?: string }): PrerequisiteError {
  return new PrerequisiteError(
    `the build runs as root, and verify starts httpd whose children run as an unprivileged account, which cannot read the Python at ${python.prefix} (${home.blockedAt ?? 'a directory on the way'} is not readable by others)`,
    `build with --no-verify, use a Python under /usr, /usr/local or /opt, or make ${home.blockedAt ?? 'its directories'} readable by others (chmod o+rx)`,
  );
}

/**
 * The Python checks: found, headers, shared libpython, readable by the server account (a failure as root when the
 * build verifies: httpd's children could not load it), and (when the prefix is a virtualenv) that it is the prefix's
 * own Python.
 */
export function pythonChecks(
  python: PythonInfo | Error | undefined,
  prefixVenv?: { dir: string; realPrefix: string },
  server: { asRoot: boolean; verify: boolean } = { asRoot: false, verify: true },
): Check[] {
  if (!python || python instanceof Error) {
    const detail = python ? python.message : 'no Python was detected';
    // A bad --python / WSGI_HTTPD_PYTHON / venv is fixed by its hint; a missing Python by installing one.
    const usage = python !== undefined && isToolchainError(python) && python.exitCode === ExitCode.usage;
    return [
      {
        id: 'python',
        title: 'Python',
        status: 'fail',
        detail,
        ...(usage ? {} : { fix: fixes.python }),
        ...(usage && isToolchainError(python) ? { hint: python.hint } : {}),
      },
    ];
  }
  const mm = python.majorMinor ?? /^(\d+\.\d+)/.exec(python.version)?.[1] ?? '3';
  const checks: Check[] = [
    {
      id: 'python',
      title: 'Python',
      status: 'ok',
      detail: `Python ${python.version} at ${python.executable} (found by ${python.foundBy}${python.isVirtualenv ? `; virtualenv of ${python.basePrefix}` : ''})`,
    },
  ];
  const problems = pythonProblems(python);
  const problem = (id: string) => problems.find((p) => p.id === id);

  const impl = problem('python-implementation');
  if (impl) checks.push({ id: impl.id, title: 'Python implementation', status: 'fail', detail: impl.message, hint: impl.hint });

  const headers = problem('python-headers');
  checks.push(
    headers
      ? { id: 'python-headers', title: 'Python headers', status: 'fail', detail: headers.message, fix: pythonFix(mm), hint: headers.hint }
      : { id: 'python-headers', title: 'Python headers', status: 'ok', detail: path.join(python.includeDir, 'Python.h') },
  );

  const shared = problem('python-shared');
  checks.push(
    shared
      ? { id: 'python-shared', title: 'Shared libpython', status: 'fail', detail: shared.message, hint: shared.hint }
      : {
          id: 'python-shared',
          title: 'Shared libpython',
          status: 'ok',
          detail: python.sharedLibrary ?? (python.framework ? `${python.framework} framework` : path.join(python.libDir, python.ldLibrary)),
        },
  );

  const access = problem('python-home-access');
  const accessTitle = 'Python readable by the server account';
  if (!access) {
    checks.push({ id: 'python-home-access', title: accessTitle, status: 'ok', detail: `${python.basePrefix} is readable by other users` });
  } else if (server.asRoot && server.verify && python.homeAccess) {
    const error = serverAccountError(python, python.homeAccess);
    checks.push({ id: 'python-home-access', title: accessTitle, status: 'fail', detail: error.message, hint: error.hint, error });
  } else {
    checks.push({ id: 'python-home-access', title: accessTitle, status: 'warn', detail: access.message, hint: access.hint });
  }

  if (prefixVenv) {
    const same = prefixVenv.realPrefix === python.prefix || path.resolve(prefixVenv.dir) === python.prefix;
    checks.push(
      same
        ? { id: 'python-prefix', title: 'Prefix virtualenv', status: 'ok', detail: `the prefix is this Python's virtualenv` }
        : {
            id: 'python-prefix',
            title: 'Prefix virtualenv',
            status: 'warn',
            detail: `the prefix ${prefixVenv.dir} is a virtualenv, but mod_wsgi would be built for ${python.executable} (sys.prefix ${python.prefix}), found by ${python.foundBy}`,
            hint: `drop ${python.foundBy === '--python' ? '--python' : python.foundBy} to use the virtualenv's own Python, or choose another prefix`,
          },
    );
  }
  return checks;
}

export function headerChecks(facts: ToolFacts, needExpat: 'auto' | 'build', wantSsl: 'auto' | 'yes' | 'no'): Check[] {
  const unchecked = 'not checked: no C compiler';
  const checks: Check[] = [];

  if (needExpat === 'build') {
    checks.push({ id: 'expat', title: 'expat headers', status: 'ok', detail: 'expat will be built from source (requested)' });
  } else if (facts.hasExpatHeaders) {
    checks.push({ id: 'expat', title: 'expat headers', status: 'ok', detail: 'expat.h found; using the system expat' });
  } else {
    checks.push({
      id: 'expat',
      title: 'expat headers',
      status: 'warn',
      // Unchecked, nothing is claimed: a lock decides what is built, and the build needs the compiler anyway.
      detail: facts.headersChecked ? 'expat.h not found: expat will be built from source' : `${unchecked} to look for expat.h`,
      fix: fixes.expat,
    });
  }

  if (wantSsl === 'no') {
    checks.push({ id: 'openssl', title: 'OpenSSL headers', status: 'ok', detail: 'mod_ssl not requested' });
  } else if (facts.hasOpensslHeaders) {
    checks.push({
      id: 'openssl',
      title: 'OpenSSL headers',
      status: 'ok',
      detail: `openssl/ssl.h found${facts.opensslVersion ? ` (${facts.opensslVersion})` : ''}; mod_ssl will be built`,
    });
  } else {
    checks.push({
      id: 'openssl',
      title: 'OpenSSL headers',
      status: wantSsl === 'yes' && facts.headersChecked ? 'fail' : 'warn',
      detail: !facts.headersChecked
        ? `${unchecked} to look for openssl/ssl.h`
        : wantSsl === 'yes'
          ? 'openssl/ssl.h not found, but mod_ssl was requested'
          : 'openssl/ssl.h not found: mod_ssl will not be built',
      fix: fixes.openssl,
    });
  }

  checks.push(
    facts.hasZlibHeaders
      ? { id: 'zlib', title: 'zlib headers', status: 'ok', detail: 'zlib.h found; mod_deflate will be built' }
      : {
          id: 'zlib',
          title: 'zlib headers',
          status: 'warn',
          detail: facts.headersChecked ? 'zlib.h not found: mod_deflate will not be built' : `${unchecked} to look for zlib.h`,
          fix: fixes.zlib,
        },
  );
  return checks;
}

export function diskCheck(id: string, title: string, dir: string, bytes: number | null): Check {
  if (bytes === null) return { id, title, status: 'warn', detail: `could not read the free space of ${dir}` };
  const detail = `${formatBytes(bytes)} free for ${dir}`;
  if (bytes >= MIN_FREE_BYTES) return { id, title, status: 'ok', detail };
  return {
    id,
    title,
    status: 'fail',
    detail: `${detail}; the build needs at least ${formatBytes(MIN_FREE_BYTES)}`,
    hint:
      id === 'disk-build'
        ? 'free some space, or point WSGI_HTTPD_BUILD_DIR (or --cache-dir, whose build/ it is by default) at a filesystem with at least 1 GiB free'
        : 'free some space there, or choose a prefix on a filesystem with at least 1 GiB free',
  };
}

export function execCheck(dir: string, probe: ExecProbeResult): Check {
  const title = 'Build dir executable';
  if (probe.status === 'ok') return { id: 'build-exec', title, status: 'ok', detail: `scripts can run in ${dir}` };
  return {
    id: 'build-exec',
    title,
    status: 'fail',
    detail: probe.detail,
    hint:
      probe.status === 'noexec'
        ? `${dir} is on a filesystem mounted noexec, where configure and libtool cannot run their scripts: set ` +
          'WSGI_HTTPD_BUILD_DIR to a directory on a filesystem where programs may run (e.g. WSGI_HTTPD_BUILD_DIR=/var/tmp/wsgi-build)'
        : 'set WSGI_HTTPD_BUILD_DIR to a directory you can write to',
  };
}

async function venvOfPrefix(prefix: string): Promise<{ dir: string; realPrefix: string } | undefined> {
  try {
    if (!(await stat(path.join(prefix, 'pyvenv.cfg'))).isFile()) return undefined;
  } catch {
    return undefined;
  }
  return { dir: prefix, realPrefix: await realpath(prefix).catch(() => prefix) };
}

export { formatBytes };

// --- output -----------------------------------------------------------------------------------------------------

/** A plain-text table: one line per check (status, title, detail), then any fix and hint indented under it. */
export function formatDoctor(checks: Check[]): string {
  const label = { ok: 'ok', warn: 'WARN', fail: 'FAIL' } as const;
  const titleWidth = Math.max(0, ...checks.map((check) => check.title.length));
  const indent = ' '.repeat(6 + titleWidth + 2);
  const lines: string[] = [];
  for (const check of checks) {
    lines.push(`${label[check.status].padEnd(6)}${check.title.padEnd(titleWidth)}  ${check.detail}`);
    if (check.status === 'ok') continue;
    if (check.fix) {
      lines.push(`${indent}Debian/Ubuntu: ${check.fix.debian}`);
      lines.push(`${indent}RHEL/Fedora:   ${check.fix.rhel}`);
      lines.push(`${indent}macOS:         ${check.fix.macos}`);
    }
    if (check.hint) lines.push(`${indent}hint: ${check.hint}`);
  }
  return `${lines.join('\n')}\n`;
}

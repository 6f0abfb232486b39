/**
 * Layer keys, Merkle-style: a layer's key hashes its own inputs (version, the sha256 of its sources and patches, the
 * configure arguments as the recipe gives them, with placeholders unexpanded, the compiler, the platform and its
 * libc) and the keys of the layers it is built against. Only a component whose build uses the Python (a `{python}`
 * placeholder in its recipe) gets the Python's identity in its key: what the binary depends on, never the virtualenv
 * or the name the interpreter was called by. So every venv of one Python shares every layer, and a second Python
 * shares all but mod_wsgi's.
 */
import { accessSync, closeSync, constants, openSync, readSync, realpathSync } from 'node:fs';
import { dirname } from 'node:path';
import type { PythonInfo } from '../python/types.js';
import type { LockedComponent } from '../resolve/lock.js';
import { hashOf } from '../util/hash-of.js';

export const keyFormat = 1;

/** What a build of mod_wsgi depends on in the interpreter: the same identity means the same binary. */
export interface PythonIdentity {
  implementation: string;
  version: string;
  abiFlags: string;
  soabi: string;
  enableShared: boolean;
  /** The libpython the module links (its soname), and the directory it resolves from; null for a static Python. */
  libpython: string | null;
  libDir: string | null;
}

export function pythonIdentity(info: PythonInfo): PythonIdentity {
  const shared = info.sharedLibrary ?? null;
  let libDir: string | null = null;
  if (shared) {
    try {
      libDir = dirname(realpathSync(shared));
    } catch {
      libDir = dirname(shared);
    }
  }
  return {
    implementation: info.implementation ?? 'cpython',
    version: info.version,
    abiFlags: info.abiFlags ?? '',
    soabi: info.abi,
    enableShared: info.enableShared,
    libpython: info.enableShared ? (info.instSoName ?? info.ldLibrary ?? null) : null,
    libDir,
  };
}

export function describePythonIdentity(p: PythonIdentity): string {
  return `${p.implementation} ${p.version}${p.abiFlags ? ` (abiflags ${p.abiFlags})` : ''}, ${p.soabi}, ${p.enableShared ? `shared ${p.libpython} in ${p.libDir}` : 'static libpython'}`;
}

/** Machine facts every layer's key holds. */
export interface BuildPlatform {
  /** "linux-x64" */
  platform: string;
  /** The libc family: "glibc", "musl" or "none". Its version is not in the key: a layer built against glibc 2.36 runs
   * with any newer glibc, so the version the layer needs is recorded beside it (LayerRecord.runsOn) and checked where
   * it is installed from a registry. */
  libc: string;
  compiler: { cc: string; version: string };
  /** The shell configure and libtool run in (CONFIG_SHELL), when not the one configure picks itself: it is written
   * into the layer (libtool's #! line, SHELL in config_vars.mk). */
  shell?: string;
  /** The compiler and linker flags every component is built with (see buildFlags). */
  flags?: Record<string, string>;
}

/** The flags a build takes from the environment into every configure (a recipe's own env still wins for its layer). */
const environmentFlags = ['CFLAGS', 'CPPFLAGS', 'LDFLAGS', 'LIBS'] as const;

/**
 * CFLAGS and the other flags configure reads, as a build uses them: the environment's where set; otherwise CFLAGS is
 * `-O2`, without autoconf's default `-g` (debug info is three fifths of the stack's binary bytes and a sixth of its
 * compile time), or `-g -O2` with --debug-symbols. They are in every layer key: other flags make other layers.
 */
export function buildFlags(env: NodeJS.ProcessEnv, debugSymbols: boolean): Record<string, string> {
  const flags: Record<string, string> = { CFLAGS: debugSymbols ? '-g -O2' : '-O2' };
  for (const name of environmentFlags) {
    const value = env[name]?.trim();
    if (value) flags[name] = value;
  }
  return flags;
}

/**
 * The shell for configure and libtool: the caller's CONFIG_SHELL, else dash where there is one. Autoconf's configure
 * re-executes itself in bash when it finds one; dash forks and starts faster, which on a machine where a build spends
 * half its time in the kernel makes httpd's configure 40% and its `make install` 27% faster (measured here).
 */
export function configureShell(env: NodeJS.ProcessEnv): string | undefined {
  const given = env.CONFIG_SHELL?.trim();
  if (given) return given;
  try {
    accessSync('/bin/dash', constants.X_OK);
    return '/bin/dash';
  } catch {
    return undefined;
  }
}

/** The glibc version this process runs with ("2.36"), or undefined on another libc. */
export function hostGlibc(): string | undefined {
  // A diagnostic report is the one place Node names the glibc it runs with; it takes 10-30 ms to make, so once, and
  // without its network part.
  if (!glibcRuntime) {
    if (process.report) (process.report as { excludeNetwork?: boolean }).excludeNetwork = true;
    glibcRuntime = {
      version: (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime,
    };
  }
  return glibcRuntime.version;
}

let glibcRuntime: { version: string | undefined } | undefined;

/**
 * The libc family (part of every layer key). On Linux it is read from the program interpreter node runs with (its ELF
 * PT_INTERP path, in the binary's first page: ld-linux is glibc's, ld-musl musl's), which costs no report.
 */
export function hostLibc(): string {
  const family = process.platform === 'linux' ? interpreterFamily() : undefined;
  if (family) return family;
  return hostGlibc() ? 'glibc' : process.platform === 'linux' ? 'musl' : 'none';
}

function interpreterFamily(): 'glibc' | 'musl' | undefined {
  let fd: number | undefined;
  try {
    fd = openSync('/proc/self/exe', 'r');
    const head = Buffer.alloc(4096);
    const text = head.subarray(0, readSync(fd, head, 0, head.length, 0)).toString('latin1');
    const interpreter = /\/[\x21-\x7e]*\/ld-(linux|musl)[\x21-\x7e]*\0/.exec(text)?.[1];
    return interpreter === 'linux' ? 'glibc' : interpreter === 'musl' ? 'musl' : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Where a layer runs: what a registry's copy must match here (glibc: the oldest it needs, at most ours). */
export interface RunsOn {
  os: string;
  arch: string;
  libc: string;
  glibc?: string;
}

export function hostRunsOn(): RunsOn {
  const glibc = hostGlibc();
  return { os: process.platform, arch: process.arch, libc: hostLibc(), ...(glibc ? { glibc } : {}) };
}

/** Why a layer for `needs` cannot run on `here` (undefined: it can). */
export function platformMismatch(needs: RunsOn, here: RunsOn): string | undefined {
  if (needs.os !== here.os || needs.arch !== here.arch) return `it is for ${needs.os}-${needs.arch}, this machine is ${here.os}-${here.arch}`;
  if (needs.libc !== here.libc) return `it is for ${needs.libc}, this machine has ${here.libc}`;
  if (needs.glibc && here.glibc && compareDotted(needs.glibc, here.glibc) > 0) return `it needs glibc ${needs.glibc}, this machine has ${here.glibc}`;
  return undefined;
}

/** Orders "2.36" < "2.41" < "2.100". */
export function compareDotted(a: string, b: string): number {
  const [x, y] = [a, b].map((v) => v.split('.').map(Number));
  for (let i = 0; i < Math.max(x!.length, y!.length); i++) if ((x![i] ?? 0) !== (y![i] ?? 0)) return (x![i] ?? 0) - (y![i] ?? 0);
  return 0;
}

/** Does the component's build use the Python (the recipe passes `{python}` to its build)? */
export function usesPython(c: LockedComponent): boolean {
  const mentions = (s: string) => s.includes('{python}');
  return c.configureArgs.some(mentions) || Object.values(c.env).some(mentions) || c.makeTargets.some(mentions) || c.installTargets.some(mentions);
}

export interface LayerInputs {
  format: number;
  component: string;
  version: string;
  sources: string[];
  patches: string[];
  configure: string;
  configureArgs: string[];
  env: Record<string, string>;
  makeTargets: string[];
  installTargets: string[];
  pythonPackage: unknown;
  platform: string;
  libc: string;
  compiler: { cc: string; version: string };
  shell: string | null;
  flags: Record<string, string>;
  python: PythonIdentity | null;
  /** Against an existing Apache (--httpd system): its apxs and version stand in for the httpd layers. */
  systemApache: { apxs: string; version: string } | null;
  /** Keys of the layers this one is built against, by component. */
  dependencies: Record<string, string>;
}

export function layerInputs(
  c: LockedComponent,
  machine: BuildPlatform,
  dependencies: Record<string, string>,
  python: PythonIdentity | undefined,
  systemApache?: { apxs: string; version: string },
): LayerInputs {
  return {
    format: keyFormat,
    component: c.name,
    version: c.version,
    // Any artifact of a version is the same release; the first one's sha256 names it.
    sources: c.artifacts.map((a) => a.sha256),
    patches: c.patches.map((p) => p.sha256),
    configure: c.configure,
    configureArgs: c.configureArgs,
    env: c.env,
    makeTargets: c.makeTargets,
    installTargets: c.installTargets,
    pythonPackage: c.pythonPackage ?? null,
    platform: machine.platform,
    libc: machine.libc,
    compiler: machine.compiler,
    shell: machine.shell ?? null,
    flags: machine.flags ?? {},
    python: usesPython(c) ? (python ?? null) : null,
    systemApache: systemApache && usesApxsOfSystem(c) ? systemApache : null,
    dependencies,
  };
}

function usesApxsOfSystem(c: LockedComponent): boolean {
  return c.configureArgs.some((a) => a.includes('{apxs}'));
}

export const layerKey = (inputs: LayerInputs): string => hashOf(inputs);

/** A stack is its ordered layer keys, plus what is left out of the layers when installed. */
export function stackKey(layerKeys: string[], install: { leftOut: string[] }): string {
  return hashOf({ format: keyFormat, layers: layerKeys, leftOut: install.leftOut });
}

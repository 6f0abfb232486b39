import { access, lstat, readdir, readFile, realpath } from 'node:fs/promises';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { NotBuiltError } from '../errors.js';
import { prefixLayout, type PrefixLayout } from '../pipeline/plan.js';
import type { ComponentName } from '../recipe/types.js';
import { serializeLock, type Features, type LockedPython } from '../resolve/lock.js';
import { inspectPrefix, type Manifest } from './prefix.js';
import { checkPrefixTrust } from './prefix-trust.js';
import { pathExists } from '../util/fs.js';
import { layoutFromApxs } from '../verify/apache-layout.js';

/** Where the pieces of the live build of a prefix are (what `locate()` returns). Paths go through `<prefix>/httpd`,
 * so they stay valid across rebuilds; `root` is the real stack directory the binaries were built for. With
 * `--httpd system` the Apache is the system's: httpd, apxs, apachectl and modulesDir are its own (as its apxs reports
 * them), and only modWsgi is in the prefix. */
export interface Located {
  prefix: string;
  /** The live stack directory, `<prefix>/.wsgi-httpd/stacks/<id>` (what `apxs -q PREFIX` prints). */
  root: string;
  /** `<prefix>/httpd`, the symlink to `root`. */
  link: string;
  httpd: string;
  apxs: string;
  apachectl: string;
  modWsgi: string;
  /** Apache's modules directory (`apxs -q LIBEXECDIR`). */
  modulesDir: string;
  python: LockedPython;
  versions: Partial<Record<ComponentName, string>>;
  lockFile: string;
  logFile: string;
  stackId: string;
  /** When the build was activated (ISO 8601). */
  builtAt: string;
}

export interface PrefixInfo extends Located {
  /** "wsgi-httpd 0.1.0": the tool version that made the build. */
  tool: string;
  key: string;
  platform: string;
  compiler: { cc: string; version: string };
  features: Features;
  httpdMode: 'source' | 'system';
  components: { name: ComponentName; version: string; sha256: string; configureArgs: string[]; patches: string[]; seconds?: number }[];
  /** Bytes on disk under the stack directory, in total and per top-level directory (bin, lib, modules, ...). */
  size: { total: number; dirs: Record<string, number> };
  /** Whether `<prefix>/wsgi-toolchain.lock.json` is the one written with this build (false: edited or replaced). */
  lockFileMatches: boolean;
}

/** The manifest of the live build, or NotBuiltError (exit 2) saying what is missing and what to run. */
export async function readLiveBuild(prefixArg: string): Promise<{ prefix: string; layout: PrefixLayout; manifest: Manifest }> {
  const prefix = resolvePath(prefixArg);
  if (!(await pathExists(prefix))) throw new NotBuiltError(prefix, `${prefix} does not exist, so it holds no wsgi-toolchain build`);
  const state = await inspectPrefix(prefix);
  if (!state.liveStackId) throw new NotBuiltError(prefix);
  const layout = prefixLayout(prefix, state.liveStackId);
  if (!state.liveManifest) {
    throw new NotBuiltError(
      prefix,
      `${layout.link} points at ${layout.root}, which has no readable manifest (.wsgi-toolchain-manifest.json)`,
      `rebuild it: wsgi-toolchain build --prefix ${prefix} --force`,
    );
  }
  return { prefix, layout, manifest: state.liveManifest };
}

/** Paths, versions and Python of the live build in `prefix`; checks that the files it names are really there. */
export async function locateIn(prefixArg: string): Promise<Located> {
  const { prefix, layout, manifest } = await readLiveBuild(prefixArg);
  const { lock } = manifest;
  const bin = (name: string) => join(layout.link, 'bin', name);
  const apache = lock.systemApache
    ? await systemApache(prefix, lock.systemApache)
    : { httpd: bin('httpd'), apxs: bin('apxs'), apachectl: bin('apachectl'), modulesDir: join(layout.link, 'modules') };
  const located: Located = {
    prefix,
    root: layout.root,
    link: layout.link,
    ...apache,
    modWsgi: join(layout.link, 'modules', 'mod_wsgi.so'),
    python: { executable: lock.python.executable, version: lock.python.version, abi: lock.python.abi },
    versions: Object.fromEntries(lock.components.map((c) => [c.name, c.version])),
    lockFile: layout.lockFile,
    logFile: join(layout.logsDir, 'build.log'),
    stackId: layout.stackId,
    builtAt: manifest.createdAt,
  };
  const required = lock.systemApache ? [located.modWsgi] : [located.httpd, located.apxs, located.modWsgi];
  for (const file of required) {
    try {
      await access(file);
    } catch {
      throw new NotBuiltError(
        prefix,
        `the build in ${prefix} is incomplete: ${file} is missing`,
        `rebuild it: wsgi-toolchain build --prefix ${prefix} --force`,
      );
    }
  }
  const builtFor = await configuredPrefix(join(layout.root, 'build', 'config_vars.mk'));
  if (builtFor && (await realpath(builtFor).catch(() => builtFor)) !== (await realpath(layout.root))) {
    throw new NotBuiltError(
      prefix,
      `the build in ${prefix} was made for ${builtFor} and has been moved or copied since (its binaries still look there)`,
      `rebuild it in place: wsgi-toolchain build --prefix ${prefix} --force`,
    );
  }
  return located;
}

/** The system Apache a `--httpd system` build runs on, as its apxs describes it now. */
async function systemApache(
  prefix: string,
  recorded: { apxs: string; httpd: string },
): Promise<{ httpd: string; apxs: string; apachectl: string; modulesDir: string }> {
  try {
    const layout = await layoutFromApxs(recorded.apxs);
    return {
      httpd: layout.httpd,
      apxs: recorded.apxs,
      apachectl: layout.apachectl ?? join(dirname(layout.httpd), 'apachectl'),
      modulesDir: layout.modulesDir,
    };
  } catch (error) {
    throw new NotBuiltError(
      prefix,
      `the build in ${prefix} runs on the system Apache (${recorded.httpd}), which is gone or broken: ${(error as Error).message}`,
      `reinstall it (Debian/Ubuntu: apt-get install apache2 apache2-dev; RHEL/Fedora: dnf install httpd httpd-devel), or rebuild: wsgi-toolchain build --prefix ${prefix} --force`,
    );
  }
}

/** The `prefix = ...` that httpd's build/config_vars.mk records (the directory `apxs -q PREFIX` reports). */
async function configuredPrefix(file: string): Promise<string | undefined> {
  try {
    return /^prefix\s*=\s*(\S.*?)\s*$/m.exec(await readFile(file, 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

/** Bytes of every file and link under `path` (not following links), like `du --apparent-size`. */
export async function treeSize(path: string): Promise<number> {
  let stat;
  try {
    stat = await lstat(path);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.size;
  let total = 0;
  for (const name of await readdir(path)) total += await treeSize(join(path, name));
  return total;
}

/** Whether the lock file in the prefix is byte for byte the one this build wrote. */
export async function lockFileIsOurs(lockFile: string, manifest: Manifest): Promise<boolean> {
  try {
    return (await readFile(lockFile, 'utf8')) === serializeLock(manifest.lock);
  } catch {
    return false;
  }
}

/** Everything `wsgi-toolchain info` shows. */
export async function describePrefix(prefixArg: string): Promise<PrefixInfo> {
  await checkPrefixTrust(resolvePath(prefixArg)); // before anything the prefix names is read or run
  const located = await locateIn(prefixArg);
  const { manifest } = await readLiveBuild(located.prefix);
  const { lock } = manifest;
  const dirs: Record<string, number> = {};
  for (const entry of (await readdir(located.root)).sort()) dirs[entry] = await treeSize(join(located.root, entry));
  return {
    ...located,
    tool: manifest.tool,
    key: manifest.key,
    platform: lock.platform,
    compiler: lock.compiler,
    features: lock.features,
    httpdMode: lock.httpdMode,
    components: lock.components.map((c) => ({
      name: c.name,
      version: c.version,
      sha256: c.artifacts[0]?.sha256 ?? '',
      configureArgs: c.configureArgs,
      patches: c.patches.map((p) => p.file),
      ...(manifest.timings[c.name] !== undefined ? { seconds: manifest.timings[c.name] } : {}),
    })),
    size: { total: Object.values(dirs).reduce((a, b) => a + b, 0), dirs },
    lockFileMatches: await lockFileIsOurs(located.lockFile, manifest),
  };
}

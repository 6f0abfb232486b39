/**
 * The preflight stage: every failure that can be known before the first download or compile, found in milliseconds
 * instead of after minutes of compiling. Each check is a small function; a failing one becomes a blocker with its own
 * typed error (and exit code). `--dry-run` reports them too. (The machine's checks, a Python the server account cannot
 * read as root among them, are doctor's: prepare runs it first.)
 */
import { constants } from 'node:fs';
import { access, lstat, readFile, stat, statfs } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { type Check, formatBytes, MIN_FREE_BYTES, type ToolFacts } from '../doctor/doctor.js';
import { fromSystemError, type ToolchainError, UsageError } from '../errors.js';
import type { MissingFile } from '../fetch/acquire.js';
import { foreignLockFile, type PrefixState } from '../install/prefix.js';
import { checkPrefixTrust } from '../install/prefix-trust.js';
import { foreignInstallation, packagePython } from '../python-package/install.js';
import { parseLauncher } from '../python-package/launcher.js';
import type { PythonInfo } from '../python/types.js';
import { availableVersions } from './available-sources.js';
import type { BuildOptions } from './options.js';
import { type Plan, placeholderLength } from './plan.js';
import { pythonPackageTarget } from './python-package.js';

export interface PreflightInput {
  plan: Plan;
  options: BuildOptions;
  python: PythonInfo;
  state: PrefixState;
  stored: ReadonlySet<string>;
  facts: ToolFacts;
  sourceIndex: () => Promise<Map<string, string> | undefined>;
}

function blocker(id: string, title: string, error: ToolchainError): Check {
  return { id, title, status: 'fail', detail: error.message, hint: error.hint, error };
}

/** Characters Apache's config syntax, apachectl or apxs cannot carry in a path. */
const unsafeCharacters: [RegExp, string][] = [
  [/ /, 'a space'],
  [/\t/, 'a tab'],
  [/[\n\r]/, 'a line break'],
  [/"/, 'a double quote'],
  [/'/, 'a single quote'],
  [/\\/, 'a backslash'],
  [/\$/, 'a dollar sign'],
  [/`/, 'a backquote'],
  [/%/, 'a percent sign'],
];

export function prefixCharacterProblem(prefix: string): string | undefined {
  return unsafeCharacters.find(([re]) => re.test(prefix))?.[1];
}

async function prefixPath(plan: Plan): Promise<Check | undefined> {
  const { prefix, root } = plan.layout;
  const character = prefixCharacterProblem(prefix);
  if (character) {
    return blocker(
      'prefix-characters',
      'Prefix path',
      new UsageError(
        `the prefix ${JSON.stringify(prefix)} contains ${character}, which Apache's configuration, apachectl and apxs cannot carry`,
        'choose a --prefix path of letters, digits and - _ . / + , @ : only',
      ),
    );
  }
  const room = placeholderLength - (Buffer.byteLength(root) - Buffer.byteLength(prefix));
  if (Buffer.byteLength(root) > placeholderLength) {
    return blocker(
      'prefix-length',
      'Prefix path',
      new UsageError(
        `the prefix ${prefix} is ${Buffer.byteLength(prefix)} bytes long; binaries are built for a ${placeholderLength}-byte path and patched in place, so the prefix can be at most ${room} bytes`,
        `choose a --prefix of at most ${room} bytes (a symlink to a longer path works: the tool resolves nothing through it)`,
      ),
    );
  }
  // The nearest existing directory on the way must be a directory we can write to.
  let dir = prefix;
  for (;;) {
    // Through symlinks: a prefix (or a directory on the way) may well be a link to a directory elsewhere.
    const st = await stat(dir).catch((error: NodeJS.ErrnoException) => error);
    if (!(st instanceof Error)) {
      if (!st.isDirectory()) {
        const what = dir === prefix ? `the prefix ${prefix}` : `${dir}, on the way to the prefix ${prefix},`;
        return blocker(
          'prefix-writable',
          'Prefix path',
          new UsageError(
            `${what} is ${st.isSymbolicLink() ? 'a symbolic link' : 'a file'}, not a directory`,
            'choose another --prefix, or move that file away',
          ),
        );
      }
      try {
        await access(dir, constants.W_OK | constants.X_OK);
      } catch (error) {
        const mapped = fromSystemError(error, dir === prefix ? { path: prefix, action: 'write to' } : { path: prefix, action: 'create' });
        if (mapped) return blocker('prefix-writable', 'Prefix path', mapped);
        throw error;
      }
      return undefined;
    }
    // ENOTDIR: a file stands somewhere above; going up finds it and names it.
    if (st.code !== 'ENOENT' && st.code !== 'ENOTDIR') {
      const mapped = fromSystemError(st, { path: prefix, action: 'create' });
      if (mapped) return blocker('prefix-writable', 'Prefix path', mapped);
      throw st;
    }
    if (dirname(dir) === dir) return undefined;
    dir = dirname(dir);
  }
}

/** As root, a prefix another user can change is refused (src/install/prefix-trust.ts): the venv's site-packages too. */
async function prefixTrust(plan: Plan, python: PythonInfo): Promise<Check | undefined> {
  const prefix = plan.layout.prefix;
  const sitePackages = resolve(python.sitePackages);
  try {
    await checkPrefixTrust(prefix, sitePackages.startsWith(`${prefix}/`) ? [sitePackages] : []);
  } catch (error) {
    if (error instanceof UsageError) return blocker('prefix-owner', 'Prefix owner', error);
    throw error;
  }
  return undefined;
}

/** The tool's own directories in the prefix must be real directories, never links it would write or delete through. */
async function ownDirectories(plan: Plan): Promise<Check | undefined> {
  for (const path of [plan.layout.stateDir, plan.layout.stacksDir, plan.layout.logsDir]) {
    const st = await lstat(path).catch(() => undefined);
    if (st && (st.isSymbolicLink() || !st.isDirectory())) {
      return blocker(
        'prefix-own-dirs',
        'Prefix state',
        new UsageError(
          `${path} is ${st.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}, where wsgi-toolchain keeps a directory of its own`,
          'remove or move it away (the tool never writes or deletes through a link it did not make), then build again',
        ),
      );
    }
  }
  const lockFile = await foreignLockFile(plan.layout);
  return lockFile ? blocker('prefix-lock-file', 'Prefix state', lockFile) : undefined;
}

/** The nearest existing directory at or above `dir`, with its stat (through symlinks). */
async function nearestExisting(dir: string): Promise<{ dir: string; dev: number }> {
  for (let current = dir; ; current = dirname(current)) {
    const st = await stat(current).catch(() => undefined);
    if (st) return { dir: current, dev: st.dev };
    if (dirname(current) === current) return { dir: current, dev: -1 };
  }
}

/**
 * Room for the layers this build adds to the store, when the store is on another file system than the build
 * directory (doctor checks the build directory and the prefix; a build directory with room says nothing about a
 * store on a small disk of its own).
 */
async function storeSpace(plan: Plan, facts: ToolFacts, stored: ReadonlySet<string>): Promise<Check | undefined> {
  if (plan.components.every((c) => stored.has(c.name))) return undefined;
  const store = await nearestExisting(plan.cacheDir);
  const build = await nearestExisting(facts.buildDir);
  if (store.dev === build.dev) return undefined;
  const info = await statfs(store.dir).catch(() => undefined);
  if (!info) return undefined;
  const free = Number(info.bavail) * Number(info.bsize);
  if (free >= MIN_FREE_BYTES) return undefined;
  return {
    id: 'disk-store',
    title: 'Free space (store)',
    status: 'fail',
    detail: `${formatBytes(free)} free for the store ${plan.cacheDir}; the build needs at least ${formatBytes(MIN_FREE_BYTES)} there for the layers it adds`,
    hint: 'free some space there, or point WSGI_HTTPD_CACHE_DIR (--cache-dir) at a file system with at least 1 GiB free',
  };
}

/** Files another installer owns where the Python package or launcher would go (replaced only with --force). */
async function foreignFiles(plan: Plan, options: BuildOptions, python: PythonInfo): Promise<Check | undefined> {
  if (options.pythonPackage === false || options.force) return undefined;
  const pkg = plan.lock.components.find((c) => c.pythonPackage)?.pythonPackage;
  if (!pkg) return undefined;
  if (pythonPackageTarget(plan) === 'venv') {
    const foreign = await foreignInstallation(packagePython(python), pkg);
    if (!foreign) return undefined;
    return blocker(
      'python-package-foreign',
      'Python package',
      new UsageError(
        `${foreign} was not installed by wsgi-toolchain, so the ${pkg.distribution} package is not replaced`,
        `remove it first (${python.executable} -m pip uninstall ${pkg.distribution}), pass --force to replace it, or build with --no-python-package`,
      ),
    );
  }
  const text = await readFile(plan.layout.launcher, 'utf8').catch(() => undefined);
  if (text === undefined || parseLauncher(text)) return undefined;
  return blocker(
    'launcher-foreign',
    'mod_wsgi-express launcher',
    new UsageError(
      `${plan.layout.launcher} exists and was not written by wsgi-toolchain`,
      'move it away, or pass --force to replace it (or build with --no-python-package)',
    ),
  );
}

/** Offline: every source to build must be local already; the message lists what --sources holds instead. */
async function offlineSources({ plan, options, stored, sourceIndex: indexSources }: PreflightInput): Promise<Check | undefined> {
  if (!options.offline) return undefined;
  const toBuild = plan.components.filter((c) => !stored.has(c.name));
  if (toBuild.length === 0) return undefined;
  const sourceIndex = await indexSources();
  // Loaded here, not at start-up: it brings the HTTP client, which a no-op never needs.
  const { hasLocalCopy, missingFor, offlineError, sourceOf } = await import('../fetch/acquire.js');
  const missing: MissingFile[] = [];
  for (const c of toBuild) {
    const found = await hasLocalCopy({
      ...sourceOf(c),
      mirrors: options.mirrors,
      sourceIndex,
      cacheDir: plan.cacheDir,
    });
    if (!found) missing.push(missingFor({ ...sourceOf(c), cacheDir: plan.cacheDir }));
  }
  if (missing.length === 0) return undefined;
  const error: ToolchainError = offlineError(missing);
  const held = sourceIndex ? await availableVersions(options.recipesDirs, sourceIndex) : [];
  if (held.length > 0) {
    // Say what the directories do hold, and the flags that build exactly that.
    const flags = held.map((h) => `--${h.component.replace('_', '-')} ${h.versions[0]}`).join(' ');
    error.message = `${error.message}\n(the --sources directories hold ${held.map((h) => `${h.component} ${h.versions.join('/')}`).join(', ')})`;
    Object.assign(error, { hint: `build what is there: ${flags} (or --tested, when that is the tested set), or add the missing files to --sources` });
  }
  return blocker('offline-sources', 'Sources (offline)', error);
}

export async function preflight(input: PreflightInput): Promise<Check[]> {
  const { plan, options, python, stored } = input;
  const found = await Promise.all([
    prefixPath(plan),
    prefixTrust(plan, python),
    ownDirectories(plan),
    storeSpace(plan, input.facts, stored),
    foreignFiles(plan, options, python),
    offlineSources(input),
  ]);
  return found.filter((c): c is Check => c !== undefined);
}

import { readdir, readFile, rm, rmdir, unlink } from 'node:fs/promises';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { NotBuiltError } from '../errors.js';
import { lockFileName } from '../resolve/lock.js';
import { lockFileIsOurs, treeSize } from './info.js';
import { inspectPrefix, type Manifest } from './prefix.js';
import { lockPrefix, realPrefix } from './prefix-lock.js';
import { Store, storeRoot } from '../store/store.js';
import { parseLauncher } from '../python-package/launcher.js';
import { foreignInstallation, packagePython, uninstallFromVirtualenv } from '../python-package/install.js';
import { dropInRoot, uninstallDropIn } from './dropin.js';
import { checkPrefixTrust } from './prefix-trust.js';
import { readPythonInfo } from '../python/detect.js';
import type { PythonInfo } from '../python/types.js';
import { ownDirPresent, pathExists } from '../util/fs.js';

export interface UninstallOptions {
  /** Where the prefix lock lives (the build's cache dir): default WSGI_HTTPD_CACHE_DIR or ~/.cache/wsgi-httpd. */
  cacheDir?: string;
  /** Seconds to wait for a build holding the prefix; 0 fails at once (exit 8). */
  waitSeconds?: number;
  /** Only say what would be removed. */
  dryRun?: boolean;
  env?: NodeJS.ProcessEnv;
}

export interface UninstallResult {
  prefix: string;
  dryRun: boolean;
  /** What was (or, with dryRun, would be) removed, in order. */
  removed: string[];
  /** Files the tool left alone although they look like its own, and why. */
  kept: { path: string; reason: string }[];
  /** Bytes under the removed paths. */
  freedBytes: number;
}

/**
 * Removes exactly what wsgi-toolchain installed in a prefix: the `httpd` link (only when it points into
 * `.wsgi-httpd/stacks`; anything else there makes this refuse, exit 2), the `.wsgi-httpd/` directory, and
 * `wsgi-toolchain.lock.json` only when it is byte for byte the lock of the live build. Nothing else in the prefix is
 * touched, and the prefix directory itself stays. Holds the prefix lock, so it never races a build.
 */
export async function uninstallPrefix(prefixArg: string, opts: UninstallOptions = {}): Promise<UninstallResult> {
  const prefix = resolvePath(prefixArg);
  const env = opts.env ?? process.env;
  const dryRun = opts.dryRun ?? false;
  if (!(await pathExists(prefix)))
    throw new NotBuiltError(prefix, `${prefix} does not exist, so there is nothing to uninstall`, 'check the --prefix you passed');
  // A prefix that never had a build gets no .wsgi-httpd (and no lock) from us: refused before anything is written.
  if (!(await pathExists(join(prefix, 'httpd'))) && !(await pathExists(join(prefix, '.wsgi-httpd'))))
    throw new NotBuiltError(
      prefix,
      `${prefix} holds no wsgi-toolchain build: nothing to uninstall`,
      'check the --prefix you passed; nothing was changed',
    );
  await checkPrefixTrust(prefix);
  // Never through a link planted as the tool's own directories (also for --dry-run, which would list it).
  const stateDirPath = join(prefix, '.wsgi-httpd');
  if (await ownDirPresent(stateDirPath)) for (const sub of ['stacks', 'logs']) await ownDirPresent(join(stateDirPath, sub));
  const release = dryRun ? async () => {} : await lockPrefix(prefix, { what: `uninstall of ${prefix}`, waitMs: (opts.waitSeconds ?? 0) * 1000 });
  let removeStateDir = false;
  try {
    // Read only under the lock: a build finishing right now cannot switch the link between our look and our removal.
    const state = await inspectPrefix(prefix); // refuses (exit 2) an `httpd` entry that is not ours
    const link = join(prefix, 'httpd');
    const stateDir = join(prefix, '.wsgi-httpd');
    const lockFile = join(prefix, lockFileName);
    const hasLink = state.liveStackId !== undefined;
    const hasState = await pathExists(stateDir);
    if (!hasLink && !hasState) {
      throw new NotBuiltError(
        prefix,
        `${prefix} holds no wsgi-toolchain build: nothing to uninstall`,
        'check the --prefix you passed; nothing was changed',
      );
    }
    const removed: string[] = [];
    const kept: UninstallResult['kept'] = [];
    let freedBytes = 0;
    if (hasLink) removed.push(link);
    if (await pathExists(lockFile)) {
      const manifest: Manifest | undefined = state.liveManifest;
      if (manifest && (await lockFileIsOurs(lockFile, manifest))) {
        removed.push(lockFile);
        freedBytes += (await readFile(lockFile)).length;
      } else {
        kept.push({
          path: lockFile,
          reason: manifest
            ? 'it differs from the lock of the installed build (edited or written by someone else)'
            : 'there is no build manifest to compare it with',
        });
      }
    }
    if (hasState) {
      removed.push(stateDir);
      freedBytes += await treeSize(stateDir);
    }
    // The mod_wsgi-express launcher of a non-venv prefix is ours when it runs the package inside our stack.
    const launcher = join(prefix, 'bin', 'mod_wsgi-express');
    const parsed = parseLauncher(await readFile(launcher, 'utf8').catch(() => ''));
    if (parsed && (parsed.pythonPath === link || parsed.pythonPath.startsWith(`${link}/`))) removed.push(launcher);
    // In a virtualenv prefix: the drop-in lists what it created, and the Python package is ours when its .dist-info
    // says so (INSTALLER wsgi-toolchain); one another installer put there (pip install mod_wsgi) stays.
    const python = state.liveManifest?.lock.python.executable;
    const pkg = state.liveManifest?.lock.components.find((c) => c.pythonPackage)?.pythonPackage;
    let venvPython: PythonInfo | undefined;
    let removePackage = false;
    // Only the venv's own interpreter (<prefix>/bin/python…) is run, never another path the manifest names.
    if (python && (await pathExists(join(prefix, 'pyvenv.cfg'))) && dirname(resolvePath(python)) === join(prefix, 'bin')) {
      venvPython = await readPythonInfo(python, 'prefix venv').catch(() => undefined);
      if (venvPython) await checkPrefixTrust(prefix, [venvPython.sitePackages]);
      if (venvPython && (await dropInRoot(prefix))) removed.push(`${prefix} drop-in (bin/mod_wsgi-apxs, mod_wsgi_packages/httpd)`);
      if (venvPython && pkg) {
        const foreign = await foreignInstallation(packagePython(venvPython), pkg);
        if (foreign) kept.push({ path: foreign, reason: `installed by another tool; remove it with ${python} -m pip uninstall ${pkg.distribution}` });
        else if (await pathExists(join(venvPython.sitePackages, pkg.layout.files[0]!.to.split('/')[0]!))) {
          removePackage = true;
          removed.push(`${venvPython.sitePackages} ${pkg.distribution} package and its scripts (installed by wsgi-toolchain)`);
        }
      }
    }
    if (!dryRun) {
      // The link first: from that moment the prefix has no build, even if the rest is interrupted.
      if (hasLink) await unlink(link);
      if (removed.includes(launcher)) await rm(launcher, { force: true });
      if (venvPython) await uninstallDropIn({ venv: prefix, python: venvPython });
      if (venvPython && pkg && removePackage) await uninstallFromVirtualenv(packagePython(venvPython), pkg.distribution);
      if (removed.includes(lockFile)) await rm(lockFile, { force: true });
      // Everything in .wsgi-httpd but the lock we hold; the directory itself once the lock is released.
      if (hasState) for (const name of await readdir(stateDir)) if (name !== 'lock') await rm(join(stateDir, name), { recursive: true, force: true });
      removeStateDir = hasState;
      await new Store(await storeRoot({ cacheDir: opts.cacheDir, env })).forgetUse(await realPrefix(prefix));
    }
    return { prefix, dryRun, removed, kept, freedBytes };
  } finally {
    await release();
    if (removeStateDir) await rmdir(join(prefix, '.wsgi-httpd')).catch(() => undefined);
  }
}

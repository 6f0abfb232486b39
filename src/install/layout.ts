/**
 * The one description of a prefix's layout; every module that reads or writes a prefix goes through it.
 *
 *   <prefix>/httpd                       symlink -> .wsgi-httpd/stacks/<id> (what users and mod_wsgi-express use)
 *   <prefix>/wsgi-toolchain.lock.json    the lock of the live build
 *   <prefix>/bin/mod_wsgi-express        plain prefix: the launcher (a virtualenv has its own console script)
 *   <prefix>/.wsgi-httpd/stacks/<id>/    a stack: the layers relocated here, plus python/ and the manifest
 *   <prefix>/.wsgi-httpd/logs/build.log  the log of the build that made the live stack
 *   <prefix>/.wsgi-httpd/lock            held by the build, pack or uninstall that is working on the prefix
 */
import { join } from 'node:path';

export interface PrefixLayout {
  prefix: string;
  /** <prefix>/.wsgi-httpd: state, stacks, logs. */
  stateDir: string;
  stacksDir: string;
  /** The symlink users use: <prefix>/httpd -> .wsgi-httpd/stacks/<id>. */
  link: string;
  /** The stack directory this build installs into. */
  root: string;
  stackId: string;
  lockFile: string;
  manifestFile: string;
  logsDir: string;
  /** The per-prefix lock (a file created exclusively; see install/prefix-lock.ts). */
  prefixLock: string;
  /** The Python package inside the stack (a plain prefix runs it through PYTHONPATH). */
  packageDir: string;
  /** The launcher of a plain prefix. */
  launcher: string;
}

export const stateDirName = '.wsgi-httpd';
export const linkName = 'httpd';
export const lockFileName = 'wsgi-toolchain.lock.json';
export const stackManifestName = '.wsgi-toolchain-manifest.json';

export function prefixLayout(prefix: string, stackId: string): PrefixLayout {
  const stateDir = join(prefix, stateDirName);
  const stacksDir = join(stateDir, 'stacks');
  const root = join(stacksDir, stackId);
  return {
    prefix,
    stateDir,
    stacksDir,
    link: join(prefix, linkName),
    root,
    stackId,
    lockFile: join(prefix, lockFileName),
    manifestFile: join(root, stackManifestName),
    logsDir: join(stateDir, 'logs'),
    prefixLock: join(stateDir, 'lock'),
    packageDir: join(root, 'python'),
    launcher: join(prefix, 'bin', 'mod_wsgi-express'),
  };
}

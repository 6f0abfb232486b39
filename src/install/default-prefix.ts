import { join, resolve as resolvePath } from 'node:path';
import { packageRoot } from '../recipe/load.js';

/**
 * Where `npm install wsgi-httpd` builds when neither WSGI_HTTPD_PREFIX nor VIRTUAL_ENV is set: a `prefix` directory
 * inside the installed package (`node_modules/wsgi-httpd/prefix`). It belongs to that copy of the package, so
 * `locate()` finds it from any working directory, and removing or reinstalling the package removes or rebuilds it.
 */
export const packagePrefix = join(packageRoot, 'prefix');

/** The prefixes postinstall and `locate()` consider, in order: WSGI_HTTPD_PREFIX, VIRTUAL_ENV, the package's own. */
export function candidatePrefixes(env: NodeJS.ProcessEnv = process.env): string[] {
  const all = [env.WSGI_HTTPD_PREFIX, env.VIRTUAL_ENV, packagePrefix].filter((p): p is string => Boolean(p?.trim()));
  return [...new Set(all.map((p) => resolvePath(p)))];
}

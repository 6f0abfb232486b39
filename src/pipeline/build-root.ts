import { join, resolve as resolvePath } from 'node:path';

/**
 * Where a build unpacks and compiles its sources: `buildRoot` (the API's option), else WSGI_HTTPD_BUILD_DIR, else
 * `<store>/build` (never /tmp, often mounted noexec). One rule for the build and for `doctor`, which checks this very
 * directory. An empty WSGI_HTTPD_BUILD_DIR counts as unset.
 */
export function buildRootFor(storeRoot: string, options: { buildRoot?: string; env: NodeJS.ProcessEnv }): string {
  return resolvePath(options.buildRoot || options.env.WSGI_HTTPD_BUILD_DIR || join(storeRoot, 'build'));
}

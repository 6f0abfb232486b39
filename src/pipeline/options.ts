import type { VersionRequests } from '../resolve/resolve.js';

export interface BuildOptions {
  prefix: string;
  python?: string;
  versions: VersionRequests;
  /** Choose the versions this project's CI builds (each recipe's `tested`) for components not pinned. */
  tested?: boolean;
  lockFile?: string;
  recipesDirs: string[];
  mirrors: string[];
  sourcesDirs: string[];
  offline: boolean;
  jobs?: number;
  ssl: 'auto' | 'yes' | 'no';
  expat: 'auto' | 'build' | 'system';
  httpd?: 'source' | 'system';
  /** With httpd 'system': the system Apache's apxs (default: apxs, then apxs2, on PATH). */
  apxs?: string;
  verify: boolean;
  force: boolean;
  keepBuildDir: boolean;
  /** Seconds to wait for another build holding the prefix; 0 fails at once. */
  waitSeconds: number;
  cacheDir?: string;
  buildRoot?: string;
  ccLauncher?: string;
  ui: 'auto' | 'plain' | 'silent';
  /** Stream every build command's output (it always goes to the log). */
  verbose?: boolean;
  /** Registries to look layers up in before compiling them (--cache-from, WSGI_HTTPD_CACHE_FROM), in order. */
  cacheFrom?: string[];
  /** Registry reference the finished stack is pushed to (--cache-to, WSGI_HTTPD_CACHE_TO). */
  cacheTo?: string;
  /** Allow plain HTTP (and skip TLS verification) for a registry that is not on loopback. */
  insecureRegistry?: boolean;
  /** Keep the documentation the recipes list (`docs`: the httpd manual, icons, man pages) in the stack. */
  withManual?: boolean;
  /** Build with `-g -O2` (debug info kept) instead of `-O2`, where the environment sets no CFLAGS. */
  debugSymbols?: boolean;
  /** Check the OpenPGP signatures of the components that have pinned signing keys (recipes/keys/). */
  verifySignatures?: boolean;
  /** Install the build in this archive (`wsgi-toolchain pack`) instead of building: its lock, its tree, no compiler. */
  fromArchive?: string;
  /** Also install the mod_wsgi Python package (mod_wsgi-express, runmodwsgi) for the Python; default true. */
  pythonPackage?: boolean;
  env: NodeJS.ProcessEnv;
}

export function defaultBuildOptions(prefix: string, env: NodeJS.ProcessEnv = process.env): BuildOptions {
  return {
    prefix,
    versions: {},
    tested: env.WSGI_HTTPD_TESTED === '1',
    cacheFrom: (env.WSGI_HTTPD_CACHE_FROM ?? '').split(/[\s,]+/).filter(Boolean),
    cacheTo: env.WSGI_HTTPD_CACHE_TO || undefined,
    recipesDirs: env.WSGI_HTTPD_RECIPES ? [env.WSGI_HTTPD_RECIPES] : [],
    mirrors: env.WSGI_HTTPD_MIRROR ? [env.WSGI_HTTPD_MIRROR] : [],
    sourcesDirs: env.WSGI_HTTPD_SOURCES ? [env.WSGI_HTTPD_SOURCES] : [],
    offline: env.WSGI_HTTPD_OFFLINE === '1',
    ssl: 'auto',
    expat: 'auto',
    verify: true,
    pythonPackage: env.WSGI_HTTPD_PYTHON_PACKAGE !== '0',
    lockFile: env.WSGI_HTTPD_LOCK || undefined,
    force: false,
    keepBuildDir: false,
    waitSeconds: 0,
    ui: 'auto',
    env,
  };
}

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../errors.js';
import type { BuildOptions } from '../pipeline/options.js';
import { defaultBuildOptions } from '../pipeline/options.js';
import type { ComponentName } from '../recipe/types.js';

export const versionFlags: Record<string, ComponentName> = {
  httpd: 'httpd',
  apr: 'apr',
  'apr-util': 'apr-util',
  pcre2: 'pcre2',
  'mod-wsgi': 'mod_wsgi',
  expat: 'expat',
};

const buildFlags = {
  prefix: { type: 'string' },
  python: { type: 'string' },
  ...Object.fromEntries(Object.keys(versionFlags).map((f) => [f, { type: 'string' }])),
  lock: { type: 'string' },
  tested: { type: 'boolean' },
  recipes: { type: 'string', multiple: true },
  mirror: { type: 'string', multiple: true },
  sources: { type: 'string', multiple: true },
  offline: { type: 'boolean' },
  jobs: { type: 'string', short: 'j' },
  'with-ssl': { type: 'boolean' },
  'without-ssl': { type: 'boolean' },
  'with-expat': { type: 'boolean' },
  'without-expat': { type: 'boolean' },
  'no-verify': { type: 'boolean' },
  'no-python-package': { type: 'boolean' },
  'verify-signatures': { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  json: { type: 'boolean' },
  force: { type: 'boolean' },
  'keep-build-dir': { type: 'boolean' },
  keep: { type: 'string' },
  wait: { type: 'string' },
  'cc-launcher': { type: 'string' },
  'cache-dir': { type: 'string' },
  plain: { type: 'boolean' },
  verbose: { type: 'boolean', short: 'v' },
  'with-manual': { type: 'boolean' },
  'cache-from': { type: 'string', multiple: true },
  'cache-to': { type: 'string' },
  'insecure-registry': { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  output: { type: 'string', short: 'o' },
  dest: { type: 'string' },
  apxs: { type: 'string' },
  'from-archive': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} satisfies ParseArgsConfig['options'];

export type ParsedFlags = ReturnType<typeof parseFlags>['values'];

export function parseFlags(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: buildFlags, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message.split('\n')[0]!, "run 'wsgi-toolchain --help' for the options");
  }
}

function positiveInt(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new UsageError(`${flag} ${value} is not a whole number`, `pass ${flag} a number such as ${flag === '--jobs' ? 2 : 30}`);
  return n;
}

/** -j N: 1 to 512 (0, negative or absurd counts are usage errors, not a fork bomb). */
function jobsOption(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 512)
    throw new UsageError(`--jobs ${value} is not a number from 1 to 512`, 'pass --jobs N with N from 1 to 512 (default: the number of cores)');
  return n;
}

export function defaultPrefix(env: NodeJS.ProcessEnv): string | undefined {
  return env.WSGI_HTTPD_PREFIX || env.VIRTUAL_ENV || undefined;
}

export function buildOptionsFrom(values: ParsedFlags, env: NodeJS.ProcessEnv, requirePrefix = true): BuildOptions {
  const prefix = values.prefix ?? defaultPrefix(env);
  if (!prefix && requirePrefix)
    throw new UsageError(
      'no --prefix given',
      'pass --prefix DIR (a virtualenv or any directory), or set WSGI_HTTPD_PREFIX, or activate a virtualenv',
    );
  if (values['with-ssl'] && values['without-ssl'])
    throw new UsageError('--with-ssl and --without-ssl contradict each other', 'pass only one of them');
  if (values['with-expat'] && values['without-expat'])
    throw new UsageError('--with-expat and --without-expat contradict each other', 'pass only one of them');
  const options = defaultBuildOptions(prefix ?? '.', env);
  for (const [flag, component] of Object.entries(versionFlags)) {
    const value = (values as Record<string, unknown>)[flag];
    if (typeof value === 'string') {
      if (component === 'httpd' && value === 'system') options.httpd = 'system';
      else options.versions[component] = value;
    }
  }
  if (values['from-archive'] && (values.lock || Object.keys(options.versions).length > 0))
    throw new UsageError(
      '--from-archive installs exactly the build in the archive, so --lock and version flags cannot be combined with it',
      'drop --lock and the version flags',
    );
  if (values.lock && Object.keys(options.versions).length > 0)
    throw new UsageError(
      '--lock builds exactly the locked versions, so version flags cannot be combined with it',
      'drop the version flags, or write a new lock with them',
    );
  return {
    ...options,
    python: values.python,
    tested: values.tested ?? options.tested,
    apxs: values.apxs,
    lockFile: values.lock ?? (Object.keys(options.versions).length ? undefined : options.lockFile),
    recipesDirs: values.recipes ?? options.recipesDirs,
    mirrors: values.mirror ?? options.mirrors,
    sourcesDirs: values.sources ?? options.sourcesDirs,
    offline: values.offline ?? options.offline,
    jobs: jobsOption(values.jobs),
    withManual: values['with-manual'] ?? false,
    cacheFrom: values['cache-from'] ?? options.cacheFrom,
    cacheTo: values['cache-to'] ?? options.cacheTo,
    insecureRegistry: values['insecure-registry'] ?? false,
    verbose: values.verbose ?? false,
    ssl: values['with-ssl'] ? 'yes' : values['without-ssl'] ? 'no' : 'auto',
    expat: values['with-expat'] ? 'build' : values['without-expat'] ? 'system' : 'auto',
    verify: !values['no-verify'],
    verifySignatures: values['verify-signatures'] ?? options.verifySignatures ?? false,
    force: values.force ?? false,
    keepBuildDir: values['keep-build-dir'] ?? false,
    waitSeconds: positiveInt(values.wait, '--wait') ?? 0,
    cacheDir: values['cache-dir'],
    ccLauncher: values['cc-launcher'],
    fromArchive: values['from-archive'],
    pythonPackage: values['no-python-package'] ? false : options.pythonPackage,
    ui: values.quiet || values.json ? 'silent' : values.plain ? 'plain' : 'auto',
  };
}

/** From the parsed options of build, lock and fetch to the pipeline's BuildOptions. */
import { isAbsolute, resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { UsageError } from '../errors.js';
import type { BuildOptions } from '../pipeline/options.js';
import { defaultBuildOptions } from '../pipeline/options.js';
import type { ComponentRequest, GroupValues, OptionGroup } from './command.js';
import type { buildingGroup, fromArchiveOption, prefixOption, progressGroup, registryGroup, selectionGroup, sourcesGroup } from './options.js';

/** Every option buildOptionsFrom reads; lock and fetch have a subset (the rest are then simply absent). */
export type BuildValues = GroupValues<
  [
    OptionGroup<typeof prefixOption>,
    typeof selectionGroup,
    typeof sourcesGroup,
    typeof buildingGroup,
    typeof progressGroup,
    typeof registryGroup,
    OptionGroup<typeof fromArchiveOption>,
  ]
>;

export function defaultPrefix(env: NodeJS.ProcessEnv): string | undefined {
  return env.WSGI_HTTPD_PREFIX || env.VIRTUAL_ENV || undefined;
}

/** `--wait` and the like: a whole number of seconds, 0 or more. */
export function wholeNumber(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 0)
    throw new UsageError(`${flag} ${value} is not a whole number`, `pass ${flag} a number such as ${flag === '--keep' ? 1 : 30}`);
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

/**
 * A mirror is an http(s):// or file:// URL, or an absolute directory (taken as file://DIR, as `fetch --dest DIR`
 * suggests). A relative path would depend on the working directory and could be taken for a host name: refused.
 */
export function mirrorUrl(value: string, source: string): string {
  if (/^(https?|file):\/\//i.test(value)) return value;
  if (isAbsolute(value)) return pathToFileURL(value).href;
  throw new UsageError(
    `${source} ${value} is not a URL (http://, https://, file://) or an absolute path`,
    `pass an absolute directory (${resolvePath(value)}) or a URL such as https://mirror.example/apache`,
  );
}

export function buildOptionsFrom(values: BuildValues, components: ComponentRequest[], env: NodeJS.ProcessEnv, requirePrefix = true): BuildOptions {
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
  for (const { component, value } of components) {
    if (component === 'httpd' && value === 'system') options.httpd = 'system';
    else options.versions[component] = value;
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
  const mirrors = values.mirror ? values.mirror.map((m) => mirrorUrl(m, '--mirror')) : options.mirrors.map((m) => mirrorUrl(m, 'WSGI_HTTPD_MIRROR'));
  return {
    ...options,
    python: values.python,
    tested: values.tested ?? options.tested,
    apxs: values.apxs,
    lockFile: values.lock ?? (Object.keys(options.versions).length ? undefined : options.lockFile),
    recipesDirs: values.recipes ?? options.recipesDirs,
    mirrors,
    sourcesDirs: values.sources ?? options.sourcesDirs,
    offline: values.offline ?? options.offline,
    jobs: jobsOption(values.jobs),
    withManual: values['with-manual'] ?? false,
    debugSymbols: values['debug-symbols'] ?? false,
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
    waitSeconds: wholeNumber(values.wait, '--wait') ?? 0,
    cacheDir: values['cache-dir'],
    ccLauncher: values['cc-launcher'],
    fromArchive: values['from-archive'],
    pythonPackage: values['no-python-package'] ? false : options.pythonPackage,
    ui: values.quiet || values.json ? 'silent' : values.plain ? 'plain' : 'auto',
  };
}

/**
 * Options shared by several commands, defined once. A command lists the groups it takes; one that needs a different
 * help line for a shared option (what --json prints, say) spreads the option and replaces only `help`.
 */
import { optionGroup, type OptionSpec } from './command.js';

export const prefixOption = {
  prefix: {
    type: 'string',
    value: 'DIR',
    complete: 'dir',
    help: 'the prefix: a virtualenv or any directory (default: $WSGI_HTTPD_PREFIX, else $VIRTUAL_ENV)',
  },
} as const satisfies Record<string, OptionSpec>;

export const jsonOption = {
  json: { type: 'boolean', help: 'machine-readable output (JSON on stdout)' },
} as const satisfies Record<string, OptionSpec>;

export const cacheDirOption = {
  'cache-dir': {
    type: 'string',
    value: 'DIR',
    complete: 'dir',
    help: 'the store of downloads, built layers and logs (default: $WSGI_HTTPD_CACHE_DIR, else ~/.cache/wsgi-httpd)',
  },
} as const satisfies Record<string, OptionSpec>;

export const pythonOption = {
  python: {
    type: 'string',
    value: 'PATH',
    complete: 'file',
    help: 'the Python for mod_wsgi (else $WSGI_HTTPD_PYTHON, $PYTHON, the prefix venv, $VIRTUAL_ENV, python3 on PATH)',
  },
} as const satisfies Record<string, OptionSpec>;

export const recipesOption = {
  recipes: {
    type: 'string',
    multiple: true,
    value: 'DIR',
    complete: 'dir',
    help: 'overlay recipes: add components or versions, override URLs or sha256 (repeatable; default $WSGI_HTTPD_RECIPES)',
  },
} as const satisfies Record<string, OptionSpec>;

export const waitOption = {
  wait: { type: 'string', value: 'SECONDS', help: 'wait this long for another build of the same prefix instead of failing (exit 8)' },
} as const satisfies Record<string, OptionSpec>;

export const dryRunOption = {
  'dry-run': { type: 'boolean', help: 'say what would be done and change nothing' },
} as const satisfies Record<string, OptionSpec>;

export const apxsOption = {
  apxs: {
    type: 'string',
    value: 'PATH',
    complete: 'file',
    help: "with --httpd system: the system Apache's apxs (default: apxs, then apxs2, on PATH)",
  },
} as const satisfies Record<string, OptionSpec>;

/** What `build`, `lock` and `fetch` use to choose the set to build; the same flags resolve the same set in all three. */
export const selectionGroup = optionGroup('Choosing what to build', {
  ...pythonOption,
  tested: { type: 'boolean', help: "the versions this project's CI builds on every run, for components not pinned (default: the newest)" },
  lock: {
    type: 'string',
    value: 'FILE',
    complete: 'file',
    help: 'exactly the set in a lock file (from `lock` or a build); no version flags with it',
  },
  ...recipesOption,
  'with-ssl': { type: 'boolean', help: 'require mod_ssl (OpenSSL headers); default: mod_ssl when the headers exist' },
  'without-ssl': { type: 'boolean', help: 'build without mod_ssl' },
  'with-expat': { type: 'boolean', help: "build expat too (default: only when the system's expat headers are missing)" },
  'without-expat': { type: 'boolean', help: "use the system's expat" },
  ...apxsOption,
});

export const sourcesGroup = optionGroup('Sources', {
  mirror: {
    type: 'string',
    multiple: true,
    value: 'URL',
    complete: 'dir',
    help: 'http(s)://, file:// or an absolute path: a mirror in the upstream layout, tried first (repeatable)',
  },
  sources: {
    type: 'string',
    multiple: true,
    value: 'DIR',
    complete: 'dir',
    help: 'a directory of tarballs, found by sha256 whatever their names (repeatable)',
  },
  offline: { type: 'boolean', help: 'never open a connection; list the missing files instead' },
  'verify-signatures': {
    type: 'boolean',
    help: 'also check the Apache .asc signatures (httpd, apr, apr-util) against pinned keys (needs gpgv)',
  },
  ...cacheDirOption,
});

/** How a build runs. `lock` and `fetch` accept these too, so a build's command line works unchanged with them. */
export const buildingGroup = optionGroup('Building', {
  jobs: { type: 'string', short: 'j', value: 'N', help: 'parallel compile jobs, 1 to 512 (default: the available cores)' },
  'no-verify': { type: 'boolean', help: 'skip the final serve-a-request check' },
  'no-python-package': { type: 'boolean', help: "skip the mod_wsgi Python package (mod_wsgi-express, Django's runmodwsgi)" },
  force: { type: 'boolean', help: 'rebuild even when the prefix is up to date' },
  'keep-build-dir': { type: 'boolean', help: 'keep sources and objects after the build (for debugging)' },
  ...waitOption,
  'cc-launcher': { type: 'string', value: 'CMD', help: 'a compiler launcher such as ccache or sccache' },
  'debug-symbols': { type: 'boolean', help: 'compile with -g -O2, keeping debug info (default -O2; CFLAGS in the environment overrides both)' },
  'with-manual': { type: 'boolean', help: 'keep the httpd manual, icons and man pages the recipes list as docs (left out by default)' },
});

export const progressGroup = optionGroup('Output', {
  plain: { type: 'boolean', help: 'plain timestamped lines even in a terminal' },
  verbose: { type: 'boolean', short: 'v', help: "stream every build command's output (it always goes to the build log)" },
  quiet: { type: 'boolean', short: 'q', help: 'no progress output' },
  ...jsonOption,
});

export const fromArchiveOption = {
  'from-archive': {
    type: 'string',
    value: 'FILE',
    complete: 'file',
    help: "install the build in an archive from 'pack' (checked file by file; no compiler needed)",
  },
} as const satisfies Record<string, OptionSpec>;

export const insecureRegistryOption = {
  'insecure-registry': { type: 'boolean', help: 'allow plain HTTP (and no certificate check) for a registry that is not on loopback' },
} as const satisfies Record<string, OptionSpec>;

/** Sharing layers through an OCI registry (a build's remote cache). */
export const registryGroup = optionGroup('Sharing builds through a registry', {
  'cache-from': {
    type: 'string',
    multiple: true,
    value: 'REF',
    help: 'HOST[:PORT]/REPOSITORY: look each layer up there before compiling it (repeatable; default $WSGI_HTTPD_CACHE_FROM)',
  },
  'cache-to': { type: 'string', value: 'REF', help: 'HOST[:PORT]/REPOSITORY[:TAG]: push the stack after the build (default $WSGI_HTTPD_CACHE_TO)' },
  ...insecureRegistryOption,
});

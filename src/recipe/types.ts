/**
 * The shape of a recipe file (recipes/<component>.json). recipes/schema.json is the definition the files are checked
 * against (validate.ts); these types mirror it. See recipes/README.md.
 */

/** A component is whatever a recipe names: adding one is a recipe file, not a change here. */
export type ComponentName = string;

/** One published file of a release: what its bytes hash to, where the figure was found, where it can be downloaded. */
export interface Artifact {
  file: string;
  sha256: string;
  /** The public file that states this sha256 (repository and path, or index), so anyone can check the pin. */
  sha256Source: string;
  /** Full URLs; when absent the recipe's urlTemplates are expanded with {file} and {version}. */
  urls?: string[];
}

export interface VersionEntry {
  /** Preferred first: a download tries the first artifact's URLs; --sources accepts any of them by sha256. */
  artifacts: Artifact[];
  /** Semver ranges on other components or on "python", e.g. {"python": ">=3.10"}. */
  requires?: Record<string, string>;
  note?: string;
}

/**
 * A configure argument list item: a plain string, or a group that applies only when a condition holds.
 * Conditions: FEATURE / "!FEATURE" (a feature the build decided, e.g. "ssl": mod_ssl wanted), "dep:NAME" / "!dep:NAME"
 * (component NAME is part of the build).
 */
export type ConditionalArgs = string | { if: string; args: string[] };

export interface BuildSpec {
  /** ./configure, make, make install; "configure" is the script name relative to the source tree. */
  configure: string;
  configureArgs: ConditionalArgs[];
  /** Environment for every step; values may use placeholders. */
  env?: Record<string, string>;
  /** false for a tree whose Makefile is not safe with -j. */
  parallelMake: boolean;
  makeTargets: string[];
  installTargets: string[];
  /** Paths relative to the install root that must exist after install. */
  provides: string[];
}

export interface PatchSpec {
  /** File name under patches/<component>/. */
  file: string;
  sha256: string;
  /** Semver range of the component versions this patch applies to. */
  versions: string;
  /** -p level for patch(1). */
  strip: number;
  description: string;
}

/** Files copied from the source tree into the Python package: every file under `from` matching `match` ("**\/*.py"). */
export interface PackageFiles {
  from: string;
  to: string;
  match: string;
}

/** How one range of upstream versions lays out its Python package (upstream moved modules between major versions). */
export interface PythonPackageLayout {
  /** Semver range of the component versions this layout describes. */
  versions: string;
  files: PackageFiles[];
  /** Package path of the module generated from the apxs template, e.g. "mod_wsgi/express/apxs_config.py". */
  apxsConfig: string;
  /** Console scripts: name -> "module:function". */
  consoleScripts: Record<string, string>;
  /** The INSTALLED_APPS entry that provides Django's management command, for messages and docs. */
  djangoApp?: string;
}

/**
 * The component's Python package, laid out by the tool from the verified source (no setuptools, no pip): what
 * setup.py would install, as data. The built Apache module doubles as the package's extension module.
 */
export interface PythonPackageSpec {
  distribution: string;
  summary: string;
  license: string;
  /** A Python %-format template read from the source (a triple-quoted string assigned to `variable` in `file`). */
  apxsConfigTemplate: { file: string; variable: string; values: Record<string, string> };
  /** `from`: the built module in the stack; `to`: its package path ({pythonXY}, {extSuffix} filled per Python). */
  extension: { from: string; to: string };
  layouts: PythonPackageLayout[];
}

export interface Recipe {
  /** The JSON Schema the file names for editors ("./schema.json"); not used by the tool. */
  $schema?: string;
  name: ComponentName;
  description: string;
  homepage: string;
  license: string;
  /** Components that must be installed before this one. */
  dependencies: string[];
  /** A component a build is for: the build is every root and what the roots depend on (mod_wsgi). */
  root?: boolean;
  /** Built only when its `feature` is on (expat: the system has no expat headers, or --with-expat). */
  optional?: boolean;
  /** The feature that brings an optional component into the build. */
  feature?: string;
  /** Still built with --httpd system, against the system Apache's apxs; the components it depends on that lack this
   * flag are what the system Apache provides. */
  withSystemApache?: boolean;
  /** Mirror layout: where this component's files sit under a --mirror URL, and under `fetch --dest`. */
  mirrorPath: string;
  /** Download chain, in order, expanded with {file} and {version}. */
  urlTemplates: string[];
  defaultVersion: string;
  /** Versions this project's CI builds, verifies and serves with on every run (what --tested chooses from). */
  tested?: string[];
  versions: Record<string, VersionEntry>;
  patches: PatchSpec[];
  build: BuildSpec;
  /** Documentation the install leaves out of the stack unless --with-manual (paths relative to the stack root). */
  docs?: string[];
  pythonPackage?: PythonPackageSpec;
}

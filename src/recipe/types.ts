/** The shape of a recipe file (recipes/<component>.json); see recipes/README.md. */

export const componentNames = ['expat', 'pcre2', 'apr', 'apr-util', 'httpd', 'mod_wsgi'] as const;
export type ComponentName = (typeof componentNames)[number];

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
 * Conditions: "ssl" / "!ssl" (mod_ssl wanted), "dep:NAME" / "!dep:NAME" (component NAME is part of the build).
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

export interface Recipe {
  name: ComponentName;
  description: string;
  homepage: string;
  license: string;
  /** Components that must be installed before this one. */
  dependencies: string[];
  /** Built only when needed: expat is built when the system has no expat headers, or when asked. */
  optional?: boolean;
  /** Mirror layout: where this component's files sit under a --mirror URL, and under `fetch --dest`. */
  mirrorPath: string;
  /** Download chain, in order, expanded with {file} and {version}. */
  urlTemplates: string[];
  defaultVersion: string;
  versions: Record<string, VersionEntry>;
  patches: PatchSpec[];
  build: BuildSpec;
}

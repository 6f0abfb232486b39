import validRange from 'semver/ranges/valid.js';
import { compareVersionsDescending, isExactRequest, satisfiesRange, semverOf } from '../recipe/version.js';
import { ResolveError } from '../errors.js';
import type { RecipeSet } from '../recipe/load.js';
import type { Artifact, ComponentName, Recipe, VersionEntry } from '../recipe/types.js';
import type { Features } from './lock.js';

export type VersionRequests = Partial<Record<ComponentName, string>>;

export interface ResolveInput {
  recipes: RecipeSet;
  requests: VersionRequests;
  pythonVersion: string;
  /** The features the build decided (an optional recipe joins when its feature is on). */
  features: Features;
  /** "system": build only the recipes marked withSystemApache, against an existing Apache. */
  httpdMode?: 'source' | 'system';
  /** Choose among each recipe's `tested` versions (newest first) for components the user did not pin. */
  tested?: boolean;
}

export interface ResolvedArtifact extends Artifact {
  urls: string[];
}

export interface ResolvedComponent {
  name: ComponentName;
  version: string;
  recipe: RecipeSet extends Map<unknown, infer R> ? R : never;
  entry: VersionEntry;
  /** The artifact to download first, then the alternatives any of which --sources may supply. */
  artifacts: ResolvedArtifact[];
  /** Components of this build that must be installed before this one. */
  dependencies: ComponentName[];
  /** true when the user named a version or range for it. */
  requested: boolean;
  /** The version is one this project's CI builds (the recipe's `tested`). */
  tested: boolean;
}

export function expandUrl(template: string, file: string, version: string): string {
  return template.replaceAll('{file}', file).replaceAll('{version_}', version.replaceAll('.', '_')).replaceAll('{version}', version);
}

export function artifactsOf(recipe: Recipe, version: string): ResolvedArtifact[] {
  return recipe.versions[version]!.artifacts.map((a) => ({
    ...a,
    urls: a.urls ?? recipe.urlTemplates.map((t) => expandUrl(t, a.file, version)),
  }));
}

/**
 * The components a build needs, in install order (dependencies first): the roots (sorted by name) and, depth first,
 * what they depend on. An optional dependency joins only when its feature is on. With --httpd system only recipes
 * marked withSystemApache are built; their other dependencies are the system Apache's.
 */
export function selectComponents(recipes: RecipeSet, features: Features, httpdMode: 'source' | 'system'): ComponentName[] {
  const system = httpdMode === 'system';
  const builds = (recipe: Recipe) => !system || recipe.withSystemApache === true;
  const roots = [...recipes.values()].filter((r) => r.root).map((r) => r.name);
  if (roots.length === 0)
    throw new ResolveError('no recipe is a root, so there is nothing to build', 'mark the component a build is for with "root": true in its recipe');
  const order: ComponentName[] = [];
  const wanted = (recipe: Recipe) => {
    if (!recipe.optional) return true;
    const feature = recipe.feature!;
    if (!Object.hasOwn(features, feature))
      throw new ResolveError(
        `${recipe.name} is optional on the feature "${feature}", which this build does not decide`,
        `name one of the features (${Object.keys(features).join(', ')}) in the "feature" of ${recipe.name}'s recipe`,
      );
    return features[feature] === true;
  };
  const visit = (name: ComponentName, trail: string[]) => {
    if (order.includes(name)) return;
    if (trail.includes(name))
      throw new ResolveError(`recipes form a dependency cycle: ${[...trail, name].join(' -> ')}`, 'fix the dependencies lists of those recipes');
    const recipe = recipes.get(name);
    if (!recipe) throw new ResolveError(`no recipe for ${name}`, `add recipes/${name}.json or an overlay with --recipes DIR`);
    for (const dep of recipe.dependencies) {
      const depRecipe = recipes.get(dep);
      if (depRecipe && (!builds(depRecipe) || !wanted(depRecipe))) continue;
      visit(dep, [...trail, name]);
    }
    order.push(name);
  };
  const built = roots.filter((name) => builds(recipes.get(name)!)).sort();
  if (built.length === 0)
    throw new ResolveError(
      `none of the components a build is for (${roots.join(', ')}) builds against a system Apache`,
      'build Apache from source (drop --httpd system), or mark the recipe "withSystemApache": true',
    );
  for (const root of built) visit(root, []);
  return order;
}

function candidates(recipe: Recipe, request: string | undefined, tested: boolean): string[] {
  const all = Object.keys(recipe.versions).sort(compareVersionsDescending);
  if (request === undefined && tested && recipe.tested?.length) return [...recipe.tested].sort(compareVersionsDescending);
  if (request === undefined) return [recipe.defaultVersion, ...all.filter((v) => v !== recipe.defaultVersion)];
  if (isExactRequest(request)) return all.filter((v) => semverOf(v) === semverOf(request));
  const range = validRange(request);
  if (range === null)
    throw new ResolveError(
      `"${request}" is not a version or semver range for ${recipe.name}`,
      `use an exact version like ${recipe.defaultVersion} or a range like "~${recipe.defaultVersion}"`,
    );
  return all.filter((v) => satisfiesRange(v, range));
}

interface Conflict {
  component: ComponentName;
  version: string;
  needs: string;
  range: string;
  found: string;
}

function firstConflict(choice: Map<ComponentName, string>, recipes: RecipeSet, pythonVersion: string): Conflict | undefined {
  for (const [name, version] of choice) {
    const requires = recipes.get(name)!.versions[version]!.requires ?? {};
    for (const [needs, range] of Object.entries(requires)) {
      const found = needs === 'python' ? pythonVersion : choice.get(needs);
      if (found === undefined) continue; // not part of this build (e.g. system httpd)
      if (!satisfiesRange(found, range)) return { component: name, version, needs, range, found };
    }
  }
  return undefined;
}

/**
 * A component no chosen version of which fits the Python: when none in the recipes does, say which Pythons they support;
 * else name the versions that do.
 */
function pythonConflictError(c: Conflict, recipe: Recipe, flag: string): ResolveError {
  const versions = Object.keys(recipe.versions).sort(compareVersionsDescending);
  const rangeOf = (v: string) => recipe.versions[v]!.requires?.python;
  const fitting = versions.filter((v) => {
    const range = rangeOf(v);
    return range === undefined || satisfiesRange(c.found, range);
  });
  const python = /^\d+\.\d+/.exec(c.found)?.[0] ?? c.found;
  if (fitting.length === 0) {
    const ranges = [...new Set(versions.map((v) => rangeOf(v)!))];
    // Lower bounds only (">=3.8", ">=3.10"): together they support the lowest of them.
    const lowest = ranges.every((r) => /^>=\s*\d+(\.\d+)*$/.test(r))
      ? ranges.reduce((a, b) => (compareVersionsDescending(a.replace(/^>=\s*/, ''), b.replace(/^>=\s*/, '')) > 0 ? a : b))
      : undefined;
    return new ResolveError(
      `no ${c.component} version in the recipes supports Python ${python} (they support ${lowest ?? ranges.join(' or ')})`,
      `use a Python the recipes support (--python PATH), or add a ${c.component} version for Python ${python} with an overlay recipe (--recipes DIR)`,
    );
  }
  return new ResolveError(
    `${c.component} ${c.version} needs Python ${c.range}, but the Python is ${c.found}`,
    `choose a ${c.component} version that supports Python ${python}: ${fitting.join(', ')} (${flag} VERSION), or use another Python (--python PATH)`,
  );
}

/**
 * Picks one version per component: the user's exact version, the newest in the user's range, or the recipe default,
 * falling back to other versions of components the user did not pin when the defaults conflict. A conflict that no
 * choice resolves is reported with the first constraint that failed for the preferred choice.
 */
export function resolve(input: ResolveInput): ResolvedComponent[] {
  const { recipes, requests, pythonVersion } = input;
  for (const name of Object.keys(requests))
    if (!recipes.has(name)) throw new ResolveError(`unknown component "${name}"`, `components are: ${[...recipes.keys()].join(', ')}`);
  const order = selectComponents(recipes, input.features, input.httpdMode ?? 'source');

  const options = order.map((name) => {
    const recipe = recipes.get(name)!;
    const list = candidates(recipe, requests[name], input.tested ?? false);
    if (list.length === 0) {
      const known = Object.keys(recipe.versions).sort(compareVersionsDescending).join(', ');
      throw new ResolveError(
        `no ${name} version matches "${requests[name]}" (known: ${known})`,
        `pick one of those, or add the version with an overlay recipe (--recipes DIR)`,
      );
    }
    return list;
  });

  let preferredConflict: Conflict | undefined;
  const choice = new Map<ComponentName, string>();
  const search = (index: number): boolean => {
    if (index === order.length) {
      const conflict = firstConflict(choice, recipes, pythonVersion);
      preferredConflict ??= conflict;
      return conflict === undefined;
    }
    for (const version of options[index]!) {
      choice.set(order[index]!, version);
      if (search(index + 1)) return true;
    }
    choice.delete(order[index]!);
    return false;
  };
  if (!search(0)) {
    const c = preferredConflict!;
    const flag = (n: string) => `--${n.replace('_', '-')}`;
    if (c.needs === 'python') throw pythonConflictError(c, recipes.get(c.component)!, flag(c.component));
    throw new ResolveError(
      `${c.component} ${c.version} needs ${c.needs} ${c.range}, but ${c.needs} ${c.found} was chosen`,
      `choose versions that fit together: ${flag(c.component)} and ${flag(c.needs)} (see 'wsgi-toolchain list')`,
    );
  }

  return order.map((name) => {
    const recipe = recipes.get(name)!;
    const version = choice.get(name)!;
    return {
      name,
      version,
      tested: recipe.tested?.includes(version) ?? false,
      recipe,
      entry: recipe.versions[version]!,
      artifacts: artifactsOf(recipe, version),
      dependencies: recipe.dependencies.filter((d) => order.includes(d)),
      requested: requests[name] !== undefined,
    };
  });
}

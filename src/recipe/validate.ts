/**
 * Recipe validation: recipes/schema.json (JSON Schema draft-07, the file editors check recipes with), compiled ahead of
 * time into recipes/schema.compiled.cjs (schema-code.ts), then the checks a schema cannot express (defaultVersion and
 * tested name listed versions, semver ranges parse, an artifact has a URL). Every message names the file and the JSON
 * path of the problem, so a recipe or overlay can be fixed from the error line alone.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { ErrorObject, ValidateFunction } from 'ajv';
import validRange from 'semver/ranges/valid.js';
import { RecipeError } from '../errors.js';
import { packageRoot } from '../util/package-root.js';
import type { Recipe } from './types.js';

/** recipes/schema.json: not a recipe, though it sits with them (recipes name it "./schema.json" for editors). */
export const recipeSchemaFileName = 'schema.json';
export const recipeSchemaFile = join(packageRoot, 'recipes', recipeSchemaFileName);
export const compiledSchemaFile = join(packageRoot, 'recipes', 'schema.compiled.cjs');

/** An overlay before it is merged: any top-level fields of a recipe, and its name. */
export type RecipeOverlay = Partial<Recipe> & Pick<Recipe, 'name'>;

let compiled: ValidateFunction<Recipe> | undefined;

function schemaValidator(): ValidateFunction<Recipe> {
  // The compiled module is ajv's standalone output for schema.json: a validate function with ajv's error objects.
  compiled ??= createRequire(import.meta.url)(compiledSchemaFile) as ValidateFunction<Recipe>;
  return compiled;
}

/** The top-level rules an overlay does not have to meet on its own (required fields, optional -> feature). */
const wholeRecipeRule = (e: ErrorObject) => e.instancePath === '' && (e.schemaPath === '#/required' || e.schemaPath.startsWith('#/allOf/'));

/** The path of a field in the messages' notation: build.provides, versions["2.4.1"], requires["apr-util"]. */
export function fieldPath(path: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${path ? `${path}.` : ''}${key}` : `${path}[${JSON.stringify(key)}]`;
}

/** A JSON Pointer (/versions/2.4.1/artifacts/0) as the path the messages use: versions["2.4.1"].artifacts[0]. */
export function jsonPath(pointer: string, root: unknown): string {
  let path = '';
  let node = root;
  for (const raw of pointer.split('/').slice(1)) {
    const token = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    path = Array.isArray(node) ? `${path}[${token}]` : fieldPath(path, token);
    node = (node as Record<string, unknown> | undefined)?.[token];
  }
  return path;
}

const typeWords: Record<string, string> = {
  string: 'a string',
  array: 'a list',
  object: 'an object',
  boolean: 'true or false',
  integer: 'a whole number',
  number: 'a number',
};

/** One line per problem: "PATH: MESSAGE", from ajv's errors (verbose: each carries the subschema it failed in). */
function schemaProblems(errors: readonly ErrorObject[], value: unknown): string[] {
  const at = (pointer: string, key?: string) =>
    key === undefined ? jsonPath(pointer, value) || '(the recipe)' : fieldPath(jsonPath(pointer, value), key);
  const problems: string[] = [];
  errors.forEach((e, i) => {
    // "if" only says its "then" failed, and that failure is reported on its own; propertyNames follows the error of
    // the key it names (which carries the message).
    if (e.keyword === 'if' || e.keyword === 'propertyNames') return;
    const custom = (e.parentSchema as { errorMessage?: string } | undefined)?.errorMessage;
    const params = e.params as Record<string, unknown>;
    const next = errors[i + 1];
    if (next?.keyword === 'propertyNames' && next.instancePath === e.instancePath)
      problems.push(`${at(e.instancePath, String(next.params.propertyName))}: the key ${custom ?? plainMessage(e)}`);
    else if (e.keyword === 'required') problems.push(`${at(e.instancePath, String(params.missingProperty))}: ${custom ?? 'is missing'}`);
    else if (e.keyword === 'additionalProperties') {
      const field = String(params.additionalProperty);
      const like = closest(field, Object.keys((e.parentSchema as { properties?: object }).properties ?? {}));
      problems.push(`${at(e.instancePath, field)}: unknown field${like ? ` (did you mean "${like}"?)` : ''}`);
    } else problems.push(`${at(e.instancePath)}: ${custom ?? plainMessage(e)}`);
  });
  return [...new Set(problems)];
}

/** The known field a misspelt one is most likely meant to be (at most two edits away), if any. */
function closest(field: string, known: string[]): string | undefined {
  const distance = (a: string, b: string) => {
    let row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      const next = [i];
      for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      row = next;
    }
    return row[b.length]!;
  };
  const scored = known.map((k) => ({ k, d: distance(field.toLowerCase(), k.toLowerCase()) })).sort((x, y) => x.d - y.d);
  return scored[0] && scored[0].d <= 2 ? scored[0].k : undefined;
}

function plainMessage(e: ErrorObject): string {
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'type':
      return `must be ${String(params.type)
        .split(',')
        .map((t) => typeWords[t] ?? t)
        .join(' or ')}`;
    case 'minItems':
      return `must list at least ${String(params.limit)} ${params.limit === 1 ? 'item' : 'items'}`;
    case 'minProperties':
      return 'must have at least one entry';
    case 'uniqueItems':
      return `lists the same value twice (items ${String(params.j)} and ${String(params.i)})`;
    case 'const':
      return `must be ${JSON.stringify(params.allowedValue)}`;
    default:
      return e.message ?? e.keyword;
  }
}

function fail(file: string, problems: string[]): never {
  throw new RecipeError(`${file}: ${problems.join('; ')}`);
}

/** Checks an overlay file's own fields before it is merged onto the recipe it overlays. */
export function validateOverlay(value: unknown, file: string): RecipeOverlay {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new RecipeError(`${file}: a recipe must be a JSON object`);
  const validate = schemaValidator();
  if (validate(value)) return value;
  const problems = schemaProblems(
    (validate.errors ?? []).filter((e) => !wholeRecipeRule(e) || e.params.missingProperty === 'name'),
    value,
  );
  if (problems.length > 0) fail(file, problems);
  return value as RecipeOverlay;
}

/** Checks an untrusted JSON value against the recipe schema and the semantic rules, and returns it typed. */
export function validateRecipe(value: unknown, file: string): Recipe {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new RecipeError(`${file}: a recipe must be a JSON object`);
  const validate = schemaValidator();
  if (!validate(value)) fail(file, schemaProblems(validate.errors ?? [], value));
  const problems = semanticProblems(value);
  if (problems.length > 0) fail(file, problems);
  return value;
}

const isRange = (range: string) => validRange(range) !== null;

/** What the schema cannot say: cross-references inside the recipe and semver ranges. */
function semanticProblems(r: Recipe): string[] {
  const problems: string[] = [];
  const at = (path: string, message: string) => problems.push(`${path}: ${message}`);
  if (!(r.defaultVersion in r.versions)) at('defaultVersion', `"${r.defaultVersion}" is not one of the listed versions`);
  r.tested?.forEach((v, i) => {
    if (!(v in r.versions)) at(`tested[${i}]`, `"${v}" is not one of the listed versions`);
  });
  if (r.root && r.optional) at('optional', 'a root component cannot be optional: a build is for it');
  for (const [version, entry] of Object.entries(r.versions)) {
    const path = fieldPath('versions', version);
    entry.artifacts.forEach((a, i) => {
      if (a.urls === undefined && r.urlTemplates.length === 0) at(`${path}.artifacts[${i}].urls`, 'needed when the recipe has no urlTemplates');
    });
    for (const [dep, range] of Object.entries(entry.requires ?? {}))
      if (!isRange(range)) at(fieldPath(`${path}.requires`, dep), `"${range}" is not a semver range`);
  }
  r.patches.forEach((p, i) => {
    if (!isRange(p.versions)) at(`patches[${i}].versions`, `"${p.versions}" is not a semver range`);
  });
  r.pythonPackage?.layouts.forEach((l, i) => {
    if (!isRange(l.versions)) at(`pythonPackage.layouts[${i}].versions`, `"${l.versions}" is not a semver range`);
  });
  return problems;
}

/**
 * Checks across a set of recipes: every dependency and every `requires` names a recipe of the set (or "python").
 * `origin` is the file each recipe came from, for the message.
 */
export function validateRecipeSet(recipes: ReadonlyMap<string, Recipe & { origin: string }>): void {
  for (const r of recipes.values()) {
    const problems: string[] = [];
    r.dependencies.forEach((dep, i) => {
      if (!recipes.has(dep)) problems.push(`dependencies[${i}]: no recipe is named "${dep}"`);
    });
    for (const [version, entry] of Object.entries(r.versions))
      for (const needs of Object.keys(entry.requires ?? {}))
        if (needs !== 'python' && !recipes.has(needs))
          problems.push(`${fieldPath(`${fieldPath('versions', version)}.requires`, needs)}: no recipe is named "${needs}" (nor is it "python")`);
    if (problems.length > 0) fail(r.origin, problems);
  }
}

import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { hashOf } from '../util/hash-of.js';
import { packageRoot } from '../util/package-root.js';
import { RecipeError, UsageError } from '../errors.js';
import type { ComponentName, Recipe } from './types.js';
import { type RecipeOverlay, recipeSchemaFileName, validateOverlay, validateRecipe, validateRecipeSet } from './validate.js';

export { packageRoot };
export const builtinRecipesDir = join(packageRoot, 'recipes');
export const builtinPatchesDir = join(packageRoot, 'patches');

export type RecipeSet = Map<ComponentName, Recipe & { origin: string; patchesDir: string }>;

/** The complete recipes overlays apply to: each <name>.json of `recipesDir`, its patches under `patchesDir`/<name>/. */
export interface BaseRecipes {
  recipesDir: string;
  patchesDir: string;
}

export const builtinRecipes: BaseRecipes = { recipesDir: builtinRecipesDir, patchesDir: builtinPatchesDir };

async function readRecipeFiles(dir: string): Promise<{ file: string; text: string }[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.json') && n !== recipeSchemaFileName).sort();
  } catch {
    throw new UsageError(`recipe directory ${dir} cannot be read`, 'pass --recipes a directory that holds <component>.json files');
  }
  return Promise.all(
    names.map(async (name) => {
      const file = join(dir, name);
      try {
        return { file, text: await readFile(file, 'utf8') };
      } catch {
        throw new UsageError(`recipe file ${file} cannot be read`, 'check its permissions');
      }
    }),
  );
}

/**
 * An overlay recipe may be complete (it replaces the built-in one) or partial: {"name": "httpd", "versions": {...}}
 * adds or overrides versions, and any other top-level key it sets replaces the built-in value.
 */
function overlay(base: Recipe | undefined, patch: RecipeOverlay): unknown {
  if (!base) return patch;
  const { origin: _origin, patchesDir: _patchesDir, ...recipe } = base as Recipe & { origin?: string; patchesDir?: string };
  return { ...recipe, ...patch, versions: { ...recipe.versions, ...(patch.versions ?? {}) } };
}

/**
 * The recipes of `base` (the built-in ones unless a test passes its own), then each overlay directory's on top: a
 * recipe of a new name adds a component, one of a known name is merged onto it (see overlay) and checked as a whole.
 */
export async function loadRecipes(overlayDirs: string[] = [], base: BaseRecipes = builtinRecipes): Promise<RecipeSet> {
  const baseFiles = await readRecipeFiles(base.recipesDir);
  const overlays = await Promise.all(overlayDirs.map(async (dir) => ({ dir: resolve(dir), files: await readRecipeFiles(resolve(dir)) })));
  // A build reads the recipes more than once (its flags, then its lock): the same texts are checked once per process.
  const key = hashOf({ base, baseFiles, overlays });
  const seen = checked.get(key);
  if (seen) return structuredClone(seen);
  const set: RecipeSet = new Map();
  for (const { file, text } of baseFiles) {
    const recipe = validateRecipe(parseRecipe(file, text), file);
    set.set(recipe.name, { ...recipe, origin: file, patchesDir: join(base.patchesDir, recipe.name) });
  }
  for (const { dir, files } of overlays) {
    for (const { file, text } of files) {
      const patch = validateOverlay(parseRecipe(file, text), file);
      const known = set.get(patch.name);
      const merged = validateRecipe(overlay(known, patch), file);
      set.set(merged.name, {
        ...merged,
        origin: file,
        patchesDir: patch.patches !== undefined || !known ? join(resolve(dir), 'patches', merged.name) : known.patchesDir,
      });
    }
  }
  validateRecipeSet(set);
  checked.set(key, structuredClone(set));
  return set;
}

const checked = new Map<string, RecipeSet>();

function parseRecipe(file: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new RecipeError(`${file}: not valid JSON (${(error as Error).message})`);
  }
}

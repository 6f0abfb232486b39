import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { packageRoot } from '../util/package-root.js';
import { RecipeError, UsageError } from '../errors.js';
import type { ComponentName, Recipe } from './types.js';
import { validateRecipe } from './validate.js';

export { packageRoot };
export const builtinRecipesDir = join(packageRoot, 'recipes');
export const builtinPatchesDir = join(packageRoot, 'patches');

export type RecipeSet = Map<ComponentName, Recipe & { origin: string; patchesDir: string }>;

async function readRecipeFiles(dir: string): Promise<{ file: string; value: unknown }[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.json')).sort();
  } catch {
    throw new UsageError(`recipe directory ${dir} cannot be read`, 'pass --recipes a directory that holds <component>.json files');
  }
  return Promise.all(
    names.map(async (name) => {
      const file = join(dir, name);
      try {
        return { file, value: JSON.parse(await readFile(file, 'utf8')) as unknown };
      } catch (error) {
        throw new RecipeError(`${file}: not valid JSON (${(error as Error).message})`);
      }
    }),
  );
}

/**
 * An overlay recipe may be complete (it replaces the built-in one) or partial: {"name": "httpd", "versions": {...}}
 * adds or overrides versions, and any other top-level key it sets replaces the built-in value.
 */
function overlay(base: Recipe | undefined, patch: Record<string, unknown>): unknown {
  if (!base) return patch;
  const versions = { ...base.versions, ...((patch.versions as object | undefined) ?? {}) };
  return { ...base, ...patch, versions };
}

export async function loadRecipes(overlayDirs: string[] = []): Promise<RecipeSet> {
  const set: RecipeSet = new Map();
  for (const { file, value } of await readRecipeFiles(builtinRecipesDir)) {
    const recipe = validateRecipe(value, file);
    set.set(recipe.name, { ...recipe, origin: file, patchesDir: join(builtinPatchesDir, recipe.name) });
  }
  for (const dir of overlayDirs) {
    for (const { file, value } of await readRecipeFiles(resolve(dir))) {
      if (typeof value !== 'object' || value === null) throw new RecipeError(`${file}: a recipe must be a JSON object`);
      const name = (value as { name?: unknown }).name as ComponentName;
      const merged = validateRecipe(overlay(set.get(name), value as Record<string, unknown>), file);
      const ownPatches = (value as { patches?: unknown }).patches !== undefined;
      set.set(merged.name, {
        ...merged,
        origin: file,
        patchesDir: ownPatches ? join(resolve(dir), 'patches', merged.name) : (set.get(name)?.patchesDir ?? join(builtinPatchesDir, name)),
      });
    }
  }
  return set;
}

import { loadRecipes } from '../recipe/load.js';
import { compareVersionsDescending } from '../recipe/version.js';

/** The component versions whose release files a --sources index holds (by sha256), newest first. */
export async function availableVersions(
  recipesDirs: string[],
  sourceIndex: Map<string, string>,
): Promise<{ component: string; versions: string[] }[]> {
  const recipes = await loadRecipes(recipesDirs);
  const out: { component: string; versions: string[] }[] = [];
  for (const recipe of recipes.values()) {
    const versions = Object.entries(recipe.versions)
      .filter(([, entry]) => entry.artifacts.some((a) => sourceIndex.has(a.sha256)))
      .map(([v]) => v)
      .sort(compareVersionsDescending);
    if (versions.length > 0) out.push({ component: recipe.name, versions });
  }
  return out;
}

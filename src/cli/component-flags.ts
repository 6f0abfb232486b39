/**
 * Component version flags come from the recipes that are loaded, not from a table: `--<name>` for each recipe, with `_`
 * written `-` (`--mod-wsgi` for mod_wsgi), so an overlay recipe that adds a component adds its flag. Which recipes are
 * loaded depends on the command's own `--recipes DIR` (else $WSGI_HTTPD_RECIPES), so those are found first with a
 * lenient parse; the strict parse then knows every flag.
 */
import { parseArgs } from 'node:util';
import { RecipeError } from '../errors.js';
import { loadRecipes, type RecipeSet } from '../recipe/load.js';
import { compareVersionsDescending } from '../recipe/version.js';
import { type ComponentFlag, type OptionTable, parseArgsOptions } from './command.js';

export function flagName(component: string): string {
  return component.replaceAll('_', '-');
}

/** One flag per recipe, in the recipe set's order. A flag that would shadow one of the command's own options is a recipe error. */
export function componentFlags(recipes: RecipeSet, own: OptionTable = {}, commandName = 'build'): ComponentFlag[] {
  return [...recipes.values()].map((recipe) => {
    const flag = flagName(recipe.name);
    if (Object.hasOwn(own, flag))
      throw new RecipeError(
        `the recipe "${recipe.name}" (${recipe.origin}) would take the option --${flag}, which is already an option of ${commandName}`,
        'rename the component in that recipe',
      );
    return {
      flag,
      component: recipe.name,
      defaultVersion: recipe.defaultVersion,
      versions: Object.keys(recipe.versions).sort(compareVersionsDescending),
    };
  });
}

/** The option table of the component flags: each takes a version or a range (and httpd also `system`). */
export function componentOptionTable(flags: ComponentFlag[]): OptionTable {
  return Object.fromEntries(
    flags.map((f) => [
      f.flag,
      {
        type: 'string',
        value: 'V',
        help: `the ${f.component} version (default ${f.defaultVersion})`,
        complete: f.component === 'httpd' ? [...f.versions, 'system'] : f.versions,
      },
    ]),
  );
}

/**
 * The overlay directories a command line asks for, before its options are all known: `--recipes DIR` (repeatable),
 * else $WSGI_HTTPD_RECIPES. Unknown options are left for the strict parse to report.
 */
export function recipeDirsIn(args: string[], own: OptionTable, env: NodeJS.ProcessEnv): string[] {
  const { values } = parseArgs({ args, options: parseArgsOptions(own), strict: false, allowPositionals: true });
  const given = values.recipes;
  if (Array.isArray(given)) return given.filter((d): d is string => typeof d === 'string');
  return env.WSGI_HTTPD_RECIPES ? [env.WSGI_HTTPD_RECIPES] : [];
}

export async function loadComponentFlags(
  args: string[],
  own: OptionTable,
  env: NodeJS.ProcessEnv,
  commandName: string,
): Promise<{ recipes: RecipeSet; flags: ComponentFlag[] }> {
  const recipes = await loadRecipes(recipeDirsIn(args, own, env));
  return { recipes, flags: componentFlags(recipes, own, commandName) };
}

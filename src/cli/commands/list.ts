import { ExitCode } from '../../errors.js';
import { loadRecipes } from '../../recipe/load.js';
import { compareVersionsDescending } from '../../recipe/version.js';
import { defineCommand, optionGroup } from '../command.js';
import { jsonOption, recipesOption } from '../options.js';
import { json, out } from '../output.js';

export const listCommand = defineCommand({
  name: 'list',
  summary: 'the versions each recipe offers (* marks the default)',
  usage: ['list [--recipes DIR] [--json]'],
  groups: [
    optionGroup('Options', {
      recipes: { ...recipesOption.recipes, help: 'also list the components and versions of overlay recipes (repeatable)' },
      json: { ...jsonOption.json, help: 'every version with its files and requirements, as JSON' },
    }),
  ],
  examples: ['wsgi-toolchain list', 'wsgi-toolchain list --recipes ./my-recipes --json'],
  async run({ values }) {
    const recipes = await loadRecipes(values.recipes ?? []);
    const rows = [...recipes.values()].map((r) => ({
      name: r.name,
      default: r.defaultVersion,
      versions: Object.keys(r.versions)
        .sort(compareVersionsDescending)
        .map((v) => ({
          version: v,
          files: r.versions[v]!.artifacts.map((a) => a.file),
          requires: r.versions[v]!.requires ?? {},
        })),
    }));
    if (values.json) json(rows);
    else
      for (const r of rows) out(`${r.name.padEnd(9)} ${r.versions.map((v) => (v.version === r.default ? `${v.version}*` : v.version)).join('  ')}`);
    return ExitCode.ok;
  },
});

/** Component version flags are made from the recipes that are loaded (`--mod-wsgi` for mod_wsgi), not from a table. */
import test from 'ava';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildOptionsFrom } from '../../../src/cli/build-options.js';
import { staticOptions } from '../../../src/cli/command.js';
import { findCommand, commands } from '../../../src/cli/commands/index.js';
import { bashCompletion } from '../../../src/cli/completion.js';
import { componentFlags } from '../../../src/cli/component-flags.js';
import { commandHelp } from '../../../src/cli/help.js';
import { parseWithFlags } from '../../../src/cli/parse.js';
import { RecipeError } from '../../../src/errors.js';
import { loadRecipes, type RecipeSet } from '../../../src/recipe/load.js';
import { runCli } from '../../helpers/cli.js';
import { makeFixtureSet } from '../../helpers/fixtures.js';

let work: string;
let builtin: RecipeSet;
test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'wsgi-cli-components-'));
  builtin = await loadRecipes();
});
test.after.always(async () => {
  await rm(work, { recursive: true, force: true });
});

const build = findCommand('build')!;

/** The built-in recipes plus a copy of apr's named `name` (made in memory: the recipe loader decides which names a file may use). */
function withComponent(name: string): RecipeSet {
  const apr = builtin.get('apr')!;
  return new Map([...builtin, [name as never, { ...apr, name: name as never }]]) as RecipeSet;
}

test('a recipe "mod_extra" adds --mod-extra: in the help, the parser, the build options and the completion', async (t) => {
  const flags = componentFlags(withComponent('mod_extra'), staticOptions(build), 'build');
  const extra = flags.find((f) => f.flag === 'mod-extra');
  t.like(extra, { flag: 'mod-extra', defaultVersion: builtin.get('apr')!.defaultVersion });

  t.regex(commandHelp(build, flags), /^ {6}--mod-extra V +the mod_extra version \(default /m);

  const parsed = await parseWithFlags(build, ['--mod-extra', '1.0.0', '--dry-run', '--httpd', 'system'], flags, commands, {});
  if (parsed.help) return t.fail('not a help request');
  t.deepEqual(parsed.components, [
    { component: 'httpd', value: 'system' },
    { component: 'mod_extra', value: '1.0.0' },
  ]);
  const options = buildOptionsFrom(parsed.values, parsed.components, { WSGI_HTTPD_PREFIX: join(work, 'p') });
  t.is((options.versions as Record<string, string>).mod_extra, '1.0.0');
  t.is(options.httpd, 'system', '--httpd system keeps its meaning');
  t.is(options.versions.httpd, undefined);

  t.regex(bashCompletion([{ command: build, flags }]), /build\) opts="[^"]*--mod-extra /);

  // without the recipe the flag is unknown
  await t.throwsAsync(parseWithFlags(build, ['--mod-extra', '1.0.0'], componentFlags(builtin), commands, {}), {
    message: 'unknown option --mod-extra for build',
  });
});

test('a recipe whose flag would shadow an option of the command is a recipe error naming both', async (t) => {
  const error = t.throws(() => componentFlags(withComponent('prefix'), staticOptions(build), 'build'), {
    instanceOf: RecipeError,
  });
  t.regex(error.message, /^the recipe "prefix" \(.*\) would take the option --prefix, which is already an option of build$/);
});

test.serial('build --help lists one version flag per loaded recipe, and nothing else as one', async (t) => {
  const result = await runCli(['build', '--help']);
  t.is(result.code, 0, result.stderr);
  const section = /\nComponent versions[^\n]*\n((?: {2}.*\n)+)/.exec(result.stdout)?.[1] ?? '';
  const listed = [...section.matchAll(/^ {6}--([\w-]+) V /gm)].map((m) => m[1]);
  t.deepEqual(
    listed,
    [...builtin.keys()].map((name) => name.replaceAll('_', '-')),
  );
  t.true(listed.includes('mod-wsgi'));
  t.regex(section, /^ {6}--httpd system /m);
});

/* The same with a real overlay file: a recipe of a new name adds a component, and its flag. */
test.serial('build --help --recipes DIR lists --mod-extra from an overlay recipe, and build accepts --mod-extra', async (t) => {
  const fixtures = await makeFixtureSet(join(work, 'fixtures'), { components: ['apr'] });
  const overlay = join(work, 'overlay');
  await mkdir(overlay, { recursive: true });
  const recipe = { ...fixtures.recipes.apr!, name: 'mod_extra', mirrorPath: 'mod_extra/{file}' };
  await writeFile(join(overlay, 'mod_extra.json'), `${JSON.stringify(recipe, null, 2)}\n`);

  const help = await runCli(['build', '--help', '--recipes', overlay]);
  t.is(help.code, 0, help.stderr);
  t.regex(help.stdout, /^ {6}--mod-extra V /m);

  const dryRun = await runCli(['build', '--prefix', join(work, 'p'), '--recipes', overlay, '--mod-extra', '1.0.0', '--dry-run'], {
    env: { WSGI_HTTPD_CACHE_DIR: join(work, 'cache') },
  });
  t.notRegex(dryRun.stderr, /unknown option|has no option|Unknown option/);
  t.notRegex(dryRun.stderr, /mod_extra\.json/, 'the recipe itself is accepted');
});

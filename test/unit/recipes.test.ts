/**
 * The shipped recipes (recipes/*.json) against the schema and the semantic checks, and the validator's messages.
 * This is the one unit test that reads the shipped recipes on purpose; the others use test/fixtures/recipes.
 */
import { removeTempDirs, tempDir } from '../helpers/temp.js';
import test from 'ava';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { compareVersionsDescending } from '../../src/recipe/version.js';
import { RecipeError } from '../../src/errors.js';
import { builtinRecipesDir, loadRecipes } from '../../src/recipe/load.js';
import { compiledSchemaSource } from '../../src/recipe/schema-code.js';
import { compiledSchemaFile, recipeSchemaFile, validateRecipe } from '../../src/recipe/validate.js';
import { resolve, selectComponents } from '../../src/resolve/resolve.js';
import { fixtureRecipesDir, loadFixtureRecipes } from '../helpers/fixtures.js';

const noExpat = { ssl: false, zlib: false, expat: false };

test.after.always(removeTempDirs);

test('every shipped recipe validates, names itself after its file, points editors at the schema, and is reachable from a root', async (t) => {
  const recipes = await loadRecipes();
  const files = (await readdir(builtinRecipesDir)).filter((n) => n.endsWith('.json') && n !== 'schema.json');
  t.deepEqual([...recipes.keys()].sort(), files.map((f) => basename(f, '.json')).sort());
  for (const recipe of recipes.values()) {
    t.is(recipe.$schema, './schema.json', recipe.name);
    t.is(basename(recipe.origin), `${recipe.name}.json`);
  }
  const everything = Object.fromEntries([...recipes.values()].filter((r) => r.feature).map((r) => [r.feature!, true]));
  t.deepEqual(
    selectComponents(recipes, { ...noExpat, ...everything }, 'source').sort(),
    [...recipes.keys()].sort(),
    'no recipe is left out of every build',
  );
});

test('recipes/schema.compiled.cjs is compiled from recipes/schema.json (else: npm run recipes:schema)', async (t) => {
  const schema = await readFile(recipeSchemaFile, 'utf8');
  t.is(await readFile(compiledSchemaFile, 'utf8'), compiledSchemaSource(schema));
});

test('the fixture recipes validate too, and point editors at the shipped schema', async (t) => {
  for (const name of (await readdir(fixtureRecipesDir)).filter((n) => n.endsWith('.json'))) {
    const value = JSON.parse(await readFile(join(fixtureRecipesDir, name), 'utf8')) as { $schema?: string };
    t.notThrows(() => validateRecipe(value, name));
    t.is(value.$schema, '../../../recipes/schema.json');
  }
});

test('every pinned sha256 is 64 hex digits, every artifact cites where its sha256 was found and has a URL', async (t) => {
  const recipes = await loadRecipes();
  for (const recipe of recipes.values()) {
    for (const [version, entry] of Object.entries(recipe.versions)) {
      for (const artifact of entry.artifacts) {
        t.regex(artifact.sha256, /^[0-9a-f]{64}$/, `${recipe.name} ${version} ${artifact.file}`);
        t.true(artifact.sha256Source.length > 10, `${recipe.name} ${version} cites a source`);
        t.true(artifact.file.includes(version), `${artifact.file} names version ${version}`);
        t.true((artifact.urls ?? recipe.urlTemplates).length > 0);
      }
    }
  }
});

test('no two artifacts anywhere share a sha256 (a copy-paste slip would make --sources pick the wrong file)', async (t) => {
  const seen = new Map<string, string>();
  for (const recipe of (await loadRecipes()).values())
    for (const [version, entry] of Object.entries(recipe.versions))
      for (const a of entry.artifacts) {
        const where = `${recipe.name} ${version} ${a.file}`;
        t.false(seen.has(a.sha256), `${where} repeats the sha256 of ${seen.get(a.sha256)}`);
        seen.set(a.sha256, where);
      }
});

test('the default versions resolve together for Python 3.10+ and each default is the newest listed', async (t) => {
  const recipes = await loadRecipes();
  for (const recipe of recipes.values()) {
    const newest = Object.keys(recipe.versions).sort(compareVersionsDescending)[0];
    t.is(recipe.defaultVersion, newest, recipe.name);
  }
  for (const python of ['3.10.0', '3.11.2', '3.13.5']) {
    const resolved = resolve({ recipes, requests: {}, pythonVersion: python, features: noExpat });
    t.deepEqual(
      resolved.map((c) => c.name),
      ['pcre2', 'apr', 'apr-util', 'httpd', 'mod_wsgi'],
    );
    t.true(resolved.every((c) => c.version === recipes.get(c.name)!.defaultVersion));
  }
});

test('the versions the real-build CI uses are all present', async (t) => {
  const recipes = await loadRecipes();
  const want = { httpd: '2.4.68', apr: '1.7.5', 'apr-util': '1.6.3', pcre2: '10.46', mod_wsgi: '5.0.2' } as const;
  const resolved = resolve({ recipes, requests: want, pythonVersion: '3.11.2', features: noExpat });
  t.deepEqual(Object.fromEntries(resolved.map((c) => [c.name, c.version])), want);
  const modWsgi = resolved.find((c) => c.name === 'mod_wsgi')!;
  t.is(modWsgi.artifacts.length, 2, 'mod_wsgi 5.0.2 lists both the PyPI sdist and the GitHub tag archive');
  t.not(modWsgi.artifacts[0]!.sha256, modWsgi.artifacts[1]!.sha256);
});

/** A recipe as untyped JSON: the tests write values of the wrong type on purpose. */
// biome-ignore lint/suspicious/noExplicitAny: see above
type RecipeJson = Record<string, any>;

/** A valid recipe for the validator tests: each test breaks one thing. */
function minimal(): RecipeJson {
  return {
    name: 'httpd',
    description: 'x',
    homepage: 'https://example.invalid/',
    license: 'x',
    dependencies: [],
    mirrorPath: 'httpd/{file}',
    urlTemplates: ['https://example.invalid/{file}'],
    defaultVersion: '2.4.1',
    versions: { '2.4.1': { artifacts: [{ file: 'httpd-2.4.1.tar.gz', sha256: 'a'.repeat(64), sha256Source: 'x' }] } },
    patches: [],
    build: { configure: 'configure', configureArgs: [], parallelMake: true, makeTargets: [], installTargets: [], provides: [] },
  };
}

function problemsOf(t: import('ava').ExecutionContext, change: (r: RecipeJson) => void): string {
  const recipe = minimal();
  change(recipe);
  return t.throws(() => validateRecipe(recipe, 'my.json'), { instanceOf: RecipeError }).message;
}

test('validation names the file, the JSON path and the problem', (t) => {
  t.notThrows(() => validateRecipe(minimal(), 'my.json'));
  t.is(
    problemsOf(t, (r) => {
      r.versions['2.4.1'].artifacts[0].sha256 = 'abc';
    }),
    'my.json: versions["2.4.1"].artifacts[0].sha256: must be 64 lower-case hex digits',
  );
  t.is(
    problemsOf(t, (r) => {
      r.dependecies = r.dependencies;
      delete r.dependencies;
    }),
    'my.json: dependencies: is missing; dependecies: unknown field (did you mean "dependencies"?)',
  );
  t.is(
    problemsOf(t, (r) => {
      r.versions['2.4.x'] = r.versions['2.4.1'];
    }),
    'my.json: versions["2.4.x"]: the key must be an exact version like 2.4.68 or 10.46',
  );
  t.is(
    problemsOf(t, (r) => {
      r.build.configureArgs = ['--a', { if: 'ssl or zlib', args: [] }, 5, { if: 'ssl' }];
    }),
    'my.json: build.configureArgs[1].if: must be a condition: FEATURE, dep:NAME, !FEATURE or !dep:NAME; ' +
      'build.configureArgs[2]: must be a string or {"if": CONDITION, "args": [..]}; build.configureArgs[3].args: is missing',
  );
  t.is(
    problemsOf(t, (r) => {
      r.patches = [{ file: '../x.patch', sha256: 'a'.repeat(64), versions: '*', strip: -1, description: 'x' }];
      r.build.env = { LDFLAGS: 1 };
      r.root = 'yes';
    }),
    'my.json: root: must be true or false; patches[0].file: must be a bare file name; patches[0].strip: must be a non-negative integer; build.env.LDFLAGS: must be a string',
  );
});

test('an optional recipe names its feature, and a feature makes a recipe optional', (t) => {
  t.is(
    problemsOf(t, (r) => {
      r.optional = true;
    }),
    'my.json: feature: is needed when "optional" is true: the feature that brings the component into the build',
  );
  t.is(
    problemsOf(t, (r) => {
      r.feature = 'expat';
    }),
    'my.json: optional: must be true when the recipe names a "feature"',
  );
  t.is(
    problemsOf(t, (r) => {
      Object.assign(r, { optional: true, feature: 'expat', root: true });
    }),
    'my.json: optional: a root component cannot be optional: a build is for it',
  );
});

test('after the schema, the checks it cannot express: listed versions, semver ranges, URLs', (t) => {
  t.is(
    problemsOf(t, (r) => {
      r.defaultVersion = '2.4.2';
      r.tested = ['2.4.1', '2.4.3'];
      r.versions['2.4.1'].requires = { apr: '>=1.5 <<2', python: '>=3.8' };
      r.patches = [{ file: 'x.patch', sha256: 'a'.repeat(64), versions: 'newest', strip: 1, description: 'x' }];
    }),
    'my.json: defaultVersion: "2.4.2" is not one of the listed versions; tested[1]: "2.4.3" is not one of the listed versions; ' +
      'versions["2.4.1"].requires.apr: ">=1.5 <<2" is not a semver range; patches[0].versions: "newest" is not a semver range',
  );
  t.is(
    problemsOf(t, (r) => {
      r.urlTemplates = [];
    }),
    'my.json: versions["2.4.1"].artifacts[0].urls: needed when the recipe has no urlTemplates',
  );
  t.is(
    problemsOf(t, (r) => {
      r.mirrorPath = 'httpd/';
      r.urlTemplates = ['https://example.invalid/httpd.tar.gz'];
    }),
    'my.json: mirrorPath: must be a path that contains {file}; urlTemplates[0]: must be a URL that contains {file}',
  );
});

test('an overlay adds a version to a recipe and can override the default', async (t) => {
  const dir = await tempDir('overlay-');
  const sha = 'a'.repeat(64);
  await writeFile(
    join(dir, 'pcre2.json'),
    JSON.stringify({
      name: 'pcre2',
      defaultVersion: '10.100.0',
      versions: { '10.100.0': { artifacts: [{ file: 'pcre2-10.100.0.tar.gz', sha256: sha, sha256Source: 'internal mirror' }] } },
    }),
  );
  const recipes = await loadFixtureRecipes([dir]);
  const pcre2 = recipes.get('pcre2')!;
  t.is(pcre2.defaultVersion, '10.100.0');
  t.truthy(pcre2.versions['10.98'], 'the versions of the recipe overlaid stay');
  t.is(pcre2.origin, join(dir, 'pcre2.json'));
  t.is(pcre2.patchesDir, join(fixtureRecipesDir, 'patches', 'pcre2'), 'an overlay without patches keeps the patches of the recipe it overlays');
});

test('a partial overlay is checked on its own fields, then merged and checked as a whole', async (t) => {
  const dir = await tempDir('overlay-');
  const file = join(dir, 'httpd.json');
  await writeFile(file, '{"name": "httpd", "defaultVersion": "9.9.9"}');
  let error = await t.throwsAsync(loadFixtureRecipes([dir]), { instanceOf: RecipeError });
  t.is(error.message, `${file}: defaultVersion: "9.9.9" is not one of the listed versions`);
  await writeFile(file, '{"name": "httpd", "versions": ["2.4.100"], "dependencies": ["apr", "nope"]}');
  error = await t.throwsAsync(loadFixtureRecipes([dir]), { instanceOf: RecipeError });
  t.is(error.message, `${file}: versions: must map at least one version to its artifacts`);
  await writeFile(file, '{"name": "httpd", "dependencies": ["apr", "nope"]}');
  error = await t.throwsAsync(loadFixtureRecipes([dir]), { instanceOf: RecipeError });
  t.is(error.message, `${file}: dependencies[1]: no recipe is named "nope"`);
  await writeFile(file, '{"license": "MIT"}');
  error = await t.throwsAsync(loadFixtureRecipes([dir]), { instanceOf: RecipeError });
  t.is(error.message, `${file}: name: is missing`);
  await writeFile(file, '{not json');
  await t.throwsAsync(loadFixtureRecipes([dir]), { message: /not valid JSON/ });
});

test('an overlay of a new name adds a component, and must be a whole recipe; its patches are in the overlay', async (t) => {
  const dir = await tempDir('overlay-');
  const file = join(dir, 'mod_extra.json');
  await writeFile(file, JSON.stringify({ name: 'mod_extra', versions: minimal().versions }));
  const error = await t.throwsAsync(loadFixtureRecipes([dir]), { instanceOf: RecipeError });
  t.regex(error.message, new RegExp(`^${file}: description: is missing; homepage: is missing;`));
  await writeFile(file, JSON.stringify({ ...minimal(), name: 'mod_extra', dependencies: ['httpd'], root: true }));
  const recipes = await loadFixtureRecipes([dir]);
  t.is(recipes.get('mod_extra')!.patchesDir, join(dir, 'patches', 'mod_extra'));
  t.true(recipes.has('httpd'));
});

test('recipes read again in the same process: each caller gets its own copy of the checked set', async (t) => {
  const first = await loadRecipes();
  first.get('httpd')!.defaultVersion = 'changed by a caller';
  first.delete('apr');
  const second = await loadRecipes();
  t.not(second.get('httpd')!.defaultVersion, 'changed by a caller');
  t.true(second.has('apr'));
  t.deepEqual(second, await loadRecipes());
});

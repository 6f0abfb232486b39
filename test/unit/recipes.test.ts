import test from 'ava';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareVersionsDescending } from '../../src/recipe/version.js';
import { RecipeError } from '../../src/errors.js';
import { loadRecipes } from '../../src/recipe/load.js';
import { componentNames } from '../../src/recipe/types.js';
import { validateRecipe } from '../../src/recipe/validate.js';
import { resolve } from '../../src/resolve/resolve.js';

test('every built-in recipe validates, and every component has one', async (t) => {
  const recipes = await loadRecipes();
  t.deepEqual([...recipes.keys()].sort(), [...componentNames].sort());
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
    const resolved = resolve({ recipes, requests: {}, pythonVersion: python, buildExpat: false });
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
  const resolved = resolve({ recipes, requests: want, pythonVersion: '3.11.2', buildExpat: false });
  t.deepEqual(Object.fromEntries(resolved.map((c) => [c.name, c.version])), want);
  const modWsgi = resolved.find((c) => c.name === 'mod_wsgi')!;
  t.is(modWsgi.artifacts.length, 2, 'mod_wsgi 5.0.2 lists both the PyPI sdist and the GitHub tag archive');
  t.not(modWsgi.artifacts[0]!.sha256, modWsgi.artifacts[1]!.sha256);
});

test('validation names the file, the JSON path and the problem', (t) => {
  const error = t.throws(
    () =>
      validateRecipe(
        {
          name: 'httpd',
          description: 'x',
          homepage: 'x',
          license: 'x',
          dependencies: [],
          mirrorPath: 'httpd/{file}',
          urlTemplates: ['https://example.invalid/{file}'],
          defaultVersion: '2.4.1',
          versions: { '2.4.1': { artifacts: [{ file: 'httpd-2.4.1.tar.gz', sha256: 'abc', sha256Source: 'x' }] } },
          patches: [],
          build: { configure: 'configure', configureArgs: [], parallelMake: true, makeTargets: [], installTargets: [], provides: [] },
        },
        'my.json',
      ),
    { instanceOf: RecipeError },
  );
  t.regex(error.message, /^my\.json: versions\["2\.4\.1"\]\.artifacts\[0\]\.sha256: must be 64 lower-case hex digits$/);
});

test('an overlay adds a version to a built-in recipe and can override the default', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'overlay-'));
  const sha = 'a'.repeat(64);
  await writeFile(
    join(dir, 'pcre2.json'),
    JSON.stringify({
      name: 'pcre2',
      defaultVersion: '10.99.0',
      versions: { '10.99.0': { artifacts: [{ file: 'pcre2-10.99.0.tar.gz', sha256: sha, sha256Source: 'internal mirror' }] } },
    }),
  );
  const recipes = await loadRecipes([dir]);
  const pcre2 = recipes.get('pcre2')!;
  t.is(pcre2.defaultVersion, '10.99.0');
  t.truthy(pcre2.versions['10.46'], 'built-in versions stay');
  t.is(pcre2.origin, join(dir, 'pcre2.json'));
});

test('a broken overlay is refused with its file name', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'overlay-'));
  await writeFile(join(dir, 'httpd.json'), '{"name": "httpd", "defaultVersion": "9.9.9"}');
  const error = await t.throwsAsync(loadRecipes([dir]), { instanceOf: RecipeError });
  t.true(error.message.startsWith(join(dir, 'httpd.json')));
  t.regex(error.message, /defaultVersion: "9\.9\.9" is not one of the listed versions/);
  await writeFile(join(dir, 'httpd.json'), '{not json');
  await t.throwsAsync(loadRecipes([dir]), { message: /not valid JSON/ });
});

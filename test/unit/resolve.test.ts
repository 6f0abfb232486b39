import { removeTempDirs, tempDir } from '../helpers/temp.js';
import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ResolveError } from '../../src/errors.js';
import { evaluateArgs, lockComponents } from '../../src/resolve/lock.js';
import { resolve, selectComponents } from '../../src/resolve/resolve.js';
import { loadFixtureRecipes } from '../helpers/fixtures.js';

const recipes = await loadFixtureRecipes();
const noExpat = { ssl: true, zlib: true, expat: false };

async function overlayDir(files: Record<string, unknown>): Promise<string> {
  const dir = await tempDir('overlay-');
  for (const [name, value] of Object.entries(files)) await writeFile(join(dir, `${name}.json`), JSON.stringify(value));
  return dir;
}

test.after.always(removeTempDirs);

test('exact versions and semver ranges pick the newest match', (t) => {
  const resolved = resolve({ recipes, requests: { httpd: '~2.4.90 <2.4.99', pcre2: '10.98' }, pythonVersion: '3.11.2', features: noExpat });
  const byName = Object.fromEntries(resolved.map((c) => [c.name, c.version]));
  t.is(byName.httpd, '2.4.98');
  t.is(byName.pcre2, '10.98');
  t.true(resolved.find((c) => c.name === 'httpd')!.requested);
  t.false(resolved.find((c) => c.name === 'apr')!.requested);
});

test('an unknown version lists the known ones and points at overlays', (t) => {
  const error = t.throws(() => resolve({ recipes, requests: { httpd: '2.4.1' }, pythonVersion: '3.11.2', features: noExpat }), {
    instanceOf: ResolveError,
  });
  t.is(error.message, 'no httpd version matches "2.4.1" (known: 2.4.99, 2.4.98, 2.4.90)');
  t.regex(error.hint, /--recipes DIR/);
});

test('a version that needs a newer Python: the default falls back to an older one for an old Python', (t) => {
  t.is(resolve({ recipes, requests: {}, pythonVersion: '3.11.2', features: noExpat }).find((c) => c.name === 'mod_wsgi')!.version, '9.0.0');
  const resolved = resolve({ recipes, requests: {}, pythonVersion: '3.5.10', features: noExpat });
  t.is(resolved.find((c) => c.name === 'mod_wsgi')!.version, '8.0.0');
});

test('an explicit version that needs a newer Python is a conflict naming both sides', (t) => {
  const error = t.throws(() => resolve({ recipes, requests: { mod_wsgi: '9.0.0' }, pythonVersion: '3.5.10', features: noExpat }), {
    instanceOf: ResolveError,
  });
  t.is(error.message, 'mod_wsgi 9.0.0 needs Python >=3.6, but the Python is 3.5.10');
  t.regex(error.hint, /--mod-wsgi VERSION/);
  t.regex(error.hint, /supports Python 3\.5: 8\.0\.0/, 'the hint names the versions that do support it');
});

test('a Python no mod_wsgi in the recipes supports: the error names the range they support, not a version to choose', (t) => {
  const error = t.throws(() => resolve({ recipes, requests: {}, pythonVersion: '3.3.7', features: noExpat }), { instanceOf: ResolveError });
  const lowest = Object.values(recipes.get('mod_wsgi')!.versions)
    .map((v) => v.requires!.python!.replace('>=', ''))
    .sort((a, b) => Number(a.split('.')[1]) - Number(b.split('.')[1]))[0]!;
  t.is(error.message, `no mod_wsgi version in the recipes supports Python 3.3 (they support >=${lowest})`);
  t.notRegex(error.hint, /choose a mod_wsgi version/);
  t.regex(error.hint, /--python PATH/);
  t.regex(error.hint, /--recipes DIR/);
});

test('APR-util 1.x needs APR 1.x: an APR 2 from an overlay conflicts', async (t) => {
  const dir = await overlayDir({
    apr: { name: 'apr', versions: { '2.0.0': { artifacts: [{ file: 'apr-2.0.0.tar.gz', sha256: 'b'.repeat(64), sha256Source: 'test' }] } } },
  });
  const withApr2 = await loadFixtureRecipes([dir]);
  const error = t.throws(() => resolve({ recipes: withApr2, requests: { apr: '2.0.0' }, pythonVersion: '3.11.2', features: noExpat }), {
    instanceOf: ResolveError,
  });
  t.is(error.message, 'apr-util 1.9.0 needs apr >=1.3.0 <2, but apr 2.0.0 was chosen');
});

test('the build is the root and what it depends on; an optional component joins when its feature is on', (t) => {
  t.deepEqual(selectComponents(recipes, noExpat, 'source'), ['pcre2', 'apr', 'apr-util', 'httpd', 'mod_wsgi']);
  t.deepEqual(selectComponents(recipes, { ...noExpat, expat: true }, 'source'), ['pcre2', 'apr', 'expat', 'apr-util', 'httpd', 'mod_wsgi']);
});

test('--httpd system builds only the recipes marked withSystemApache', (t) => {
  t.deepEqual(selectComponents(recipes, noExpat, 'system'), ['mod_wsgi']);
  t.deepEqual(selectComponents(recipes, { ...noExpat, expat: true }, 'system'), ['mod_wsgi']);
});

test('roots, features and system Apache come from the recipes: an overlay can add a second root', async (t) => {
  const extra = {
    name: 'mod_extra',
    description: 'x',
    homepage: 'https://x.invalid/',
    license: 'MIT',
    dependencies: ['httpd', 'zz_helper'],
    root: true,
    mirrorPath: 'mod_extra/{file}',
    urlTemplates: ['https://x.invalid/{file}'],
    defaultVersion: '1.0.0',
    versions: { '1.0.0': { artifacts: [{ file: 'mod_extra-1.0.0.tar.gz', sha256: 'c'.repeat(64), sha256Source: 'test' }] } },
    patches: [],
    build: { configure: 'configure', configureArgs: [], parallelMake: true, makeTargets: [], installTargets: ['install'], provides: [] },
  };
  const helper = { ...extra, name: 'zz_helper', dependencies: [], root: undefined, optional: true, feature: 'ssl' };
  const withExtra = await loadFixtureRecipes([await overlayDir({ mod_extra: extra, zz_helper: helper })]);
  t.deepEqual(selectComponents(withExtra, noExpat, 'source'), ['pcre2', 'apr', 'apr-util', 'httpd', 'zz_helper', 'mod_extra', 'mod_wsgi']);
  t.deepEqual(selectComponents(withExtra, { ...noExpat, ssl: false }, 'source'), ['pcre2', 'apr', 'apr-util', 'httpd', 'mod_extra', 'mod_wsgi']);
  t.deepEqual(selectComponents(withExtra, noExpat, 'system'), ['mod_wsgi'], 'mod_extra is not marked withSystemApache');

  const unknownFeature = await loadFixtureRecipes([await overlayDir({ mod_extra: extra, zz_helper: { ...helper, feature: 'ldap' } })]);
  const error = t.throws(() => selectComponents(unknownFeature, noExpat, 'source'), { instanceOf: ResolveError });
  t.is(error.message, 'zz_helper is optional on the feature "ldap", which this build does not decide');
  t.regex(error.hint, /ssl, zlib, expat/);
});

test('a set without a root, or without a root that builds against a system Apache, is refused', async (t) => {
  const notRoot = await loadFixtureRecipes([await overlayDir({ mod_wsgi: { name: 'mod_wsgi', root: false } })]);
  t.throws(() => selectComponents(notRoot, noExpat, 'source'), { instanceOf: ResolveError, message: /no recipe is a root/ });
  const notSystem = await loadFixtureRecipes([await overlayDir({ mod_wsgi: { name: 'mod_wsgi', withSystemApache: false } })]);
  t.deepEqual(selectComponents(notSystem, noExpat, 'source'), ['pcre2', 'apr', 'apr-util', 'httpd', 'mod_wsgi']);
  const error = t.throws(() => selectComponents(notSystem, noExpat, 'system'), { instanceOf: ResolveError });
  t.regex(error.message, /none of the components a build is for \(mod_wsgi\) builds against a system Apache/);
});

test('conditional configure arguments follow the features, whatever their names', (t) => {
  const args = ['--a', { if: 'ssl', args: ['--enable-ssl'] }, { if: '!ssl', args: ['--disable-ssl'] }, { if: 'dep:expat', args: ['--with-expat=x'] }];
  t.deepEqual(evaluateArgs(args, { ssl: true, zlib: false, expat: false }, ['apr']), ['--a', '--enable-ssl']);
  t.deepEqual(evaluateArgs(args, { ssl: false, zlib: false, expat: true }, ['expat']), ['--a', '--disable-ssl', '--with-expat=x']);
  t.deepEqual(evaluateArgs([{ if: '!ldap', args: ['--without-ldap'] }], { ldap: false }, []), ['--without-ldap']);
  const error = t.throws(() => evaluateArgs([{ if: 'bogus', args: [] }], { ssl: true, zlib: true, expat: true }, []), {
    message: /unknown recipe condition "bogus"/,
  });
  t.regex((error as { hint?: string }).hint ?? '', /ssl, zlib, expat, dep:NAME/);
});

test('a locked httpd carries mod_ssl and deflate flags exactly when the features say so', (t) => {
  const features = { ssl: true, zlib: true, expat: true };
  const resolved = resolve({ recipes, requests: {}, pythonVersion: '3.11.2', features });
  const on = lockComponents(resolved, features);
  const httpdOn = on.find((c) => c.name === 'httpd')!;
  t.true(httpdOn.configureArgs.includes('--enable-ssl'));
  t.true(httpdOn.configureArgs.includes('--enable-deflate'));
  t.true(on.find((c) => c.name === 'apr-util')!.configureArgs.includes('--with-expat={prefix}'));
  const off = lockComponents(resolved, { ssl: false, zlib: false, expat: true });
  t.true(off.find((c) => c.name === 'httpd')!.configureArgs.includes('--disable-ssl'));
});

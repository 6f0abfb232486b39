import test from 'ava';
import { ResolveError } from '../../src/errors.js';
import { loadRecipes } from '../../src/recipe/load.js';
import { evaluateArgs, lockComponents } from '../../src/resolve/lock.js';
import { resolve, selectComponents } from '../../src/resolve/resolve.js';

const recipes = await loadRecipes();

test('exact versions and semver ranges pick the newest match', (t) => {
  const resolved = resolve({ recipes, requests: { httpd: '~2.4.60 <2.4.69', pcre2: '10.46' }, pythonVersion: '3.11.2', buildExpat: false });
  const byName = Object.fromEntries(resolved.map((c) => [c.name, c.version]));
  t.is(byName.httpd, '2.4.68');
  t.is(byName.pcre2, '10.46');
  t.true(resolved.find((c) => c.name === 'httpd')!.requested);
  t.false(resolved.find((c) => c.name === 'apr')!.requested);
});

test('an unknown version lists the known ones and points at overlays', (t) => {
  const error = t.throws(() => resolve({ recipes, requests: { httpd: '2.4.1' }, pythonVersion: '3.11.2', buildExpat: false }), {
    instanceOf: ResolveError,
  });
  t.regex(error.message, /no httpd version matches "2\.4\.1" \(known: 2\.4\.71, /);
  t.regex(error.hint, /--recipes DIR/);
});

test('mod_wsgi 6 needs Python >= 3.10: the default falls back to 5.x for an old Python', (t) => {
  const resolved = resolve({ recipes, requests: {}, pythonVersion: '3.9.18', buildExpat: false });
  t.is(resolved.find((c) => c.name === 'mod_wsgi')!.version, '5.0.2');
});

test('an explicit mod_wsgi 6 with Python 3.9 is a conflict naming both sides', (t) => {
  const error = t.throws(() => resolve({ recipes, requests: { mod_wsgi: '6.0.5' }, pythonVersion: '3.9.18', buildExpat: false }), {
    instanceOf: ResolveError,
  });
  t.is(error.message, 'mod_wsgi 6.0.5 needs Python >=3.10, but the Python is 3.9.18');
  t.regex(error.hint, /--mod-wsgi VERSION/);
  t.regex(error.hint, /supports Python 3\.9: 5\.0\.2, 5\.0\.1 /, 'the hint names the versions that do support it');
});

test('a Python no mod_wsgi in the recipes supports: the error names the range they support, not a version to choose', (t) => {
  const error = t.throws(() => resolve({ recipes, requests: {}, pythonVersion: '3.6.15', buildExpat: false }), { instanceOf: ResolveError });
  const lowest = Object.values(recipes.get('mod_wsgi')!.versions)
    .map((v) => v.requires!.python!.replace('>=', ''))
    .sort((a, b) => Number(a.split('.')[1]) - Number(b.split('.')[1]))[0]!;
  t.is(error.message, `no mod_wsgi version in the recipes supports Python 3.6 (they support >=${lowest})`);
  t.notRegex(error.hint, /choose a mod_wsgi version/);
  t.regex(error.hint, /--python PATH/);
  t.regex(error.hint, /--recipes DIR/);
});

test('APR-util 1.6 needs APR 1.x: an APR 2 from an overlay conflicts', async (t) => {
  const { mkdtemp, writeFile } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = await mkdtemp(join(tmpdir(), 'apr2-'));
  await writeFile(
    join(dir, 'apr.json'),
    JSON.stringify({
      name: 'apr',
      versions: { '2.0.0': { artifacts: [{ file: 'apr-2.0.0.tar.gz', sha256: 'b'.repeat(64), sha256Source: 'test' }] } },
    }),
  );
  const withApr2 = await loadRecipes([dir]);
  const error = t.throws(() => resolve({ recipes: withApr2, requests: { apr: '2.0.0' }, pythonVersion: '3.11.2', buildExpat: false }), {
    instanceOf: ResolveError,
  });
  t.regex(error.message, /^apr-util 1\.6\.5 needs apr >=1\.3\.0 <2, but apr 2\.0\.0 was chosen$/);
});

test('expat joins the build only when asked, before apr-util', (t) => {
  t.deepEqual(selectComponents(recipes, false, 'source'), ['pcre2', 'apr', 'apr-util', 'httpd', 'mod_wsgi']);
  const withExpat = selectComponents(recipes, true, 'source');
  t.true(withExpat.indexOf('expat') < withExpat.indexOf('apr-util'));
  t.deepEqual(selectComponents(recipes, false, 'system'), ['mod_wsgi']);
});

test('conditional configure arguments follow the features', (t) => {
  const args = ['--a', { if: 'ssl', args: ['--enable-ssl'] }, { if: '!ssl', args: ['--disable-ssl'] }, { if: 'dep:expat', args: ['--with-expat=x'] }];
  t.deepEqual(evaluateArgs(args, { ssl: true, zlib: false, expat: false }, ['apr']), ['--a', '--enable-ssl']);
  t.deepEqual(evaluateArgs(args, { ssl: false, zlib: false, expat: true }, ['expat']), ['--a', '--disable-ssl', '--with-expat=x']);
  t.throws(() => evaluateArgs([{ if: 'bogus', args: [] }], { ssl: true, zlib: true, expat: true }, []), {
    message: /unknown recipe condition "bogus"/,
  });
});

test('a locked httpd carries mod_ssl and deflate flags exactly when the features say so', (t) => {
  const resolved = resolve({ recipes, requests: {}, pythonVersion: '3.11.2', buildExpat: true });
  const on = lockComponents(resolved, { ssl: true, zlib: true, expat: true });
  const httpdOn = on.find((c) => c.name === 'httpd')!;
  t.true(httpdOn.configureArgs.includes('--enable-ssl'));
  t.true(httpdOn.configureArgs.includes('--enable-deflate'));
  t.true(on.find((c) => c.name === 'apr-util')!.configureArgs.includes('--with-expat={prefix}'));
  const off = lockComponents(resolved, { ssl: false, zlib: false, expat: true });
  t.true(off.find((c) => c.name === 'httpd')!.configureArgs.includes('--disable-ssl'));
});

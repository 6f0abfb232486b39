/**
 * What can be known before the first download or compile fails there, in seconds, with one true message: versions
 * missing from --sources (naming what the directory holds and the flags that build it), a Python no mod_wsgi in the
 * recipes supports (naming the range they support), and a --lock build without a compiler (naming the compiler, not
 * OpenSSL headers it could not look for).
 */
import test from 'ava';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { closeFixtureWorld, type FixtureWorld, openFixtureWorld } from '../helpers/fixture-world.js';
import { type FixtureSet, makeFixtureSet } from '../helpers/fixtures.js';

let world: FixtureWorld | undefined;
let work: string;
let fixtures: FixtureSet;

test.before(async () => {
  world = await openFixtureWorld('before-compile');
  ({ work, fixtures } = world);
});

test.after.always(() => closeFixtureWorld(world));

const envFor = (name: string): NodeJS.ProcessEnv => ({ WSGI_HTTPD_CACHE_DIR: join(work, `cache-${name}`), WSGI_HTTPD_PREFIX: '', VIRTUAL_ENV: '' });

test('--offline with --sources that hold other versions: exit 4 at once, naming what is there and the flags that build it', async (t) => {
  const other = { pcre2: '10.98', apr: '1.8.9', 'apr-util': '1.8.9', httpd: '2.4.98', mod_wsgi: '8.9.9' } as const;
  const held = await makeFixtureSet(join(work, 'other-versions'), {
    components: ['pcre2', 'apr', 'apr-util', 'httpd', 'mod_wsgi'],
    versions: other,
  });
  // The recipes know both sets (the default set first); --sources holds only the other one.
  const adds = join(work, 'other-versions-overlay');
  await mkdir(adds, { recursive: true });
  for (const [name, recipe] of Object.entries(held.recipes))
    await writeFile(join(adds, `${name}.json`), JSON.stringify({ name, versions: recipe.versions }));
  const prefix = join(work, 'offline-prefix');
  const common = [
    '--recipes',
    fixtures.recipesDir,
    '--recipes',
    adds,
    '--sources',
    held.sourcesDir,
    '--offline',
    '--python',
    '/usr/bin/python3',
    '--no-verify',
    '--plain',
  ];
  const env = envFor('offline-versions');
  const result = await runCli(['build', '--prefix', prefix, ...common], { env });
  t.is(result.code, 4, result.stderr);
  const holds = /\(the --sources directories hold (.+?)\) \(fix: build what is there: (.+?) \(or --tested/.exec(result.stderr);
  t.truthy(holds, result.stderr);
  t.deepEqual(holds![1]!.split(', ').sort(), ['apr 1.8.9', 'apr-util 1.8.9', 'httpd 2.4.98', 'mod_wsgi 8.9.9', 'pcre2 10.98']);
  const flags = holds![2]!.split(' ');
  t.deepEqual(
    flags
      .join(' ')
      .split(/ (?=--)/)
      .sort(),
    ['--apr 1.8.9', '--apr-util 1.8.9', '--httpd 2.4.98', '--mod-wsgi 8.9.9', '--pcre2 10.98'],
  );
  t.false(existsSync(prefix), 'the prefix was not created');
  t.false(existsSync(join(env.WSGI_HTTPD_CACHE_DIR!, 'layers')), 'nothing was built');
  t.notRegex(result.stdout, /configure|download/, 'no component started');

  const withFlags = await runCli(['build', '--prefix', prefix, ...common, ...flags], { env });
  t.is(withFlags.code, 0, withFlags.stderr);
  t.regex(withFlags.stdout, /^ {2}httpd\s+2\.4\.98\s/m, 'the suggested flags build what --sources holds');
});

test('--lock without a compiler on PATH: exit 3 naming the compiler, not OpenSSL headers it could not look for', async (t) => {
  const lock = join(work, 'with-ssl.lock.json');
  const written = await runCli(['lock', '--python', '/usr/bin/python3', '--with-ssl', '--recipes', fixtures.recipesDir, '--output', lock], {
    env: envFor('lock'),
  });
  t.is(written.code, 0, written.stderr);
  t.true(JSON.parse(await readFile(lock, 'utf8')).features.ssl, 'the lock asks for mod_ssl');

  const emptyPath = join(work, 'empty-path');
  await mkdir(emptyPath, { recursive: true });
  const prefix = join(work, 'lock-prefix');
  const result = await runCli(
    [
      'build',
      '--prefix',
      prefix,
      '--lock',
      lock,
      '--recipes',
      fixtures.recipesDir,
      '--sources',
      fixtures.sourcesDir,
      '--offline',
      '--python',
      '/usr/bin/python3',
      '--plain',
    ],
    { env: { ...envFor('lock'), PATH: emptyPath } },
  );
  t.is(result.code, 3, result.stderr);
  t.regex(
    result.stderr.trim().split('\n').at(-1)!,
    /^wsgi-toolchain: error: C compiler: no C compiler \(cc, gcc or clang\) on PATH \(fix: install it: apt-get install build-essential/,
  );
  t.notRegex(result.stderr, /--with-ssl was asked for|OpenSSL headers \(openssl\/ssl\.h\) are not installed|mod_ssl will not be built/);
  t.regex(result.stderr, /^WARN\s+OpenSSL headers\s+not checked: no C compiler to look for openssl\/ssl\.h$/m);
  t.false(existsSync(prefix));
});

const python36 = existsSync('/root/.pyenv/versions')
  ? readdirSync('/root/.pyenv/versions')
      .filter((v) => /^3\.6\./.test(v))
      .map((v) => `/root/.pyenv/versions/${v}/bin/python`)
      .find((p) => existsSync(p))
  : undefined;
const with36 = python36 ? test : process.env.CI ? test : test.skip;

with36(
  python36
    ? 'Python 3.6: exit 2 before any download, naming the Pythons the mod_wsgi recipes support'
    : 'Python 3.6 (skipped: no /root/.pyenv/versions/3.6.*)',
  async (t) => {
    t.truthy(python36, 'CI must have a Python 3.6 under /root/.pyenv/versions');
    const env = envFor('python36');
    const result = await runCli(['build', '--prefix', join(work, 'p36'), '--python', python36!, '--plain'], { env });
    t.is(result.code, 2, result.stderr);
    t.regex(
      result.stderr.trim().split('\n').at(-1)!,
      /^wsgi-toolchain: error: no mod_wsgi version in the recipes supports Python 3\.6 \(they support >=3\.\d+\) \(fix: use a Python the recipes support \(--python PATH\)/,
    );
    t.notRegex(result.stderr, /choose a mod_wsgi version/);
    t.false(existsSync(join(env.WSGI_HTTPD_CACHE_DIR!, 'downloads')), 'nothing was downloaded');
  },
);

test('no message names a flag that does not exist (--without-expat-build)', async (t) => {
  const { repoRoot } = await import('../helpers/cli.js');
  const files = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
    );
  const texts = await Promise.all(
    [...files(join(repoRoot, 'src')), join(repoRoot, 'README.md')].map(async (f) => [f, await readFile(f, 'utf8')] as const),
  );
  t.deepEqual(
    texts.filter(([, text]) => text.includes('--without-expat-build')).map(([f]) => f),
    [],
  );
  const help = await runCli(['build', '--help']);
  t.regex(help.stdout + help.stderr, /--without-expat\b/, 'the flag the hints name is the one build --help lists');
});

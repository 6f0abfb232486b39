/**
 * Packs the small C projects under test/fixtures/projects/ into release-style tarballs and writes overlay recipes for
 * them, so tests can drive the real pipeline (download, sha256, unpack, ./configure, make, make install) in seconds.
 *
 * The fixture recipes, test/fixtures/recipes/NAME.json, describe each project: NAME is built from
 * test/fixtures/projects/NAME, whose hand-written configure accepts the arguments the recipe passes (the same as the
 * shipped recipe of that name) and whose `make install` produces the files the recipe's `provides` names (see the
 * comments in each project's configure). Unit tests load them as they are (loadFixtureRecipes: several versions,
 * none of them downloadable); makeFixtureSet packs each default version and writes its recipe with that tarball's
 * sha256. Another directory of fixture recipes (`recipeDirs`) adds components the same way: a recipe and a project.
 * The tarballs are reproducible: same inputs, same bytes, same sha256.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile, appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { create as createTar } from 'tar';
import { loadRecipes, type RecipeSet } from '../../src/recipe/load.js';
import type { Recipe } from '../../src/recipe/types.js';

export type BrokenStep = 'configure' | 'make';
/** A step of a "slow" fixture variant that sleeps (see FixtureOptions.slow). */
export type SlowStep = 'configure' | 'make' | 'install';

export interface FixtureFile {
  component: string;
  version: string;
  /** File name, e.g. "apr-1.9.0.tar.gz"; it sits at `<sourcesDir>/<component>/<file>`. */
  file: string;
  sha256: string;
}

export interface FixtureSet {
  /** Tarballs in the mirror layout `<component>/<file>`: serve it with the loopback server, or use it as --sources. */
  sourcesDir: string;
  /** Overlay recipes, `<component>.json`, in the format of recipes/*.json. */
  recipesDir: string;
  files: FixtureFile[];
  /** The version packed for each component in the set. */
  versions: Record<string, string>;
  /** The overlay recipes as written to recipesDir. */
  recipes: Record<string, Recipe>;
}

export interface FixtureOptions {
  /** Loopback server URL; the recipes download from `<baseUrl>/<component>/{file}`. Without it they point at
   * unreachableUrl (connection refused), for runs that use --sources/--mirror or the cache. */
  baseUrl?: string;
  /** Components whose tarball fails in that step: configure exits 77 "C compiler cannot create executables", or
   * make stops at a C syntax error ("error: expected ';'"). A broken tarball has its own sha256. */
  broken?: Partial<Record<string, BrokenStep>>;
  /** Versions other than the fixture recipe's default (the version is written into the tarball and reported by the
   * build). */
  versions?: Partial<Record<string, string>>;
  /** Default: every recipe of recipeDirs. */
  components?: readonly string[];
  /** Directories of fixture recipes, each NAME.json packed from test/fixtures/projects/NAME. Default: fixtureRecipesDir
   * (the six components); a test that adds a component passes its own directory too. */
  recipeDirs?: readonly string[];
  /** Makes apr-util's configure behave as on a system without expat headers (the autoconf cache variable
   * ac_cv_header_expat_h=no in the recipe's build.env), unless expat is built (--with-expat={prefix}). */
  noSystemExpat?: boolean;
  /** Components whose tarball sleeps `slowSeconds` in that step (configure, make, or make install), to interrupt a
   * build there: the marker file build-aux/fixture-slow ("STEP SECONDS") is read by build-aux/fixture-slow.sh, which
   * configure (first thing) or the Makefile (a prerequisite of `all` / `install`) runs. It prints
   * "fixture: slow STEP, sleeping N s" and then execs `sleep N` in the source directory. A slow tarball has its own
   * sha256; components not named here are packed exactly as without the option. */
  slow?: Partial<Record<string, SlowStep>>;
  /** Default 5. */
  slowSeconds?: number;
}

export const fixturesDir = fileURLToPath(new URL('../fixtures/', import.meta.url));
export const projectsDir = join(fixturesDir, 'projects');
/** The fixture recipe set: the six components, self-contained (they never read recipes/*.json). */
export const fixtureRecipesDir = join(fixturesDir, 'recipes');
const sharedDir = join(projectsDir, '_shared');

/** The fixture recipes as the tool loads them, in place of the built-in ones (patches under fixtureRecipesDir/patches). */
export function loadFixtureRecipes(overlayDirs: string[] = []): Promise<RecipeSet> {
  return loadRecipes(overlayDirs, { recipesDir: fixtureRecipesDir, patchesDir: join(fixtureRecipesDir, 'patches') });
}

async function readFixtureRecipes(dirs: readonly string[]): Promise<Map<string, Recipe>> {
  const recipes = new Map<string, Recipe>();
  for (const dir of dirs)
    for (const name of (await readdir(dir)).filter((n) => n.endsWith('.json')).sort()) {
      const recipe = JSON.parse(await readFile(join(dir, name), 'utf8')) as Recipe;
      recipes.set(recipe.name, recipe);
    }
  return recipes;
}

/** The version makeFixtureSet packs for each fixture recipe (its default version), e.g. httpd 2.4.99. */
export const fixtureVersions: Readonly<Record<string, string>> = Object.fromEntries(
  [...(await readFixtureRecipes([fixtureRecipesDir])).values()].map((r) => [r.name, r.defaultVersion]),
);

/** The source file a broken 'make' variant appends a syntax error to. */
const brokenSource: Readonly<Record<string, string>> = {
  expat: 'lib/xmlparse.c',
  pcre2: 'src/pcre2_match.c',
  apr: 'src/apr_strings.c',
  'apr-util': 'src/apu_xml.c',
  httpd: 'server/main.c',
  mod_wsgi: 'src/server/mod_wsgi.c',
};

/** Without a baseUrl the recipes still need a download URL (the recipe validator insists), but must never reach the
 * internet: nothing listens on the loopback discard port, so a download there fails at once (ECONNREFUSED). */
export const unreachableUrl = 'http://127.0.0.1:9';

/** Every entry gets this mtime, so a tarball's bytes depend on its contents only. */
const fixedMtime = new Date('2024-01-01T00:00:00Z');

export async function makeFixtureSet(workDir: string, opts: FixtureOptions = {}): Promise<FixtureSet> {
  const templates = await readFixtureRecipes(opts.recipeDirs ?? [fixtureRecipesDir]);
  const components = opts.components ?? [...templates.keys()];
  for (const name of [...components, ...Object.keys(opts.broken ?? {}), ...Object.keys(opts.slow ?? {})]) {
    if (!templates.has(name)) throw new Error(`makeFixtureSet: no fixture recipe named ${name}`);
  }
  const sourcesDir = join(workDir, 'sources');
  const recipesDir = join(workDir, 'recipes');
  await mkdir(sourcesDir, { recursive: true });
  await mkdir(recipesDir, { recursive: true });
  const stageRoot = await mkdtemp(join(workDir, '.stage-'));
  const set: FixtureSet = { sourcesDir, recipesDir, files: [], versions: {}, recipes: {} };
  try {
    const results = await Promise.all(
      components.map(async (name) => {
        const template = templates.get(name)!;
        const version = opts.versions?.[name] ?? template.defaultVersion;
        const broken = opts.broken?.[name];
        const file = `${name}-${version}.tar.gz`;
        await mkdir(join(sourcesDir, name), { recursive: true });
        const tarball = join(sourcesDir, name, file);
        const slow = opts.slow?.[name] ? { step: opts.slow[name]!, seconds: opts.slowSeconds ?? 5 } : undefined;
        await packProject(name, version, broken, join(stageRoot, name), tarball, slow);
        const sha256 = await sha256File(tarball);
        const recipe = overlayRecipe(template, version, file, sha256, opts);
        await writeFile(join(recipesDir, `${name}.json`), `${JSON.stringify(recipe, null, 2)}\n`);
        return { name, version, file, sha256, recipe };
      }),
    );
    for (const r of results) {
      set.files.push({ component: r.name, version: r.version, file: r.file, sha256: r.sha256 });
      set.versions[r.name] = r.version;
      set.recipes[r.name] = r.recipe;
    }
  } finally {
    await rm(stageRoot, { recursive: true, force: true });
  }
  return set;
}

async function packProject(
  name: string,
  version: string,
  broken: BrokenStep | undefined,
  stageDir: string,
  tarball: string,
  slow?: { step: SlowStep; seconds: number },
): Promise<void> {
  const top = `${name}-${version}`;
  const tree = join(stageDir, top);
  await copyTree(join(projectsDir, name), tree);
  await mkdir(join(tree, 'build-aux'), { recursive: true });
  await copyFile(join(sharedDir, 'configure-lib.sh'), join(tree, 'build-aux', 'configure-lib.sh'));
  await chmod(join(tree, 'build-aux', 'configure-lib.sh'), 0o644);
  await writeFile(join(tree, 'VERSION'), `${version}\n`);
  if (broken === 'configure') {
    // configure adds this flag to its "whether the C compiler works" check, which then really fails
    await writeFile(join(tree, 'build-aux', 'fixture-broken-configure'), '-fwsgi-httpd-fixture-broken-compiler\n');
  } else if (broken === 'make') {
    if (!brokenSource[name]) throw new Error(`makeFixtureSet: no source file to break for ${name} (see brokenSource)`);
    await appendFile(join(tree, brokenSource[name]), '\n/* broken fixture variant */\nint fixture_broken_build(void) { return 1 }\n');
  }
  if (slow) await makeSlow(tree, slow.step, slow.seconds);
  const entries = [top, ...(await listTree(tree)).map((p) => `${top}/${p}`)];
  await createTar({ file: tarball, cwd: stageDir, gzip: true, portable: true, mtime: fixedMtime, noDirRecurse: true, noPax: true }, entries);
}

const slowScript = `#!/bin/sh
# fixture-slow.sh STEP: the "slow" test variant sleeps in the step named in build-aux/fixture-slow ("STEP SECONDS").
dir=\`dirname "$0"\`
read fx_slow_step fx_slow_seconds <"$dir/fixture-slow"
test "$fx_slow_step" = "$1" || exit 0
echo "fixture: slow $1, sleeping $fx_slow_seconds s"
exec sleep "$fx_slow_seconds"
`;

/** Makes `step` of the project in `tree` sleep (see FixtureOptions.slow). */
async function makeSlow(tree: string, step: SlowStep, seconds: number): Promise<void> {
  await writeFile(join(tree, 'build-aux', 'fixture-slow'), `${step} ${seconds}\n`);
  await writeFile(join(tree, 'build-aux', 'fixture-slow.sh'), slowScript);
  await chmod(join(tree, 'build-aux', 'fixture-slow.sh'), 0o755);
  const configure = (await readFile(join(tree, 'configure'), 'utf8')).split('\n');
  configure.splice(1, 0, 'sh "`dirname "$0"`/build-aux/fixture-slow.sh" configure');
  await writeFile(join(tree, 'configure'), configure.join('\n'));
  const makefile = await readFile(join(tree, 'Makefile.in'), 'utf8');
  if (!/^all:/m.test(makefile) || !/^install:/m.test(makefile)) throw new Error(`makeSlow: ${tree}/Makefile.in has no all: or install: rule`);
  await writeFile(
    join(tree, 'Makefile.in'),
    makefile.replace(/^all:/m, 'all: fixture-slow-make').replace(/^install:/m, 'install: fixture-slow-install') +
      // stamp files, so `make install` (which depends on all) does not sleep the make step's sleep again
      '\nfixture-slow-make fixture-slow-install:\n\tsh $(srcdir)/build-aux/fixture-slow.sh $(@:fixture-slow-%=%) && touch $@\n',
  );
}

/** Copies a project's source files (never build products left by a manual configure/make in the checkout). */
async function copyTree(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  await chmod(to, 0o755);
  const entries = await readdir(from, { withFileTypes: true });
  const present = new Set(entries.map((d) => d.name));
  for (const entry of entries) {
    const src = join(from, entry.name);
    const dst = join(to, entry.name);
    if (entry.isDirectory()) {
      await copyTree(src, dst);
      continue;
    }
    if (!entry.isFile() || isBuildProduct(entry.name, present)) continue;
    const data = await readFile(src);
    if (isBinary(data)) continue;
    await writeFile(dst, data);
    const executable = entry.name === 'configure' || data.subarray(0, 2).toString() === '#!';
    await chmod(dst, executable ? 0o755 : 0o644);
  }
}

function isBuildProduct(name: string, siblings: Set<string>): boolean {
  if (['config.log', 'config.status', 'Makefile'].includes(name)) return true;
  if (/\.(o|so|dylib|a|tmp)$/.test(name) || name.startsWith('conftest')) return true;
  return siblings.has(`${name}.in`); // written by configure from NAME.in
}

function isBinary(data: Buffer): boolean {
  const magic = data.subarray(0, 4).toString('hex');
  return magic === '7f454c46' || ['cffaedfe', 'cefaedfe', 'feedfacf', 'feedface'].includes(magic);
}

/** Paths under dir, relative, sorted so every parent directory comes before its contents. */
async function listTree(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  const entries = (await readdir(join(dir, prefix), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    out.push(rel);
    if (entry.isDirectory()) out.push(...(await listTree(dir, rel)));
  }
  return out;
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The fixture recipe for the packed tarball: its one version, downloaded from the test's server; no patches. */
function overlayRecipe(template: Recipe, version: string, file: string, sha256: string, opts: FixtureOptions): Recipe {
  const { $schema: _schema, tested: _tested, ...rest } = structuredClone(template);
  const name = template.name;
  // requires of the default version (the fixture projects keep their interfaces across versions)
  const requires = template.versions[template.defaultVersion]?.requires;
  const env = { ...(rest.build.env ?? {}) };
  if (name === 'apr-util' && opts.noSystemExpat) env.ac_cv_header_expat_h = 'no';
  return {
    ...rest,
    mirrorPath: `${name}/{file}`,
    urlTemplates: [`${(opts.baseUrl ?? unreachableUrl).replace(/\/+$/, '')}/${name}/{file}`],
    defaultVersion: version,
    versions: {
      [version]: {
        artifacts: [{ file, sha256, sha256Source: 'test fixture' }],
        ...(requires ? { requires: { ...requires } } : {}),
      },
    },
    patches: [],
    build: { ...rest.build, ...(Object.keys(env).length ? { env } : {}) },
  };
}

/**
 * `wsgi-toolchain build` of a fixture set into `prefix`, offline from its sources, for /usr/bin/python3, with plain
 * output; no verify and no Python package (a fixture httpd cannot serve). `extra` is appended.
 */
export function fixtureBuildArgs(set: FixtureSet, prefix: string, ...extra: string[]): string[] {
  return [
    'build',
    '--prefix',
    prefix,
    '--recipes',
    set.recipesDir,
    '--sources',
    set.sourcesDir,
    '--offline',
    '--python',
    '/usr/bin/python3',
    '--no-verify',
    '--no-python-package',
    '--plain',
    '-j',
    '2',
    ...extra,
  ];
}

/** The environment of a CLI run that must use `cache` as its store and no prefix or virtualenv of the caller's. */
export function isolatedEnv(cache: string): NodeJS.ProcessEnv {
  return { WSGI_HTTPD_CACHE_DIR: cache, WSGI_HTTPD_PREFIX: '', VIRTUAL_ENV: '' };
}

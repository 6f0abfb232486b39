/**
 * Packs the small C projects under test/fixtures/projects/ into release-style tarballs and writes overlay recipes for
 * them, so tests can drive the real pipeline (download, sha256, unpack, ./configure, make, make install) in seconds.
 *
 * Each project stands in for the component of the same name: its hand-written configure accepts the arguments the real
 * recipe passes, and `make install` produces the files the real recipe's `provides` names (see the README-like
 * comments in each project's configure). The tarballs are reproducible: same inputs, same bytes, same sha256.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile, appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { create as createTar } from 'tar';
import { componentNames, type ComponentName, type Recipe } from '../../src/recipe/types.js';

export type BrokenStep = 'configure' | 'make';
/** A step of a "slow" fixture variant that sleeps (see FixtureOptions.slow). */
export type SlowStep = 'configure' | 'make' | 'install';

export interface FixtureFile {
  component: ComponentName;
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
  versions: Partial<Record<ComponentName, string>>;
  /** The overlay recipes as written to recipesDir. */
  recipes: Partial<Record<ComponentName, Recipe>>;
}

export interface FixtureOptions {
  /** Loopback server URL; the recipes download from `<baseUrl>/<component>/{file}`. Without it they point at
   * unreachableUrl (connection refused), for runs that use --sources/--mirror or the cache. */
  baseUrl?: string;
  /** Components whose tarball fails in that step: configure exits 77 "C compiler cannot create executables", or
   * make stops at a C syntax error ("error: expected ';'"). A broken tarball has its own sha256. */
  broken?: Partial<Record<string, BrokenStep>>;
  /** Versions other than fixtureVersions (the version is written into the tarball and reported by the build). */
  versions?: Partial<Record<ComponentName, string>>;
  /** Default: all six components. */
  components?: readonly ComponentName[];
  /** Makes apr-util's configure behave as on a system without expat headers (the autoconf cache variable
   * ac_cv_header_expat_h=no in the recipe's build.env), unless expat is built (--with-expat={prefix}). */
  noSystemExpat?: boolean;
  /** Components whose tarball sleeps `slowSeconds` in that step (configure, make, or make install), to interrupt a
   * build there: the marker file build-aux/fixture-slow ("STEP SECONDS") is read by build-aux/fixture-slow.sh, which
   * configure (first thing) or the Makefile (a prerequisite of `all` / `install`) runs. It prints
   * "fixture: slow STEP, sleeping N s" and then execs `sleep N` in the source directory. A slow tarball has its own
   * sha256; components not named here are packed exactly as without the option. */
  slow?: Partial<Record<ComponentName, SlowStep>>;
  /** Default 5. */
  slowSeconds?: number;
}

/** Default fixture versions; they satisfy the `requires` ranges below (which are those of the real recipes). */
export const fixtureVersions: Readonly<Record<ComponentName, string>> = {
  expat: '2.99.0',
  pcre2: '10.99',
  apr: '1.9.0',
  'apr-util': '1.9.0',
  httpd: '2.4.99',
  mod_wsgi: '9.0.0',
};

const fixtureRequires: Partial<Record<ComponentName, Record<string, string>>> = {
  'apr-util': { apr: '>=1.3.0 <2' },
  httpd: { apr: '>=1.5.0 <2', 'apr-util': '>=1.5.0 <2', pcre2: '>=10.0' },
  mod_wsgi: { python: '>=3.6' },
};

/** The fixture recipes' own `provides` (each project installs more: every file the real recipe names, too). */
export const fixtureProvides: Readonly<Record<ComponentName, readonly string[]>> = {
  expat: ['include/expat.h', 'lib/libexpat.so'],
  pcre2: ['bin/pcre2-config', 'include/pcre2.h', 'lib/libpcre2-8.so'],
  apr: ['bin/apr-1-config', 'include/apr-1/apr.h', 'lib/libapr-1.so', 'build-1/libtool'],
  'apr-util': ['bin/apu-1-config', 'include/apr-1/apu.h', 'lib/libaprutil-1.so'],
  httpd: [
    'bin/httpd',
    'bin/apxs',
    'bin/apachectl',
    'build/config_vars.mk',
    'include/httpd.h',
    'modules/mod_mpm_event.so',
    'modules/mod_unixd.so',
    'modules/mod_authz_core.so',
    'modules/mod_mime.so',
    'modules/mod_log_config.so',
    'modules/mod_rewrite.so',
    'modules/mod_proxy_http.so',
  ],
  mod_wsgi: ['modules/mod_wsgi.so'],
};

/** The source file a broken 'make' variant appends a syntax error to. */
const brokenSource: Readonly<Record<ComponentName, string>> = {
  expat: 'lib/xmlparse.c',
  pcre2: 'src/pcre2_match.c',
  apr: 'src/apr_strings.c',
  'apr-util': 'src/apu_xml.c',
  httpd: 'server/main.c',
  mod_wsgi: 'src/server/mod_wsgi.c',
};

export const projectsDir = fileURLToPath(new URL('../fixtures/projects/', import.meta.url));
const sharedDir = join(projectsDir, '_shared');
const realRecipesDir = fileURLToPath(new URL('../../recipes/', import.meta.url));

/** Without a baseUrl the recipes still need a download URL (the recipe validator insists), but must never reach the
 * internet: nothing listens on the loopback discard port, so a download there fails at once (ECONNREFUSED). */
export const unreachableUrl = 'http://127.0.0.1:9';

/** Every entry gets this mtime, so a tarball's bytes depend on its contents only. */
const fixedMtime = new Date('2024-01-01T00:00:00Z');

export async function makeFixtureSet(workDir: string, opts: FixtureOptions = {}): Promise<FixtureSet> {
  const components = opts.components ?? componentNames;
  for (const name of [...Object.keys(opts.broken ?? {}), ...Object.keys(opts.slow ?? {})]) {
    if (!(componentNames as readonly string[]).includes(name)) throw new Error(`makeFixtureSet: no fixture named ${name}`);
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
        const version = opts.versions?.[name] ?? fixtureVersions[name];
        const broken = opts.broken?.[name];
        const file = `${name}-${version}.tar.gz`;
        await mkdir(join(sourcesDir, name), { recursive: true });
        const tarball = join(sourcesDir, name, file);
        const slow = opts.slow?.[name] ? { step: opts.slow[name]!, seconds: opts.slowSeconds ?? 5 } : undefined;
        await packProject(name, version, broken, join(stageRoot, name), tarball, slow);
        const sha256 = await sha256File(tarball);
        const recipe = await overlayRecipe(name, version, file, sha256, opts);
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
  name: ComponentName,
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

async function overlayRecipe(name: ComponentName, version: string, file: string, sha256: string, opts: FixtureOptions): Promise<Recipe> {
  const real = JSON.parse(await readFile(join(realRecipesDir, `${name}.json`), 'utf8')) as Recipe;
  const requires = fixtureRequires[name];
  const env = { ...(real.build.env ?? {}) };
  if (name === 'apr-util' && opts.noSystemExpat) env.ac_cv_header_expat_h = 'no';
  const recipe: Recipe = {
    name,
    description: `${real.description} (test fixture)`,
    homepage: real.homepage,
    license: real.license,
    dependencies: [...real.dependencies],
    ...(real.optional ? { optional: true } : {}),
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
    build: {
      configure: real.build.configure,
      // the real recipe's arguments, placeholders and conditional groups included: the fixture accepts them all
      configureArgs: structuredClone(real.build.configureArgs),
      ...(Object.keys(env).length ? { env } : {}),
      parallelMake: true,
      makeTargets: [...real.build.makeTargets],
      installTargets: [...real.build.installTargets],
      provides: [...fixtureProvides[name]],
    },
    ...(real.pythonPackage ? { pythonPackage: structuredClone(real.pythonPackage) } : {}),
  };
  return recipe;
}

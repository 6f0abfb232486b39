/**
 * Self-test of the fixture projects and of makeFixtureSet, WITHOUT the pipeline: unpack each tarball with node-tar and
 * run ./configure, make -j2, make install by hand, in dependency order, into one prefix.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, constants, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { list as listTar, extract as extractTar } from 'tar';
import type { ComponentName, ConditionalArgs, Recipe } from '../../src/recipe/types.js';
import { fixtureVersions, makeFixtureSet, type FixtureSet } from '../helpers/fixtures.js';

const python = '/usr/bin/python3';
const jobs = 2;
const chain: ComponentName[] = ['pcre2', 'apr', 'apr-util', 'httpd', 'mod_wsgi'];

interface RunResult {
  code: number | null;
  output: string;
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

function expand(value: string, vars: Record<string, string>): string {
  return value.replace(/\{(\w+)\}/g, (whole, key: string) => vars[key] ?? whole);
}

/** Plain arguments with placeholders filled in; conditional groups are included only when `conditions` holds them. */
function configureArgs(recipe: Recipe, vars: Record<string, string>, conditions: string[] = []): string[] {
  return recipe.build.configureArgs.flatMap((a: ConditionalArgs) =>
    typeof a === 'string' ? [expand(a, vars)] : conditions.includes(a.if) ? a.args.map((x) => expand(x, vars)) : [],
  );
}

function buildEnv(recipe: Recipe, vars: Record<string, string>, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.LD_LIBRARY_PATH;
  for (const [k, v] of Object.entries(recipe.build.env ?? {})) env[k] = expand(v, vars);
  return env;
}

async function unpack(set: FixtureSet, name: ComponentName, into: string): Promise<string> {
  const f = set.files.find((x) => x.component === name)!;
  await mkdir(into, { recursive: true });
  await extractTar({ file: join(set.sourcesDir, name, f.file), cwd: into });
  return join(into, `${name}-${f.version}`);
}

async function exists(path: string, mode = constants.F_OK): Promise<boolean> {
  try {
    await access(path, mode);
    return true;
  } catch {
    return false;
  }
}

/** configure, make -jN, make install of one component; returns the step that failed, with its output. */
async function buildOne(
  set: FixtureSet,
  name: ComponentName,
  buildRoot: string,
  vars: Record<string, string>,
  conditions: string[] = [],
): Promise<{ failed?: 'configure' | 'make' | 'install'; output: string }> {
  const recipe = set.recipes[name]!;
  const src = await unpack(set, name, buildRoot);
  const env = buildEnv(recipe, vars);
  let output = '';
  const configure = await run(`./${recipe.build.configure}`, configureArgs(recipe, vars, conditions), src, env);
  output += configure.output;
  if (configure.code !== 0) return { failed: 'configure', output };
  const make = await run('make', [`-j${vars.jobs}`, ...recipe.build.makeTargets], src, env);
  output += make.output;
  if (make.code !== 0) return { failed: 'make', output };
  const install = await run(
    'make',
    recipe.build.installTargets.map((t) => expand(t, vars)),
    src,
    env,
  );
  output += install.output;
  if (install.code !== 0) return { failed: 'install', output };
  return { output };
}

async function tempDir(t: { teardown(fn: () => Promise<void>): void }, label: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `wsgi-httpd-fixture-${label}-`));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('makeFixtureSet: reproducible tarballs in the mirror layout, overlay recipes in the recipe format', async (t) => {
  const dir = await tempDir(t, 'set');
  const a = await makeFixtureSet(join(dir, 'a'), { baseUrl: 'http://127.0.0.1:1234/' });
  const b = await makeFixtureSet(join(dir, 'b'));
  const c = await makeFixtureSet(join(dir, 'c'), { broken: { apr: 'configure', pcre2: 'make' } });

  t.is(a.files.length, 6);
  t.deepEqual(
    a.files.map((f) => [f.component, f.sha256]),
    b.files.map((f) => [f.component, f.sha256]),
    'same inputs give the same bytes',
  );
  const sha = (s: FixtureSet, n: string) => s.files.find((f) => f.component === n)!.sha256;
  t.not(sha(c, 'apr'), sha(a, 'apr'));
  t.not(sha(c, 'pcre2'), sha(a, 'pcre2'));
  t.is(sha(c, 'httpd'), sha(a, 'httpd'));

  for (const f of a.files) {
    t.is(f.version, fixtureVersions[f.component]);
    t.is(f.file, `${f.component}-${f.version}.tar.gz`);
    const path = join(a.sourcesDir, f.component, f.file);
    t.is(
      createHash('sha256')
        .update(await readFile(path))
        .digest('hex'),
      f.sha256,
    );

    const recipe = JSON.parse(await readFile(join(a.recipesDir, `${f.component}.json`), 'utf8')) as Recipe;
    const real = JSON.parse(await readFile(new URL(`../../recipes/${f.component}.json`, import.meta.url), 'utf8')) as Recipe;
    t.is(recipe.name, f.component);
    t.is(recipe.defaultVersion, f.version);
    t.is(recipe.mirrorPath, `${f.component}/{file}`);
    t.deepEqual(recipe.urlTemplates, [`http://127.0.0.1:1234/${f.component}/{file}`]);
    t.deepEqual(recipe.versions[f.version]!.artifacts, [{ file: f.file, sha256: f.sha256, sha256Source: 'test fixture' }]);
    t.deepEqual(recipe.patches, []);
    t.deepEqual(recipe.build.configureArgs, real.build.configureArgs);
    t.deepEqual(recipe.dependencies, real.dependencies);
    t.true(recipe.build.provides.length > 0);

    // one top directory, an executable configure, entries with the fixed mtime
    const entries: { path: string; mode: number; mtime: number }[] = [];
    await listTar({
      file: path,
      onReadEntry: (e) => entries.push({ path: e.path, mode: e.mode ?? 0, mtime: e.mtime?.getTime() ?? 0 }),
    });
    t.true(entries.every((e) => e.path.startsWith(`${f.component}-${f.version}/`)));
    const configure = entries.find((e) => e.path === `${f.component}-${f.version}/configure`);
    t.truthy(configure);
    t.is(configure!.mode & 0o111, 0o111);
    t.truthy(entries.find((e) => e.path.endsWith('/build-aux/configure-lib.sh')));
    t.falsy(
      entries.find((e) => /\/(config\.log|Makefile)$|\.o$|\.so$/.test(e.path)),
      'no build products',
    );
  }
  t.deepEqual(b.recipes.httpd!.urlTemplates, ['http://127.0.0.1:9/httpd/{file}']);
  t.deepEqual(a.recipes.mod_wsgi!.versions['9.0.0']!.requires, { python: '>=3.6' });
});

test('the fixture chain builds by hand into one prefix: httpd -V runs without LD_LIBRARY_PATH', async (t) => {
  const dir = await tempDir(t, 'chain');
  const set = await makeFixtureSet(join(dir, 'set'));
  const prefix = join(dir, 'prefix');
  const vars = { prefix, python, jobs: String(jobs), apxs: `${prefix}/bin/apxs` };
  const buildRoot = join(dir, 'build');

  for (const name of chain) {
    const r = await buildOne(set, name, buildRoot, vars);
    t.is(r.failed, undefined, `${name} failed:\n${r.output}`);
    if (r.failed) return;
    t.regex(r.output, /checking whether the C compiler works\.\.\. yes/);
    t.true(await exists(join(buildRoot, `${name}-${set.versions[name]}`, 'config.log')));

    if (name === 'apr') {
      // apr-util's configure needs --with-apr, and the expat headers (here hidden with the autoconf cache variable)
      const probe = await unpack(set, 'apr-util', join(dir, 'probe'));
      const noApr = await run('./configure', [`--prefix=${prefix}`], probe);
      t.is(noApr.code, 1);
      t.regex(noApr.output, /configure: error: APR not found/);
      const badApr = await run('./configure', [`--prefix=${prefix}`, `--with-apr=${join(dir, 'nothing')}`], probe);
      t.regex(badApr.output, /configure: error: APR not found/);
      const noExpat = await run('./configure', [`--prefix=${prefix}`, `--with-apr=${prefix}/bin/apr-1-config`], probe, {
        ...process.env,
        ac_cv_header_expat_h: 'no',
      });
      t.is(noExpat.code, 1);
      t.regex(noExpat.output, /configure: error: expat\.h: No such file or directory/);
    }
  }

  // every file both the fixture recipes and the real recipes promise
  for (const name of chain) {
    const real = JSON.parse(await readFile(new URL(`../../recipes/${name}.json`, import.meta.url), 'utf8')) as Recipe;
    for (const p of new Set([...set.recipes[name]!.build.provides, ...real.build.provides])) {
      t.true(await exists(join(prefix, p)), `${name} provides ${p}`);
    }
  }

  const env = { ...process.env };
  delete env.LD_LIBRARY_PATH;
  const v = await run(join(prefix, 'bin/httpd'), ['-V'], dir, env);
  t.is(v.code, 0, v.output);
  t.regex(v.output, /^Server version: Apache\/2\.4\.99 \(fixture\)$/m);
  t.regex(v.output, /^Server loaded: {2}APR 1\.9\.0, APR-UTIL 1\.9\.0, PCRE 10\.99 2099-01-01$/m);
  t.regex(v.output, /^Server compiled with\.\.\.\.$/m);
  t.regex(v.output, /^ -D APR_VERSION="1\.9\.0"$/m);
  t.regex(v.output, /^ -D APU_VERSION="1\.9\.0"$/m);
  t.regex(v.output, /^ -D PCRE_VERSION="10\.99 2099-01-01"$/m);
  t.true(v.output.includes(` -D HTTPD_ROOT="${prefix}"`));
  const ctl = await run(join(prefix, 'bin/apachectl'), ['-v'], dir, env);
  t.regex(ctl.output, /Apache\/2\.4\.99 \(fixture\)/);

  const apxs = join(prefix, 'bin/apxs');
  const q = async (name: string) => (await run(apxs, ['-q', name], dir)).output.trim();
  t.is(await q('PREFIX'), prefix);
  t.is(await q('LIBEXECDIR'), join(prefix, 'modules'));
  t.is(await q('INCLUDEDIR'), join(prefix, 'include'));
  t.is(await q('SBINDIR'), join(prefix, 'bin'));
  t.is(await q('BINDIR'), join(prefix, 'bin'));
  t.is(await q('TARGET'), 'httpd');
  t.truthy(await q('CC'));
  t.truthy(await q('CFLAGS'));

  const pcre = await run(join(prefix, 'bin/pcre2-config'), ['--version'], dir);
  t.is(pcre.output.trim(), '10.99');
  const apr = await run(join(prefix, 'bin/apr-1-config'), ['--version'], dir);
  t.is(apr.output.trim(), '1.9.0');
  t.is((await run(join(prefix, 'bin/apr-1-config'), ['--link-ld'], dir)).output.trim(), `-L${prefix}/lib -lapr-1`);

  // the conditional groups are accepted too: with "ssl" and no OpenSSL headers, httpd's configure names the header
  const httpdRecipe = set.recipes.httpd!;
  const sslProbe = await unpack(set, 'httpd', join(dir, 'probe'));
  const ssl = await run(
    './configure',
    configureArgs(httpdRecipe, vars, ['ssl', 'zlib']),
    sslProbe,
    buildEnv(httpdRecipe, vars, { ac_cv_header_openssl_ssl_h: 'no' }),
  );
  t.is(ssl.code, 1);
  t.regex(ssl.output, /checking for openssl\/ssl\.h\.\.\. \(cached\) no/);
  t.regex(ssl.output, /configure: error: mod_ssl .*openssl\/ssl\.h: No such file or directory/);

  const pyVersion = (await run(python, ['-c', 'import sys; print(sys.version.split()[0])'], dir)).output.trim();
  const so = await readFile(join(prefix, 'modules/mod_wsgi.so'));
  t.true(so.includes(Buffer.from(`mod_wsgi-python-version: ${pyVersion}\0`)), `mod_wsgi.so names Python ${pyVersion}`);
  t.true(so.includes(Buffer.from(`mod_wsgi/9.0.0 Python/${pyVersion} Apache/2.4.99`)));
});

test('with expat in the build, apr-util links the fixture expat (the dep:expat arguments)', async (t) => {
  const dir = await tempDir(t, 'expat');
  const set = await makeFixtureSet(join(dir, 'set'), { components: ['expat', 'apr', 'apr-util'], noSystemExpat: true });
  t.is(set.recipes['apr-util']!.build.env?.ac_cv_header_expat_h, 'no');
  const prefix = join(dir, 'prefix');
  const vars = { prefix, python, jobs: String(jobs), apxs: `${prefix}/bin/apxs` };
  for (const name of ['expat', 'apr', 'apr-util'] as const) {
    const r = await buildOne(set, name, join(dir, 'build'), vars, ['dep:expat']);
    t.is(r.failed, undefined, `${name} failed:\n${r.output}`);
    if (r.failed) return;
    if (name === 'apr-util') t.regex(r.output, /checking for expat in .*\.\.\. yes/);
  }
  const apu = await run(join(prefix, 'bin/apu-1-config'), ['--libs'], dir);
  t.true(apu.output.includes(`-L${prefix}/lib -lexpat`));

  // without --with-expat the recipe's env hides the system headers: the hint-worthy message
  const again = await unpack(set, 'apr-util', join(dir, 'again'));
  const recipe = set.recipes['apr-util']!;
  const r = await run('./configure', configureArgs(recipe, vars), again, buildEnv(recipe, vars));
  t.is(r.code, 1);
  t.regex(r.output, /checking expat\.h usability\.\.\. \(cached\) no/);
  t.regex(r.output, /configure: error: expat\.h: No such file or directory/);
});

test('broken variants fail in the named step with a recognisable error', async (t) => {
  const dir = await tempDir(t, 'broken');
  const set = await makeFixtureSet(join(dir, 'set'), {
    components: ['pcre2', 'apr', 'expat'],
    broken: { apr: 'configure', pcre2: 'make', expat: 'make' },
  });
  const vars = { prefix: join(dir, 'prefix'), python, jobs: String(jobs), apxs: join(dir, 'prefix', 'bin', 'apxs') };

  const apr = await buildOne(set, 'apr', join(dir, 'build'), vars);
  t.is(apr.failed, 'configure');
  t.regex(apr.output, /checking whether the C compiler works\.\.\. no/);
  t.regex(apr.output, /configure: error: C compiler cannot create executables/);
  const log = await readFile(join(dir, 'build', 'apr-1.9.0', 'config.log'), 'utf8');
  t.regex(log, /fwsgi-httpd-fixture-broken-compiler/);
  t.regex(log, /configure: exit 77/);

  for (const name of ['pcre2', 'expat'] as const) {
    const r = await buildOne(set, name, join(dir, 'build'), vars);
    t.is(r.failed, 'make', r.output);
    // gcc quotes with ‘’ in a UTF-8 locale and with '' in the C locale
    t.regex(r.output, /error: expected [‘']?;[’']?/);
  }
  t.false(await exists(join(dir, 'prefix', 'lib', 'libpcre2-8.so')));
});

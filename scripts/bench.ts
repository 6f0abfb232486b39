/**
 * npm run bench: in one run, times (a) a hand-written sequential `configure && make -jN && make install` of the same
 * sources (mod_wsgi-httpd's way), (b) a cold `wsgi-toolchain build`, (c) a warm build into a fresh prefix from the
 * build cache, (d) a no-op build; prints min/median of each, the ratios, and the tool's peak RSS.
 * Fixture sources by default; the real upstream tarballs when WSGI_HTTPD_REAL_SOURCES points at them.
 * Cold, warm and no-op run with --no-verify --no-python-package so all four rows measure the same work as the hand
 * baseline (verify is timed separately).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { indexSourceDirs } from '../src/fetch/sources.js';
import { loadRecipes } from '../src/recipe/load.js';
import { makeFixtureSet } from '../test/helpers/fixtures.js';

const repo = join(fileURLToPath(import.meta.url), '..', '..');
const cli = join(repo, 'dist', 'src', 'cli', 'main.js');
const jobs = availableParallelism();
const real = process.env.WSGI_HTTPD_REAL_SOURCES;
const runsArg = process.argv.indexOf('--runs');
const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : real ? 1 : 3;
const python = '/usr/bin/python3';

interface Timed {
  seconds: number;
  peakRssMb?: number;
}

/** Runs a command, timing it and sampling its peak RSS (VmHWM) until it exits. */
function timed(argv: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; quiet?: boolean } = {}): Promise<Timed & { output: string }> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(argv[0]!, argv.slice(1), { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let peak = 0;
    child.stdout.on('data', (d: Buffer) => (output += d));
    child.stderr.on('data', (d: Buffer) => (output += d));
    const sample = () => {
      try {
        const kb = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1];
        if (kb) peak = Math.max(peak, Number(kb) / 1024);
      } catch {
        /* exited */
      }
    };
    const timer = setInterval(sample, 50);
    child.on('error', reject);
    child.on('exit', () => sample());
    child.on('close', (code) => {
      clearInterval(timer);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code !== 0) return reject(new Error(`${argv.join(' ')} exited ${code}\n${output.slice(-3000)}`));
      resolve({ seconds, peakRssMb: peak || undefined, output });
    });
  });
}

const sh = (script: string, cwd: string) => timed(['bash', '-euo', 'pipefail', '-c', script], { cwd });

interface Source {
  component: string;
  version: string;
  path: string;
}

async function sourceSet(work: string): Promise<{ sources: Source[]; sourcesDir: string; recipeArgs: string[]; versionArgs: string[] }> {
  if (real) {
    const versions: Record<string, string> = { pcre2: '10.46', apr: '1.7.5', 'apr-util': '1.6.3', httpd: '2.4.68', mod_wsgi: '5.0.2' };
    const recipes = await loadRecipes();
    const index = await indexSourceDirs([real]);
    const sources = Object.entries(versions).map(([component, version]) => {
      const artifact = recipes.get(component as never)!.versions[version]!.artifacts.find((a) => index.has(a.sha256));
      if (!artifact) throw new Error(`${component} ${version} is not in ${real}`);
      return { component, version, path: index.get(artifact.sha256)! };
    });
    const versionArgs = Object.entries(versions).flatMap(([c, v]) => [`--${c.replace('_', '-')}`, v]);
    return { sources, sourcesDir: real, recipeArgs: [], versionArgs };
  }
  const set = await makeFixtureSet(join(work, 'fixtures'), { components: ['pcre2', 'apr', 'apr-util', 'httpd', 'mod_wsgi'] });
  const sources = set.files.map((f) => ({ component: f.component, version: f.version, path: join(set.sourcesDir, f.component, f.file) }));
  return { sources, sourcesDir: set.sourcesDir, recipeArgs: ['--recipes', set.recipesDir], versionArgs: [] };
}

/** mod_wsgi-httpd's configure lines (no -j in its setup.py; we give the baseline -jN to be fair). */
function handConfigure(component: string, prefix: string): string {
  switch (component) {
    case 'apr-util':
      return `./configure --prefix=${prefix} --with-apr=${prefix}/bin/apr-1-config`;
    case 'httpd':
      return `./configure --prefix=${prefix} --enable-mpms-shared=all --enable-so --enable-rewrite --with-apr=${prefix}/bin/apr-1-config --with-apr-util=${prefix}/bin/apu-1-config --with-pcre=${prefix}/bin/pcre2-config`;
    case 'mod_wsgi':
      return `./configure --with-apxs=${prefix}/bin/apxs --with-python=${python}`;
    default:
      return `./configure --prefix=${prefix}`;
  }
}

async function baseline(work: string, sources: Source[]): Promise<Timed> {
  const dir = await mkdtemp(join(work, 'hand-'));
  const prefix = join(dir, 'prefix');
  const lines = sources.flatMap((s) => [
    `mkdir -p src/${s.component} && tar -xf ${s.path} -C src/${s.component} --strip-components=1`,
    `(cd src/${s.component} && ${handConfigure(s.component, prefix)} && make -j${jobs} && make install) >> build.log 2>&1`,
  ]);
  const result = await sh(lines.join('\n'), dir);
  await rm(dir, { recursive: true, force: true });
  return result;
}

const stats = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return { min: sorted[0]!, median: sorted[Math.floor(sorted.length / 2)]! };
};

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'wsgi-bench-'));
  await chmod(work, 0o755);
  const { sources, sourcesDir, recipeArgs, versionArgs } = await sourceSet(work);
  console.log(
    `wsgi-httpd bench: ${real ? 'real upstream sources' : 'fixture sources'} (${sources.map((s) => `${s.component} ${s.version}`).join(', ')}), -j${jobs}, ${runs} run(s)`,
  );
  const rows: Record<string, number[]> = { baseline: [], cold: [], warm: [], noop: [] };
  let peak = 0;
  const build = (prefix: string, cache: string) =>
    timed(
      [
        'node',
        cli,
        'build',
        '--prefix',
        prefix,
        '--sources',
        sourcesDir,
        '--offline',
        '--python',
        python,
        '--no-verify',
        '--no-python-package',
        '--quiet',
        ...recipeArgs,
        ...versionArgs,
      ],
      {
        env: { WSGI_HTTPD_CACHE_DIR: cache, CI: '1' },
      },
    );
  for (let run = 1; run <= runs; run++) {
    const b = await baseline(work, sources);
    rows.baseline!.push(b.seconds);
    const cache = join(work, `cache-${run}`);
    const cold = await build(join(work, `cold-${run}`), cache);
    const warm = await build(join(work, `warm-${run}`), cache);
    const noop = await build(join(work, `warm-${run}`), cache);
    if (!/up to date/.test(noop.output)) throw new Error(`the no-op build did work:\n${noop.output}`);
    rows.cold!.push(cold.seconds);
    rows.warm!.push(warm.seconds);
    rows.noop!.push(noop.seconds);
    peak = Math.max(peak, cold.peakRssMb ?? 0, warm.peakRssMb ?? 0, noop.peakRssMb ?? 0);
    console.log(
      `run ${run}: baseline ${b.seconds.toFixed(1)} s, cold ${cold.seconds.toFixed(1)} s, warm ${warm.seconds.toFixed(2)} s, no-op ${noop.seconds.toFixed(2)} s`,
    );
    await rm(cache, { recursive: true, force: true });
  }
  const verify = await timed(['node', cli, 'verify', '--prefix', join(work, 'warm-1'), '--json']).catch((e: Error) => ({
    seconds: NaN,
    output: e.message,
  }));
  const base = stats(rows.baseline!);
  console.log('\n| row | min s | median s | vs baseline (median) | target |');
  console.log('|---|---|---|---|---|');
  const targets: Record<string, string> = { baseline: '', cold: '<= 0.80 x baseline', warm: '<= 3 s', noop: '<= 1 s' };
  for (const [name, values] of Object.entries(rows)) {
    const s = stats(values);
    console.log(`| ${name} | ${s.min.toFixed(2)} | ${s.median.toFixed(2)} | ${(s.median / base.median).toFixed(3)} | ${targets[name]} |`);
  }
  console.log(`\npeak RSS of wsgi-toolchain: ${peak.toFixed(0)} MB (target <= 150 MB)`);
  console.log(
    `verify on the warm prefix: ${Number.isNaN(verify.seconds) ? `not run: ${verify.output.split('\n')[0]}` : `${verify.seconds.toFixed(2)} s`}`,
  );
  await rm(work, { recursive: true, force: true });
}

await main();

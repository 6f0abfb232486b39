/**
 * npm run bench: one run of every row the store and registry issues set targets for, on the real upstream sources
 * (WSGI_HTTPD_REAL_SOURCES, the --tested set: httpd 2.4.68, APR 1.7.6, APR-util 1.6.4, PCRE2 10.48, mod_wsgi 6.0.5
 * from the overlay that pins its git-tag archive) or, without them, on the fixture C projects (fast, for trying the
 * script; its figures mean nothing).
 *
 *   peer       mod_wsgi-httpd's own way: per component, serially, `./configure … && make && make install` with no -j
 *              and static libraries kept, in its order APR, APR-util, PCRE (PCRE2 stands in for PCRE 8.45), httpd with
 *              its flags; then mod_wsgi as `pip install mod_wsgi` builds it (APXS set, setup.py compiles)
 *   cold       `wsgi-toolchain build` into a new venv, empty store: the full default build (verify and the Python
 *              package included)
 *   warm       into a fresh plain prefix from the store
 *   new venv   into a new venv of the same Python
 *   2nd Python a pyenv Python (compiles only mod_wsgi; --no-verify as root: the server account cannot read /root)
 *   no-op      the same build again
 *   registry   an empty store to a verified new venv, from a loopback registry the cold stack was pushed to
 *
 * The CLI runs from dist/bin/ (the bundle `npm run build` writes), as an installed package does. Prints a table and the tool's peak RSS.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { indexSourceDirs } from '../src/fetch/sources.js';
import { loadRecipes } from '../src/recipe/load.js';
import { makeFixtureSet } from '../test/helpers/fixtures.js';
import { missingRegistryTools, startRegistry } from '../test/helpers/registry.js';

const repo = join(fileURLToPath(import.meta.url), '..', '..');
const cli = join(repo, 'dist', 'bin', 'wsgi-toolchain.js');
const real = process.env.WSGI_HTTPD_REAL_SOURCES;
const python = '/usr/bin/python3';
const overlay = join(repo, 'test', 'e2e', 'overlays', 'mod_wsgi-git-tag');

interface Timed {
  seconds: number;
  peakRssMb: number;
  output: string;
}

/**
 * Runs a command, timing it and sampling its peak RSS (VmHWM) until it exits. The disk is settled first (`sync`, as
 * hyperfine's --prepare would): a row after the cold build otherwise pays for the writeback of the hundreds of MB the
 * build wrote, and file creation on these VMs varies 3-fold with other disk activity (unpacking the httpd layer's 1,689
 * entries: 0.65 s on a quiet disk, 2.3 s on a busy one).
 */
function timed(argv: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Timed> {
  spawnSync('sync');
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
      resolve({ seconds, peakRssMb: peak, output });
    });
  });
}

interface Source {
  component: string;
  path: string;
}

interface SourceSet {
  sources: Source[];
  sourcesDir: string;
  /** Flags that select the set (the overlay and --tested, or the fixture recipes). */
  select: string[];
}

/** The release files of the set, in mod_wsgi-httpd's build order. */
async function sourceSet(work: string): Promise<SourceSet> {
  const order = ['apr', 'apr-util', 'pcre2', 'httpd', 'mod_wsgi'];
  if (real) {
    const versions: Record<string, string> = { apr: '1.7.6', 'apr-util': '1.6.4', pcre2: '10.48', httpd: '2.4.68', mod_wsgi: '6.0.5' };
    const recipes = await loadRecipes([overlay]);
    const index = await indexSourceDirs([real]);
    const sources = order.map((component) => {
      const artifact = recipes.get(component as never)!.versions[versions[component]!]!.artifacts.find((a) => index.has(a.sha256));
      if (!artifact) throw new Error(`${component} ${versions[component]} is not in ${real}: run scripts/fetch-test-sources.sh`);
      return { component, path: index.get(artifact.sha256)! };
    });
    return { sources, sourcesDir: real, select: ['--tested', '--recipes', overlay] };
  }
  const set = await makeFixtureSet(join(work, 'fixtures'), { components: ['pcre2', 'apr', 'apr-util', 'httpd', 'mod_wsgi'] });
  const sources = order.map((component) => {
    const f = set.files.find((x) => x.component === component)!;
    return { component, path: join(set.sourcesDir, component, f.file) };
  });
  return { sources, sourcesDir: set.sourcesDir, select: ['--recipes', set.recipesDir] };
}

/** mod_wsgi-httpd's setup.py, command for command (PCRE2 for PCRE; its --disable-cpp has no PCRE2 counterpart). */
async function peer(work: string, set: SourceSet): Promise<Timed> {
  const dir = await mkdtemp(join(work, 'peer-'));
  const prefix = join(dir, 'build', 'httpd');
  const configure: Record<string, string> = {
    apr: `./configure --prefix=${prefix}`,
    'apr-util': `./configure --prefix=${prefix} --with-apr=${prefix}/bin/apr-1-config`,
    pcre2: `./configure --prefix=${prefix}`,
    httpd: `./configure --prefix=${prefix} --enable-mpms-shared=all --enable-so --enable-rewrite --with-apr=${prefix}/bin/apr-1-config --with-apr-util=${prefix}/bin/apu-1-config --with-pcre=${prefix}/bin/pcre2-config`,
  };
  const lines = ['set -euo pipefail', 'mkdir -p build'];
  for (const s of set.sources) {
    if (s.component === 'mod_wsgi') continue;
    lines.push(`mkdir build/src-${s.component} && tar -x -f ${s.path} -C build/src-${s.component} --strip-components=1`);
    lines.push(`(cd build/src-${s.component} && ${configure[s.component]} && make && make install) >> build.log 2>&1`);
  }
  // Then `pip install mod_wsgi` with that httpd: setup.py compiles the module (no -j either).
  const modWsgi = set.sources.find((s) => s.component === 'mod_wsgi')!;
  if (real) {
    lines.push(`${python} -m venv --system-site-packages venv >> build.log 2>&1`);
    lines.push(`APXS=${prefix}/bin/apxs venv/bin/python -m pip install --no-index --no-deps --no-build-isolation ${modWsgi.path} >> build.log 2>&1`);
  } else {
    // The fixture mod_wsgi has no setup.py: its configure and make stand in.
    lines.push(`mkdir build/src-mod_wsgi && tar -x -f ${modWsgi.path} -C build/src-mod_wsgi --strip-components=1`);
    lines.push(`(cd build/src-mod_wsgi && ./configure --with-apxs=${prefix}/bin/apxs --with-python=${python} && make) >> build.log 2>&1`);
  }
  const result = await timed(['bash', '-c', lines.join('\n')], { cwd: dir });
  await rm(dir, { recursive: true, force: true });
  return result;
}

/** The newest pyenv Python other than the system one's minor version, if any. */
function secondPython(): string | undefined {
  try {
    const versions = readdirSync('/root/.pyenv/versions').filter((v) => /^3\.1[0-9]\./.test(v) && !v.startsWith('3.11.'));
    const newest = versions.sort().at(-1);
    return newest ? `/root/.pyenv/versions/${newest}/bin/python` : undefined;
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'wsgi-bench-'));
  await chmod(work, 0o755);
  const set = await sourceSet(work);
  console.log(
    `wsgi-httpd bench: ${real ? 'real upstream sources' : 'fixture sources (figures mean nothing)'}: ${set.sources.map((s) => s.component).join(', ')}`,
  );
  const rows: { name: string; seconds: number; target: string; note?: string }[] = [];
  let peak = 0;
  const store = join(work, 'store');
  const build = async (prefix: string, py: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}) => {
    const result = await timed(
      // The fixture httpd cannot serve: verify runs on the real sources only.
      [
        'node',
        cli,
        'build',
        '--prefix',
        prefix,
        '--python',
        py,
        '--sources',
        set.sourcesDir,
        '--offline',
        ...set.select,
        '--quiet',
        ...(real ? [] : ['--no-verify']),
        ...extra,
      ],
      {
        env: { WSGI_HTTPD_CACHE_DIR: store, CI: '1', ...env },
      },
    );
    peak = Math.max(peak, result.peakRssMb);
    return result;
  };
  const venv = (name: string) => {
    const dir = join(work, name);
    const made = spawnSyncOk(python, ['-m', 'venv', '--without-pip', dir]);
    if (!made) throw new Error(`cannot make the venv ${dir}`);
    return { dir, python: join(dir, 'bin', 'python') };
  };

  console.log('peer (mod_wsgi-httpd setup.py + pip install mod_wsgi), serial, no -j ...');
  const peerRun = await peer(work, set);
  rows.push({ name: "peer: mod_wsgi-httpd's setup.py, then pip install mod_wsgi", seconds: peerRun.seconds, target: '' });

  console.log('cold ...');
  const a = venv('venv-a');
  const cold = await build(a.dir, a.python);
  rows.push({
    name: 'cold full default build (verify, Python package) into a new venv',
    seconds: cold.seconds,
    target: `<= 0.45 x peer (${(0.45 * peerRun.seconds).toFixed(0)} s)`,
  });

  const warm = await build(join(work, 'plain'), python);
  rows.push({ name: 'warm build into a fresh plain prefix', seconds: warm.seconds, target: '<= 1 s' });
  const b = venv('venv-b');
  const newVenv = await build(b.dir, b.python);
  rows.push({ name: 'warm build into a new venv of the same Python', seconds: newVenv.seconds, target: '<= 2 s' });
  const second = secondPython();
  if (second) {
    const s = await build(join(work, 'second-python'), second, ['--no-verify']);
    rows.push({ name: `a second Python (${second.split('/').at(-3)}): compiles only mod_wsgi`, seconds: s.seconds, target: '<= 20 s' });
  } else rows.push({ name: 'a second Python', seconds: Number.NaN, target: '<= 20 s', note: 'no pyenv Python 3.10+ other than 3.11 found' });
  const noop = await build(b.dir, b.python);
  rows.push({ name: 'no-op', seconds: noop.seconds, target: '<= 0.3 s' });

  const missing = missingRegistryTools();
  if (missing.length === 0) {
    const registry = await startRegistry({ dir: join(work, 'registry') });
    try {
      const ref = `${registry.host}/bench/stack:cold`;
      await timed(['node', cli, 'push', '--prefix', a.dir, ref], { env: { WSGI_HTTPD_CACHE_DIR: store } });
      const c = venv('venv-c');
      const fromRegistry = await timed(
        [
          'node',
          cli,
          'build',
          '--prefix',
          c.dir,
          '--python',
          c.python,
          ...set.select,
          '--cache-from',
          ref,
          '--quiet',
          ...(real ? [] : ['--no-verify']),
        ],
        {
          env: { WSGI_HTTPD_CACHE_DIR: join(work, 'empty-store'), CI: '1' },
        },
      );
      peak = Math.max(peak, fromRegistry.peakRssMb);
      rows.push({ name: 'empty local store to a verified venv, from a loopback registry', seconds: fromRegistry.seconds, target: '<= 5 s' });
    } finally {
      await registry.stop();
    }
  } else rows.push({ name: 'from a loopback registry', seconds: Number.NaN, target: '<= 5 s', note: `needs ${missing.join(', ')}` });

  console.log('\n| row | seconds | vs peer | target |');
  console.log('|---|---|---|---|');
  for (const r of rows)
    console.log(
      `| ${r.name} | ${Number.isNaN(r.seconds) ? `not run: ${r.note}` : r.seconds.toFixed(2)} | ${Number.isNaN(r.seconds) ? '' : (r.seconds / peerRun.seconds).toFixed(3)} | ${r.target} |`,
    );
  console.log(`\npeak RSS of wsgi-toolchain: ${peak.toFixed(0)} MB`);
  await rm(work, { recursive: true, force: true });
}

function spawnSyncOk(cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
}

await main();

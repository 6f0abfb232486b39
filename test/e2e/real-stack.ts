/**
 * The product proven for real: httpd + APR + APR-util + PCRE2 + mod_wsgi built from upstream release tarballs (Debian's
 * byte-identical copies, fetched by scripts/fetch-test-sources.sh; mod_wsgi 6.0.5 from the shared sources, through an
 * overlay recipe) through the CLI, then checked the way a user would. Each real-build test file registers one set.
 * WSGI_HTTPD_REAL_SOURCES names the directory; in CI its absence fails, elsewhere the tests are skipped with the reason.
 */
import test, { type TestFn } from 'ava';
import { execFileSync } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, runCli } from '../helpers/cli.js';
import { killAll, processesUnder } from '../helpers/processes.js';
import { runCliInTty, ttyUnavailable } from '../helpers/tty.js';
import { registerSeedWorkflowTests } from './seed-workflow.js';

export interface RealSet {
  /** "mod_wsgi 5.0.2 set" */
  label: string;
  /** What selects the set: version flags, or --tested. */
  select: string[];
  /** Overlay recipe directories (repository-relative) the set needs. */
  overlays: string[];
  /** What httpd -V must report. */
  expect: { httpd: string; apr: string; aprUtil: string; pcre2: string; modWsgi: string };
  /**
   * Run the cold build on a pseudo-terminal (the terminal view, checked: under 100 KB, no compiler output, every final
   * line on the last screen) instead of with --plain (checked: heartbeat lines during the long compile).
   */
  terminal?: boolean;
}

export const sources = process.env.WSGI_HTTPD_REAL_SOURCES;
export const python = '/usr/bin/python3';
const why =
  'WSGI_HTTPD_REAL_SOURCES is not set: run `bash scripts/fetch-test-sources.sh` and export WSGI_HTTPD_REAL_SOURCES=<the directory it prints>';

/** The work directory, prefix and store of one set's test file. */
export interface RealWorld {
  work: string;
  prefix: string;
  cacheDir: string;
  env: () => NodeJS.ProcessEnv;
  /** Everything after `build --prefix P --python PY` that builds this set. */
  buildArgs: string[];
}

/** Registers the build of `set` and the checks every set gets; returns the world for the file's own extra tests. */
export function registerRealStack(set: RealSet): { real: TestFn['serial'] | TestFn['skip']; world: RealWorld } {
  if (!sources) {
    if (process.env.CI) test(`real build (${set.label}): upstream sources are available`, (t) => t.fail(`CI must build the real stack, but ${why}`));
    else test.skip(`real build (${set.label}) (skipped: ${why})`, () => {});
  }
  const real = sources ? test.serial : test.skip;
  const world: RealWorld = {
    work: '',
    prefix: '',
    cacheDir: '',
    env: () => ({ WSGI_HTTPD_CACHE_DIR: world.cacheDir, LD_LIBRARY_PATH: '', WSGI_HTTPD_PREFIX: '', VIRTUAL_ENV: '' }),
    buildArgs: [...set.select, ...set.overlays.flatMap((o) => ['--recipes', join(repoRoot, o)]), '--sources', sources ?? '', '--offline'],
  };

  test.before(async () => {
    world.work = await mkdtemp(join(tmpdir(), 'wsgi-real-'));
    // Apache's children run unprivileged: the prefix must be readable by them.
    await chmod(world.work, 0o755);
    world.prefix = join(world.work, 'prefix');
    world.cacheDir = join(world.work, 'cache');
  });

  test.after.always(async () => {
    // Stop anything a failed assertion may have left running under the work dir, then remove it.
    if (world.work) killAll(await processesUnder(world.work));
    if (world.work && !process.env.WSGI_HTTPD_KEEP_E2E) await rm(world.work, { recursive: true, force: true });
  });

  const name = (title: string) => `${set.label}: ${title}`;

  real(
    name(`build of the real stack from upstream tarballs, found by sha256 in --sources, offline, ${set.terminal ? 'on a terminal' : 'plain'}`),
    async (t) => {
      const started = Date.now();
      const args = ['build', '--prefix', world.prefix, '--python', python, ...world.buildArgs];
      const expectedPython = execFileSync(python, ['-c', 'import sys; print(sys.version.split()[0])']).toString().trim();
      const verified = new RegExp(`Verified: GET http://127\\.0\\.0\\.1:\\d+/ -> 200 .*Python ${expectedPython.replaceAll('.', '\\.')}`);
      if (set.terminal) {
        const ttyMissing = ttyUnavailable();
        if (ttyMissing) return t.fail(`the terminal build needs a pty: ${ttyMissing}`);
        const result = await runCliInTty(args, { env: world.env(), timeoutMs: 40 * 60_000 });
        t.log(`wall time of the whole build command: ${((Date.now() - started) / 1000).toFixed(1)} s`);
        const screen = result.screen.screen(40);
        // Kept with WSGI_HTTPD_KEEP_E2E=1: the bytes as written, to replay with `cat` in a terminal of 120 columns.
        await writeFile(join(world.work, 'tty-output.bin'), result.output);
        t.log(`${result.output.length} bytes written to the terminal; the last screen:\n${screen.join('\n')}`);
        t.is(result.code, 0, screen.join('\n'));
        t.true(result.output.length < 100_000, `${result.output.length} bytes`);
        t.false(/checking for |libtool: compile|gcc -/.test(result.output.toString('utf8')), 'compiler output stays in the log');
        const lock = JSON.parse(await readFile(join(world.prefix, 'wsgi-toolchain.lock.json'), 'utf8')) as {
          components: { name: string; version: string }[];
        };
        for (const c of lock.components) {
          const line = new RegExp(`^✔ ${c.name} ${c.version.replaceAll('.', '\\.')}: built in [\\d.]+ s, layer [0-9a-f]{12} stored$`);
          t.true(
            screen.some((l) => line.test(l)),
            `${c.name} ${c.version}`,
          );
        }
        t.true(
          screen.some((l) => /^✔ Verify: httpd with mod_wsgi serves a WSGI app on 127\.0\.0\.1: http:\/\/127\.0\.0\.1:\d+\/ answered 200/.test(l)),
        );
        t.true(screen.some((l) => /^✔ Activate: done$/.test(l)));
        t.regex(result.screen.text().join('\n'), verified);
        return;
      }
      const result = await runCli([...args, '--plain'], { env: world.env(), timeoutMs: 40 * 60_000 });
      console.log(
        result.stdout
          .split('\n')
          .filter((l) => !/^\s*$/.test(l))
          .slice(-25)
          .join('\n'),
      );
      t.log(`wall time of the whole build command: ${((Date.now() - started) / 1000).toFixed(1)} s`);
      t.is(result.code, 0, result.stderr);
      t.regex(result.stdout, verified);
      // httpd compiles for a minute or more: the plain log says it is still at it at least every 30 s.
      const heartbeats = result.stdout.split('\n').filter((l) => /^\[[\d:]+\] still working: httpd [\d.]+: compile, /.test(l));
      t.log(`heartbeat lines about the httpd compile:\n${heartbeats.join('\n')}`);
      t.true(heartbeats.length > 0, 'a heartbeat during the httpd compile');
    },
  );

  real(name('httpd -V names the APR, APR-util and PCRE2 it was built with, without LD_LIBRARY_PATH'), (t) => {
    const out = execFileSync(join(world.prefix, 'httpd', 'bin', 'httpd'), ['-V'], { env: { PATH: process.env.PATH } }).toString();
    console.log(out);
    const e = set.expect;
    const dots = (v: string) => v.replaceAll('.', '\\.');
    t.regex(out, new RegExp(`Server version: Apache/${dots(e.httpd)}`));
    t.regex(out, new RegExp(`Server loaded:\\s+APR ${dots(e.apr)}, APR-UTIL ${dots(e.aprUtil)}, PCRE ${dots(e.pcre2)}`));
    t.regex(out, /Server MPM:/);
  });

  real(name('ldd finds every library of httpd, every module and mod_wsgi.so'), async (t) => {
    const root = join(world.prefix, 'httpd');
    const modules = (await readdir(join(root, 'modules'))).filter((f) => f.endsWith('.so')).map((f) => join(root, 'modules', f));
    t.true(modules.some((m) => m.endsWith('mod_wsgi.so')));
    const bins = ['httpd', 'ab', 'htpasswd', 'pcre2grep'].map((b) => join(root, 'bin', b));
    for (const file of [...bins, ...modules]) {
      const out = execFileSync('ldd', [file], { env: { PATH: process.env.PATH } }).toString();
      t.false(out.includes('not found'), `${file}:\n${out}`);
    }
    t.log(`${bins.length + modules.length} binaries and modules resolve all their libraries`);
    for (const file of [join(root, 'bin', 'httpd'), join(root, 'modules', 'mod_wsgi.so')])
      t.notRegex(execFileSync('readelf', ['-S', file]).toString(), /\.debug_info/, `${file}: built with CFLAGS=-O2, no debug info`);
    const runpath = execFileSync('readelf', ['-d', join(root, 'bin', 'httpd')]).toString();
    t.regex(runpath, /RUNPATH.*\[\$ORIGIN\/\.\.\/lib\]/, 'libraries are found relative to the binary');
    t.true(
      readFileSync(join(root, 'modules', 'mod_wsgi.so')).includes(Buffer.from(`${set.expect.modWsgi}\0`)),
      `mod_wsgi.so is ${set.expect.modWsgi}`,
    );
  });

  real(name('apxs answers and every module mod_wsgi-express loads is installed'), async (t) => {
    const root = join(world.prefix, 'httpd');
    const apxsPrefix = execFileSync(join(root, 'bin', 'apxs'), ['-q', 'PREFIX'])
      .toString()
      .trim();
    t.is(apxsPrefix, readlinkSync(root).startsWith('/') ? readlinkSync(root) : join(world.prefix, readlinkSync(root)));
    const expressModules = [
      'access_compat',
      'unixd',
      'authn_core',
      'authz_core',
      'authz_host',
      'mime',
      'rewrite',
      'alias',
      'dir',
      'env',
      'headers',
      'filter',
      'reqtimeout',
      'log_config',
      'deflate',
      'autoindex',
      'auth_basic',
      'auth_digest',
      'authz_user',
      'proxy',
      'proxy_http',
      'status',
      'cgid',
      'mpm_event',
      'mpm_worker',
      'mpm_prefork',
      'ssl',
      'wsgi',
    ];
    const present = new Set(await readdir(join(root, 'modules')));
    for (const m of expressModules) t.true(present.has(`mod_${m}.so`), `mod_${m}.so`);
  });

  real(name('verify runs again on the installed prefix and leaves no httpd running'), async (t) => {
    const result = await runCli(['verify', '--prefix', world.prefix, '--json'], { env: world.env(), timeoutMs: 120_000 });
    t.is(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as { status: number; pythonVersion: string; body: string };
    t.is(report.status, 200);
    console.log(`verify: ${report.body.trim()}`);
    t.deepEqual(await processesUnder(world.work), []);
  });

  real(name('the same build again is a no-op'), async (t) => {
    const result = await runCli(['build', '--prefix', world.prefix, '--python', python, ...world.buildArgs], { env: world.env() });
    t.is(result.code, 0, result.stderr);
    t.regex(result.stdout, /^up to date: /m);
  });

  // The seed's workflow on this very stack: mod_wsgi-express, runmodwsgi, the pip drop-in, serve.
  if (sources)
    registerSeedWorkflowTests(test, () => ({ prefix: world.prefix, sources: sources!, python, buildArgs: world.buildArgs, env: world.env() }));

  return { real, world };
}

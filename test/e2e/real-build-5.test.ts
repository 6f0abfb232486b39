/**
 * The mod_wsgi 5.0.2 set (httpd 2.4.68, APR 1.7.5, APR-util 1.6.3, PCRE2 10.46), built for real, with the cases that
 * need a built prefix: a flipped byte in a cached tarball, a second combination's sources, --httpd system (its
 * mod_wsgi-express, info, locate() and serve), uninstall.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readlinkSync, realpathSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { locate } from '../../src/index.js';
import { freePort } from '../../src/util/port.js';
import { cliMain, runCli } from '../helpers/cli.js';
import { snapshotTree } from '../helpers/tree.js';
import { processesUnder } from '../helpers/processes.js';
import { python, registerRealStack, sources } from './real-stack.js';

const versions = { httpd: '2.4.68', apr: '1.7.5', 'apr-util': '1.6.3', pcre2: '10.46', 'mod-wsgi': '5.0.2' };
const { real, world } = registerRealStack({
  label: 'mod_wsgi 5.0.2 set',
  select: Object.entries(versions).flatMap(([flag, v]) => [`--${flag}`, v]),
  overlays: [],
  expect: { httpd: '2.4.68', apr: '1.7.5', aprUtil: '1.6.3', pcre2: '10.46', modWsgi: '5.0.2' },
});

real('a flipped byte in a cached tarball: checksum error naming the file and both sha256, prefix untouched', async (t) => {
  const before = await snapshotTree(world.prefix);
  // Without its layers the store must build again from the cached tarballs.
  await rm(join(world.cacheDir, 'layers'), { recursive: true, force: true });
  const downloads = join(world.cacheDir, 'downloads');
  const aprDir = (await readdir(downloads)).find((d) => d === 'cd0f5d52b9ab1704c72160c5ee3ed5d3d4ca2df4a7f8ab564e3cb352b67232f2')!;
  t.truthy(aprDir, 'apr 1.7.5 is in the cache');
  const [file] = await readdir(join(downloads, aprDir));
  const path = join(downloads, aprDir, file!);
  const bytes = await readFile(path);
  bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
  await writeFile(path, bytes);
  const flags = Object.entries(versions).flatMap(([flag, v]) => [`--${flag}`, v]);
  const result = await runCli(['build', '--prefix', world.prefix, '--offline', '--force', '--python', python, ...flags, '--plain'], {
    env: world.env(),
  });
  t.is(result.code, 5, result.stderr);
  const line = result.stderr.trim().split('\n').at(-1)!;
  t.regex(
    line,
    /checksum mismatch for .*apr-1\.7\.5\.tar\.bz2: expected sha256 cd0f5d52b9ab1704c72160c5ee3ed5d3d4ca2df4a7f8ab564e3cb352b67232f2, got [0-9a-f]{64}/,
  );
  t.deepEqual(await snapshotTree(world.prefix), before);
  t.deepEqual(await processesUnder(world.work), []);
});

real('the second combination (APR 1.7.2, PCRE2 10.42) resolves and its upstream files are found by sha256', async (t) => {
  const dest = join(world.work, 'second-set');
  const flags = ['--python', python, '--httpd', '2.4.68', '--apr', '1.7.2', '--apr-util', '1.6.3', '--pcre2', '10.42', '--mod-wsgi', '5.0.2'];
  const result = await runCli(['fetch', '--offline', '--sources', sources!, '--dest', dest, ...flags, '--json'], { env: world.env() });
  t.is(result.code, 0, result.stderr);
  const written = JSON.parse(result.stdout)
    .files.map((f: { path?: string; file?: string }) => f.path ?? f.file)
    .join(' ');
  t.regex(written, /apr-1\.7\.2\.tar\.bz2/);
  t.regex(written, /pcre2-10\.42\.tar\.gz/);
});

real("--httpd system: mod_wsgi built against Debian's apxs into the prefix, served by Debian's apache2, system untouched", async (t) => {
  const systemModules = '/usr/lib/apache2/modules';
  const before = await snapshotTree(systemModules);
  const prefix = join(world.work, 'system-mode');
  const result = await runCli(
    [
      'build',
      '--prefix',
      prefix,
      '--httpd',
      'system',
      '--apxs',
      '/usr/bin/apxs',
      '--mod-wsgi',
      '5.0.2',
      '--sources',
      sources!,
      '--offline',
      '--python',
      python,
      '--plain',
    ],
    { env: world.env() },
  );
  t.is(result.code, 0, result.stderr + result.stdout);
  const apacheVersion = /Apache\/(\d+\.\d+\.\d+)/.exec(execFileSync('/usr/sbin/apache2', ['-v']).toString())![1]!;
  t.regex(result.stdout, new RegExp(`Verified: GET http://127\\.0\\.0\\.1:\\d+/ -> 200 from ${apacheVersion.replaceAll('.', '\\.')}`));
  t.truthy(readlinkSync(join(prefix, 'httpd')));
  t.deepEqual(await snapshotTree(systemModules), before, "the system's modules directory is not touched");
  const verify = await runCli(['verify', '--prefix', prefix, '--json'], { env: world.env() });
  t.is(verify.code, 0, verify.stderr);
  t.deepEqual(await processesUnder(world.work), []);
});

/** What Debian's apxs says of its Apache (what info, locate() and mod_wsgi-express must use). */
function systemApxs(name: string): string {
  return execFileSync('/usr/bin/apxs', ['-q', name]).toString().trim();
}

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((done, fail) => {
    const req = request(url, { agent: false, headers: { Connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => done({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(5_000, () => req.destroy(new Error('timeout after 5 s')));
    req.on('error', fail);
    req.end();
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

real(
  '--httpd system: mod_wsgi-express loads our mod_wsgi.so into the system Apache; info and locate() name the system httpd, apxs and modules dir',
  async (t) => {
    const prefix = join(world.work, 'system-mode');
    const ourModule = realpathSync(join(prefix, 'httpd', 'modules', 'mod_wsgi.so'));
    const express = join(prefix, 'bin', 'mod_wsgi-express');
    t.true(existsSync(express), 'the build installed mod_wsgi-express in system mode too');
    const config = execFileSync(express, ['module-config'], { env: { PATH: process.env.PATH } }).toString();
    const loaded = /^LoadModule wsgi_module "(.+)"$/m.exec(config)?.[1];
    t.truthy(loaded, config);
    t.is(realpathSync(loaded!), ourModule, 'module-config loads the mod_wsgi.so this build made');

    const systemHttpd = join(systemApxs('SBINDIR'), systemApxs('TARGET'));
    const systemModules = systemApxs('LIBEXECDIR');
    const info = await runCli(['info', '--prefix', prefix, '--json'], { env: world.env() });
    t.is(info.code, 0, info.stderr);
    const reported = JSON.parse(info.stdout) as { httpd: string; apxs: string; modulesDir: string; modWsgi: string; httpdMode: string };
    t.is(reported.httpdMode, 'system');
    t.is(reported.httpd, systemHttpd);
    t.is(reported.apxs, '/usr/bin/apxs');
    t.is(reported.modulesDir, systemModules);
    t.is(realpathSync(reported.modWsgi), ourModule);
    for (const file of [reported.httpd, reported.apxs, reported.modWsgi]) t.true(existsSync(file), file);

    const located = await locate(prefix);
    t.is(located.httpd, systemHttpd);
    t.is(located.apxs, '/usr/bin/apxs');
    t.is(located.modulesDir, systemModules);
    t.true(existsSync(located.apachectl), located.apachectl);
    t.is(realpathSync(located.modWsgi), ourModule);
  },
);

real('--httpd system: serve runs a WSGI script on the system Apache with our mod_wsgi; Ctrl-C stops everything', async (t) => {
  const prefix = join(world.work, 'system-mode');
  const appDir = join(world.work, 'system-app');
  await mkdir(appDir, { recursive: true });
  await chmod(appDir, 0o755);
  const app = join(appDir, 'app.wsgi');
  await writeFile(
    app,
    "def application(environ, start_response):\n    body = b'system mode served\\n'\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [body]\n",
    { mode: 0o644 },
  );
  const port = await freePort();
  const serverRoot = join(world.work, 'system-serve');
  const child = spawn(
    process.execPath,
    [
      cliMain,
      'serve',
      '--prefix',
      prefix,
      app,
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--server-root',
      serverRoot,
      '--startup-timeout',
      '30',
    ],
    { cwd: appDir, env: { ...process.env, ...world.env(), CI: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exit = new Promise<number | null>((done) => child.on('close', (code) => done(code)));
  let exited = false;
  void exit.then(() => (exited = true));
  const hardStop = setTimeout(() => child.kill('SIGKILL'), 180_000);
  try {
    let answer: Awaited<ReturnType<typeof get>> | undefined;
    let last = 'nothing yet';
    for (const deadline = Date.now() + 60_000; !answer && Date.now() < deadline && !exited; ) {
      try {
        const r = await get(`http://127.0.0.1:${port}/`);
        if (r.status === 200) answer = r;
        else last = `HTTP ${r.status}`;
      } catch (error) {
        last = (error as Error).message;
      }
      if (!answer) await sleep(250);
    }
    t.truthy(answer, `no answer from serve on port ${port} (last: ${last})\n${output}`);
    t.is(answer?.body, 'system mode served\n');
    // The generated server root runs the system's httpd with the system's modules, and loads our mod_wsgi.
    const apachectl = await readFile(join(serverRoot, 'apachectl'), 'utf8');
    t.true(apachectl.includes(`HTTPD="${join(systemApxs('SBINDIR'), systemApxs('TARGET'))}"`), apachectl.slice(0, 600));
    t.true(apachectl.includes(`MOD_WSGI_MODULES_DIRECTORY="${systemApxs('LIBEXECDIR')}"`));
    const conf = await readFile(join(serverRoot, 'httpd.conf'), 'utf8');
    const loaded = /^LoadModule wsgi_module '(.+)'$/m.exec(conf)?.[1];
    t.truthy(loaded);
    t.is(realpathSync(loaded!), realpathSync(join(prefix, 'httpd', 'modules', 'mod_wsgi.so')));
  } finally {
    if (!exited) child.kill('SIGINT');
    const code = await Promise.race([exit, sleep(30_000).then(() => 'timeout' as const)]);
    if (code === 'timeout') child.kill('SIGKILL');
    clearTimeout(hardStop);
    t.is(code, 130, output);
  }
  for (let i = 0; i < 60 && (await processesUnder(serverRoot)).length > 0; i++) await sleep(250);
  t.deepEqual(await processesUnder(serverRoot), [], 'nothing of the server is left running');
});

real('uninstall removes the stack, the lock and the mod_wsgi-express launcher, and nothing else', async (t) => {
  await writeFile(join(world.prefix, 'bin', 'user-script'), '#!/bin/sh\n');
  t.true(existsSync(join(world.prefix, 'bin', 'mod_wsgi-express')));
  const result = await runCli(['uninstall', '--prefix', world.prefix, '--json'], { env: world.env() });
  t.is(result.code, 0, result.stderr);
  t.false(existsSync(join(world.prefix, 'httpd')));
  t.false(existsSync(join(world.prefix, 'bin', 'mod_wsgi-express')));
  t.false(existsSync(join(world.prefix, '.wsgi-httpd')));
  t.true(existsSync(join(world.prefix, 'bin', 'user-script')), 'unrelated files stay');
});

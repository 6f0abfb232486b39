import test, { type ExecutionContext } from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { VerifyError } from '../../../src/errors.js';
import { capture } from '../../../src/util/run.js';
import { layoutFromApxs, layoutFromRoot, probeHttpd, type ApacheLayout } from '../../../src/verify/apache-layout.js';
import { processesMentioning } from '../../../src/util/process.js';
import { parseAppBody, removeStaleVerifyDirs, renderConfig, ServerVerifyError, versionMatches, verifyServer } from '../../../src/verify/verify.js';
import { requiring } from '../../helpers/requires.js';

const apxs = '/usr/bin/apxs';
const apache2 = '/usr/sbin/apache2';
const modWsgi = '/usr/lib/apache2/modules/mod_wsgi.so';
const python3 = '/usr/bin/python3';
const missing = [apxs, apache2, modWsgi, python3].filter((path) => !existsSync(path));
const reason = `Debian's apache2, apache2-dev and libapache2-mod-wsgi-py3 are needed (missing: ${missing.join(', ')})`;
const isRoot = process.getuid?.() === 0;

/** Runs against the system's Apache: fails in CI when it is missing, skips (saying why) elsewhere. */
const systemTest = requiring(missing.length === 0 ? undefined : reason).serial;

let system: { layout: ApacheLayout; pythonVersion: string } | undefined;
async function debian(): Promise<{ layout: ApacheLayout; pythonVersion: string }> {
  if (!system) {
    const pythonVersion = await capture([python3, '-c', 'import sys; print(sys.version.split()[0])']);
    if (!pythonVersion) throw new Error(`${python3} did not report its version`);
    system = { layout: await layoutFromApxs(apxs), pythonVersion };
  }
  return system;
}

/** Nothing may be left: no process mentioning the config, no temp dir. */
function assertClean(t: ExecutionContext, configFile: string): void {
  t.deepEqual(processesMentioning(configFile), [], 'a process using the temp config survived');
  t.deepEqual(processesMentioning(dirname(configFile)), []);
  t.false(existsSync(dirname(configFile)), 'temp dir was not removed');
}

async function leftoverDirs(parent: string): Promise<string[]> {
  return (await readdir(parent)).filter((name) => name.startsWith('wsgi-verify-'));
}

// ---------------------------------------------------------------------------------------------------------------
// Pure parts

test('layoutFromRoot points into our own build', (t) => {
  t.deepEqual(layoutFromRoot('/opt/w'), {
    httpd: '/opt/w/bin/httpd',
    apxs: '/opt/w/bin/apxs',
    apachectl: '/opt/w/bin/apachectl',
    modulesDir: '/opt/w/modules',
    serverRoot: '/opt/w',
  });
});

test('renderConfig is self-contained and only switches users when asked', (t) => {
  const base = {
    dir: '/tmp/wsgi-verify-x',
    port: 4242,
    logLevel: 'warn',
    loadModules: [
      ['mpm_event_module', '/m/mod_mpm_event.so'],
      ['wsgi_module', '/m/my mod_wsgi.so'],
    ] as Array<[string, string]>,
    mpm: 'event',
    appPath: '/tmp/wsgi-verify-x/app.wsgi',
    accessLog: false,
  };
  const plain = renderConfig(base);
  t.false(/\$\{/.test(plain.split('\n').slice(1).join('\n')), 'no ${VARS}');
  t.false(/^\s*Include/m.test(plain));
  t.regex(plain, /^Listen 127\.0\.0\.1:4242$/m);
  t.regex(plain, /^LoadModule wsgi_module "\/m\/my mod_wsgi\.so"$/m);
  t.regex(plain, /^WSGIDaemonProcess verify processes=1 threads=5 home="\/tmp\/wsgi-verify-x"$/m);
  t.regex(plain, /^WSGIProcessGroup verify$/m);
  t.regex(plain, /^WSGIApplicationGroup %\{GLOBAL\}$/m);
  t.regex(plain, /^WSGISocketPrefix "\/tmp\/wsgi-verify-x\/wsgi"$/m);
  t.notRegex(plain, /^User /m);
  t.notRegex(plain, /python-home/);
  const asUser = renderConfig({ ...base, account: { user: 'www-data', group: 'www-data' }, pythonPath: '/v/lib/site-packages' });
  t.regex(asUser, /^User www-data$/m);
  t.regex(asUser, /^Group www-data$/m);
  t.regex(asUser, /python-path="\/v\/lib\/site-packages"/);
});

test('versionMatches and parseAppBody', (t) => {
  t.true(versionMatches('3.11.2', '3.11.2'));
  t.true(versionMatches('3.11.2', '3.11'));
  t.false(versionMatches('3.11.2', '3.1'));
  t.false(versionMatches('3.13.5', '3.11.2'));
  t.deepEqual(parseAppBody('x\npython-version: 3.13.5\npid: 12\n'), { 'python-version': '3.13.5', pid: '12' });
});

test('layoutFromApxs fails with a VerifyError when apxs does not exist', async (t) => {
  const error = await t.throwsAsync(layoutFromApxs('/nonexistent/bin/apxs'), { instanceOf: VerifyError });
  t.truthy(error?.hint);
});

// ---------------------------------------------------------------------------------------------------------------
// Against Debian's apache2 + mod_wsgi + /usr/bin/python3

systemTest("layoutFromApxs reads Debian's apxs", async (t) => {
  const { layout } = await debian();
  t.is(layout.httpd, apache2);
  t.is(layout.modulesDir, '/usr/lib/apache2/modules');
  t.is(layout.apxs, apxs);
  t.truthy(layout.serverRoot);
  t.regex(layout.version ?? '', /^2\.4\.\d+$/);
  t.false(layout.mpmBuiltIn);
});

systemTest("verifyServer serves the WSGI app from Debian's apache2 and stops everything", async (t) => {
  const { layout, pythonVersion } = await debian();
  const lines: string[] = [];
  const result = await verifyServer({
    layout,
    modWsgi,
    python: { executable: python3, version: pythonVersion },
    onLog: (line) => lines.push(line),
  });
  t.log(`${result.durationMs} ms, ${result.mpm} MPM, httpd ${result.httpdVersion}, ${result.url}`);
  t.is(result.status, 200);
  t.is(result.pythonVersion, pythonVersion);
  const body = parseAppBody(result.body);
  t.is(body['python-version'], pythonVersion);
  t.is(body['process-group'], 'verify');
  t.is(typeof result.daemonPid, 'number');
  t.is(String(result.daemonPid), body.pid);
  if (isRoot) t.not(body.uid, '0', 'the mod_wsgi daemon must not run as root');
  t.is(result.mpm, 'event');
  t.is(result.httpdVersion, layout.version!);
  t.regex(result.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  t.true(lines.some((line) => line.includes('-> 200')));
  assertClean(t, result.configFile);
});

systemTest('verifyServer takes what httpd -v and -l say from the caller when it has them (a remembered probe)', async (t) => {
  const { layout, pythonVersion } = await debian();
  const asked: string[] = [];
  const real = await probeHttpd(layout.httpd);
  const result = await verifyServer({
    layout,
    modWsgi,
    python: { executable: python3, version: pythonVersion },
    probeHttpd: async (httpd) => {
      asked.push(httpd);
      return { ...real, version: '2.4.99' };
    },
  });
  t.deepEqual(asked, [layout.httpd]);
  t.is(result.status, 200);
  t.is(result.httpdVersion, '2.4.99', "the caller's answer was used");
  assertClean(t, result.configFile);
});

systemTest('verifyServer works with the worker and prefork MPMs too', async (t) => {
  const { layout, pythonVersion } = await debian();
  for (const mpm of ['worker', 'prefork'] as const) {
    const result = await verifyServer({ layout, modWsgi, python: { executable: python3, version: pythonVersion }, mpm });
    t.log(`${mpm}: ${result.durationMs} ms`);
    t.is(result.mpm, mpm);
    t.is(result.status, 200);
    t.is(result.pythonVersion, pythonVersion);
    assertClean(t, result.configFile);
  }
});

systemTest('verifyServer uses workDir as the parent of its temp dir', async (t) => {
  const { layout, pythonVersion } = await debian();
  const parent = await mkdtemp(join(tmpdir(), 'verify-parent-'));
  try {
    await chmod(parent, 0o755);
    const result = await verifyServer({ layout, modWsgi, python: { executable: python3, version: pythonVersion }, workDir: parent });
    t.is(result.status, 200);
    t.is(dirname(dirname(result.configFile)), parent);
    assertClean(t, result.configFile);
    t.deepEqual(await leftoverDirs(parent), []);
  } finally {
    await rm(parent, { recursive: true, force: true });
  }
});

systemTest('a WSGI app that raises gives a VerifyError carrying the traceback from the error log', async (t) => {
  const { layout, pythonVersion } = await debian();
  const parent = await mkdtemp(join(tmpdir(), 'verify-parent-'));
  try {
    await chmod(parent, 0o755);
    const error = await t.throwsAsync(
      verifyServer({
        layout,
        modWsgi,
        python: { executable: python3, version: pythonVersion },
        workDir: parent,
        appSource: 'def application(environ, start_response):\n    raise RuntimeError("verify-test-boom")\n',
      }),
      { instanceOf: ServerVerifyError },
    );
    t.true(error instanceof VerifyError);
    t.regex(error!.message, /HTTP 500/);
    t.true(error!.errorLogTail.some((line) => line.includes('Traceback')));
    t.true(error!.errorLogTail.some((line) => line.includes('RuntimeError: verify-test-boom')));
    t.regex(error!.message, /RuntimeError: verify-test-boom/);
    t.truthy(error!.hint);
    t.deepEqual(await leftoverDirs(parent), []);
    t.deepEqual(processesMentioning(parent), []);
  } finally {
    await rm(parent, { recursive: true, force: true });
  }
});

systemTest('an httpd that does not exist gives a VerifyError', async (t) => {
  const { layout, pythonVersion } = await debian();
  const error = await t.throwsAsync(
    verifyServer({ layout: { ...layout, httpd: '/nonexistent/sbin/httpd' }, modWsgi, python: { executable: python3, version: pythonVersion } }),
    { instanceOf: VerifyError },
  );
  t.regex(error!.message, /\/nonexistent\/sbin\/httpd/);
  t.truthy(error!.hint);
});

systemTest('a Python version other than the one mod_wsgi runs gives a VerifyError', async (t) => {
  const { layout, pythonVersion } = await debian();
  const parent = await mkdtemp(join(tmpdir(), 'verify-parent-'));
  try {
    await chmod(parent, 0o755);
    const error = await t.throwsAsync(verifyServer({ layout, modWsgi, python: { executable: python3, version: '2.7.18' }, workDir: parent }), {
      instanceOf: VerifyError,
    });
    t.regex(error!.message, new RegExp(`runs Python ${pythonVersion.replace(/\./g, '\\.')}, expected 2\\.7\\.18`));
    t.regex(error!.message, /python-version: /);
    t.truthy(error!.hint);
    t.deepEqual(await leftoverDirs(parent), []);
    t.deepEqual(processesMentioning(parent), []);
  } finally {
    await rm(parent, { recursive: true, force: true });
  }
});

systemTest('as root, a Python the server user cannot reach is refused up front', async (t) => {
  if (!isRoot) {
    t.pass('not root: httpd keeps our user, nothing to check');
    return;
  }
  const { layout, pythonVersion } = await debian();
  const hidden = await mkdtemp(join(tmpdir(), 'verify-private-'));
  try {
    await chmod(hidden, 0o700);
    await symlink(python3, join(hidden, 'python3'));
    const started = Date.now();
    const error = await t.throwsAsync(verifyServer({ layout, modWsgi, python: { executable: join(hidden, 'python3'), version: pythonVersion } }), {
      instanceOf: VerifyError,
    });
    t.regex(error!.message, /cannot be run as /);
    t.regex(error!.message, new RegExp(`${hidden} is not searchable`));
    t.regex(error!.hint, /\/root/);
    t.true(Date.now() - started < 5000, 'must fail before starting httpd');
  } finally {
    await rm(hidden, { recursive: true, force: true });
  }
});

test('temp dirs of verify runs whose process is gone are removed (a server still running from one is stopped); others stay', async (t) => {
  const parent = await mkdtemp(join(tmpdir(), 'stale-verify-'));
  t.teardown(() => rm(parent, { recursive: true, force: true }));
  const gone = spawnSync('true').pid!; // exited and reaped: no such process now
  const stale = join(parent, `wsgi-verify-${gone}-aaaaaa`);
  const live = join(parent, `wsgi-verify-${process.ppid}-bbbbbb`);
  const mine = join(parent, `wsgi-verify-${process.pid}-cccccc`);
  const other = join(parent, 'wsgi-verify-dddddd');
  for (const dir of [stale, live, mine, other]) await mkdir(dir);
  const victim = join(parent, 'victim');
  await mkdir(victim);
  await writeFile(join(victim, 'keep'), 'theirs\n');
  await symlink(victim, join(parent, `wsgi-verify-${gone}-linked`));
  const server = spawn('sh', ['-c', 'sleep 30; true', join(stale, 'httpd.conf')], { stdio: 'ignore' });
  t.teardown(() => server.kill('SIGKILL'));
  const exited = new Promise((resolve) => server.once('exit', resolve));
  await removeStaleVerifyDirs(parent);
  await exited;
  t.deepEqual(
    (await readdir(parent)).sort(),
    ['victim', `wsgi-verify-${gone}-linked`, ...[live, mine, other].map((d) => d.slice(parent.length + 1))].sort(),
  );
  t.is(await readFile(join(victim, 'keep'), 'utf8'), 'theirs\n');
});

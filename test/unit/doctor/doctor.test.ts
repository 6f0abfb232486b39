import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { UsageError } from '../../../src/errors.js';
import {
  diskCheck,
  execCheck,
  formatDoctor,
  headerChecks,
  MIN_FREE_BYTES,
  probeExec,
  runDoctor,
  type Check,
  type ToolFacts,
} from '../../../src/doctor/doctor.js';
import { readPythonInfo } from '../../../src/python/detect.js';
import { privateMountsUnavailable, runWithTmpfs } from '../../helpers/private-mount.js';
import { requiring } from '../../helpers/requires.js';
import type { PythonInfo } from '../../../src/python/types.js';
import { tsxImport } from '../../helpers/cli.js';

const systemPython = '/usr/bin/python3';

let tmp: string;
let python: PythonInfo;

test.before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'wsgi-httpd-doctor-'));
  python = await readPythonInfo(systemPython, '--python');
});

test.after.always(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

function byId(checks: Check[], id: string): Check {
  const check = checks.find((c) => c.id === id);
  if (!check) throw new Error(`no check ${id} in ${checks.map((c) => c.id).join(', ')}`);
  return check;
}

/** An independent look at a header: preprocess it with the system compiler. */
function compiles(header: string): boolean {
  return spawnSync('cc', ['-E', '-x', 'c', '-'], { input: `#include <${header}>\n`, stdio: ['pipe', 'ignore', 'ignore'] }).status === 0;
}

function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['CC', 'CPPFLAGS', 'MAKE', 'PYTHON', 'WSGI_HTTPD_PYTHON', 'VIRTUAL_ENV', 'WSGI_HTTPD_BUILD_DIR']) delete env[name];
  return { ...env, ...extra };
}

test('the real machine: compiler, make, perl, Python and headers are found', async (t) => {
  const prefix = path.join(tmp, 'prefix-not-yet-created');
  const { checks, ok, facts } = await runDoctor({ python, prefix, buildDir: tmp, env: cleanEnv() });
  t.log(formatDoctor(checks));

  t.is(byId(checks, 'cc').status, 'ok');
  t.true(path.isAbsolute(facts.cc!));
  t.truthy(facts.ccVersion);
  t.true(byId(checks, 'cc').detail.includes(facts.ccVersion!));
  t.is(byId(checks, 'make').status, 'ok');
  t.true(path.isAbsolute(facts.make!));
  t.is(byId(checks, 'perl').status, 'ok');
  t.is(byId(checks, 'python').status, 'ok');
  t.is(byId(checks, 'python-headers').status, 'ok');
  t.is(byId(checks, 'python-shared').status, 'ok');

  t.true(facts.headersChecked);
  t.is(facts.hasExpatHeaders, compiles('expat.h'));
  t.is(facts.hasOpensslHeaders, compiles('openssl/ssl.h'));
  t.is(facts.hasZlibHeaders, compiles('zlib.h'));
  t.is(byId(checks, 'expat').status, facts.hasExpatHeaders ? 'ok' : 'warn');
  t.is(byId(checks, 'openssl').status, facts.hasOpensslHeaders ? 'ok' : 'warn');
  t.is(byId(checks, 'zlib').status, facts.hasZlibHeaders ? 'ok' : 'warn');
  if (facts.hasOpensslHeaders) t.regex(facts.opensslVersion ?? '', /SSL/);

  t.is(facts.platform, `${process.platform}-${process.arch}`);
  t.is(facts.nproc, os.availableParallelism());
  t.true(facts.nproc >= 1);
  t.true((facts.freeDiskBytes ?? 0) > 0);
  t.true((facts.buildDirFreeBytes ?? 0) > 0);
  t.is(byId(checks, 'disk-prefix').status, facts.freeDiskBytes! >= MIN_FREE_BYTES ? 'ok' : 'fail');
  t.is(byId(checks, 'build-exec').status, 'ok');

  t.is(
    ok,
    checks.every((c) => c.status !== 'fail'),
  );
});

test('a PATH without a compiler: cc fails with the install commands', async (t) => {
  const empty = await mkdtemp(path.join(tmp, 'empty-path-'));
  const { checks, ok, facts } = await runDoctor({ python, buildDir: tmp, env: cleanEnv({ PATH: empty }) });
  t.false(ok);
  t.is(facts.cc, null);
  t.false(facts.headersChecked);
  const cc = byId(checks, 'cc');
  t.is(cc.status, 'fail');
  t.deepEqual(cc.fix, { debian: 'apt-get install build-essential', rhel: 'dnf install gcc make', macos: 'xcode-select --install' });
  t.is(byId(checks, 'make').status, 'fail');
  t.is(byId(checks, 'perl').status, 'fail');
  t.is(byId(checks, 'perl').fix?.debian, 'apt-get install perl');
  // headers cannot be checked without a compiler: warnings, not claims
  t.is(byId(checks, 'expat').status, 'warn');
  t.true(byId(checks, 'expat').detail.includes('not checked'));

  const text = formatDoctor(checks);
  t.regex(text, /^FAIL\s+C compiler\s+no C compiler/m);
  t.true(text.includes('Debian/Ubuntu: apt-get install build-essential'));
  t.true(text.includes('RHEL/Fedora:   dnf install gcc make'));
  t.true(text.includes('macOS:         xcode-select --install'));
});

test('CC naming a missing compiler fails and says so; CC with arguments is honoured', async (t) => {
  const missing = await runDoctor({ python, buildDir: tmp, env: cleanEnv({ CC: '/nonexistent/gcc -O2' }) });
  const cc = byId(missing.checks, 'cc');
  t.is(cc.status, 'fail');
  t.true(cc.detail.includes('CC=/nonexistent/gcc -O2'));

  const withArgs = await runDoctor({ python, buildDir: tmp, env: cleanEnv({ CC: 'cc -std=gnu99' }) });
  t.is(byId(withArgs.checks, 'cc').status, 'ok');
  t.deepEqual(withArgs.facts.ccCommand.slice(1), ['-std=gnu99']);
});

test('CPPFLAGS reach the header checks', async (t) => {
  const include = await mkdtemp(path.join(tmp, 'include-'));
  await writeFile(path.join(include, 'expat.h'), '#error this expat.h is broken on purpose\n');
  const { facts, checks } = await runDoctor({ python, buildDir: tmp, env: cleanEnv({ CPPFLAGS: `-I${include}` }) });
  t.false(facts.hasExpatHeaders);
  t.is(byId(checks, 'expat').status, 'warn');
  t.true(byId(checks, 'expat').detail.includes('built from source'));
  t.is(byId(checks, 'expat').fix?.debian, 'apt-get install libexpat1-dev');
});

test('Python: a detection error fails with its hint; missing headers fail with X.Y packages', async (t) => {
  const failed = await runDoctor({
    python: new UsageError('--python=/x is not a Python interpreter: /x does not exist', 'pass --python the path of a Python 3 interpreter'),
    buildDir: tmp,
    env: cleanEnv(),
  });
  t.false(failed.ok);
  const check = byId(failed.checks, 'python');
  t.is(check.status, 'fail');
  t.true(check.detail.includes('--python=/x'));
  t.is(check.hint, 'pass --python the path of a Python 3 interpreter');

  const noHeaders = await runDoctor({ python: { ...python, hasHeaders: false }, buildDir: tmp, env: cleanEnv() });
  const headers = byId(noHeaders.checks, 'python-headers');
  t.is(headers.status, 'fail');
  t.is(headers.fix?.debian, `apt-get install python${python.majorMinor}-dev`);
  t.is(headers.fix?.rhel.startsWith(`dnf install python${python.majorMinor}-devel`), true);
  t.false(noHeaders.ok);

  const hidden = await runDoctor({
    python: { ...python, homeAccess: { readableByOthers: false, blockedAt: '/root' } },
    buildDir: tmp,
    env: cleanEnv(),
    asRoot: false,
  });
  t.is(byId(hidden.checks, 'python-home-access').status, 'warn');
});

test('Python detection runs when not given, and a prefix virtualenv for another Python is flagged', async (t) => {
  const venv = path.join(tmp, 'venv');
  spawnSync(systemPython, ['-m', 'venv', '--without-pip', venv], { stdio: 'ignore' });
  const own = await runDoctor({ prefix: venv, buildDir: tmp, env: cleanEnv() });
  t.is(byId(own.checks, 'python').status, 'ok');
  t.true(byId(own.checks, 'python').detail.includes('prefix venv'));
  t.is(byId(own.checks, 'python-prefix').status, 'ok');

  const other = await runDoctor({ python, prefix: venv, buildDir: tmp, env: cleanEnv() });
  const mismatch = byId(other.checks, 'python-prefix');
  t.is(mismatch.status, 'warn');
  t.true(mismatch.hint?.includes('--python'));
});

test('build dir: noexec (injected) fails with the WSGI_HTTPD_BUILD_DIR hint; a real temp dir passes', async (t) => {
  const { checks, ok } = await runDoctor({
    python,
    buildDir: tmp,
    env: cleanEnv(),
    probeExec: async () => ({ status: 'noexec', detail: `a script written to ${tmp} cannot be executed (EACCES): mounted noexec?` }),
  });
  t.false(ok);
  const check = byId(checks, 'build-exec');
  t.is(check.status, 'fail');
  t.true(check.hint?.includes('WSGI_HTTPD_BUILD_DIR'));
  // The build never compiles in TMPDIR (its directory is WSGI_HTTPD_BUILD_DIR or <store>/build): the hint does not send
  // the user there.
  t.false(check.hint?.includes('TMPDIR'));

  t.deepEqual(await probeExec(tmp), { status: 'ok' });
  t.deepEqual(await probeExec(path.join(tmp, 'not', 'yet', 'created')), { status: 'ok' });
});

requiring(privateMountsUnavailable())('a real noexec mount is detected (a tmpfs in a private mount namespace)', async (t) => {
  const mountPoint = await mkdtemp(path.join(tmp, 'noexec-'));
  const run = await runWithTmpfs(mountPoint, { size: '4m', noexec: true }, [
    process.execPath,
    tsxImport,
    path.join(import.meta.dirname, 'exec-probe-runner.ts'),
    path.join(mountPoint, 'build'),
  ]);
  t.is(run.code, 0, run.stderr);
  const { probe, check } = JSON.parse(run.stdout) as { probe: { status: string }; check: Check };
  t.is(probe.status, 'noexec');
  t.is(check.status, 'fail');
});

test('build dir under a regular file: not writable', async (t) => {
  const file = path.join(tmp, 'a-file');
  await writeFile(file, 'x');
  const probe = await probeExec(path.join(file, 'build'));
  t.is(probe.status, 'not-writable');
  const check = execCheck(path.join(file, 'build'), probe);
  t.is(check.status, 'fail');
  t.true(check.hint?.includes('WSGI_HTTPD_BUILD_DIR'));
});

// --- pure pieces --------------------------------------------------------------------------------------------------

function facts(overrides: Partial<ToolFacts> = {}): ToolFacts {
  return {
    platform: 'linux-x64',
    cc: '/usr/bin/cc',
    ccCommand: ['/usr/bin/cc'],
    ccVersion: 'cc 1.0',
    make: '/usr/bin/make',
    perl: '/usr/bin/perl',
    headersChecked: true,
    hasExpatHeaders: false,
    hasOpensslHeaders: false,
    hasZlibHeaders: false,
    freeDiskBytes: null,
    buildDirFreeBytes: 10 * MIN_FREE_BYTES,
    buildDir: '/tmp',
    nproc: 4,
    ...overrides,
  };
}

test('headerChecks: expat build request, OpenSSL auto/yes/no, zlib', (t) => {
  const auto = headerChecks(facts(), 'auto', 'auto');
  t.deepEqual(
    auto.map((c) => `${c.id}:${c.status}`),
    ['expat:warn', 'openssl:warn', 'zlib:warn'],
  );
  t.true(byId(auto, 'openssl').detail.includes('mod_ssl will not be built'));
  t.is(byId(auto, 'openssl').fix?.debian, 'apt-get install libssl-dev');
  t.is(byId(auto, 'openssl').fix?.rhel, 'dnf install openssl-devel');
  t.true(byId(auto, 'openssl').fix?.macos.includes('brew install openssl@3'));
  t.true(byId(auto, 'zlib').detail.includes('mod_deflate'));
  t.is(byId(auto, 'zlib').fix?.debian, 'apt-get install zlib1g-dev');
  t.is(byId(auto, 'zlib').fix?.rhel, 'dnf install zlib-devel');
  t.is(byId(auto, 'expat').fix?.rhel, 'dnf install expat-devel');
  t.is(byId(auto, 'expat').fix?.macos, 'brew install expat');

  t.is(byId(headerChecks(facts(), 'build', 'yes'), 'expat').status, 'ok');
  t.is(byId(headerChecks(facts(), 'auto', 'yes'), 'openssl').status, 'fail');
  t.is(byId(headerChecks(facts(), 'auto', 'no'), 'openssl').status, 'ok');
  t.is(byId(headerChecks(facts({ hasOpensslHeaders: true, opensslVersion: 'OpenSSL 3.9.9' }), 'auto', 'yes'), 'openssl').status, 'ok');
});

test('diskCheck: below 1 GiB fails, unknown warns', (t) => {
  t.is(diskCheck('disk-build', 'Free space (build dir)', '/b', MIN_FREE_BYTES).status, 'ok');
  const low = diskCheck('disk-build', 'Free space (build dir)', '/b', 200 * 1024 ** 2);
  t.is(low.status, 'fail');
  t.true(low.detail.includes('200.0 MiB'));
  t.true(low.hint?.includes('WSGI_HTTPD_BUILD_DIR'));
  t.is(diskCheck('disk-prefix', 'Free space (prefix)', '/p', 5).status, 'fail');
  t.is(diskCheck('disk-prefix', 'Free space (prefix)', '/p', null).status, 'warn');
});

test('formatDoctor: one line per check, fixes and hints indented under failures only', (t) => {
  const text = formatDoctor([
    { id: 'a', title: 'Alpha', status: 'ok', detail: 'fine', fix: { debian: 'd', rhel: 'r', macos: 'm' } },
    {
      id: 'b',
      title: 'Beta check',
      status: 'fail',
      detail: 'broken',
      fix: { debian: 'apt-get install b', rhel: 'dnf install b', macos: 'brew install b' },
      hint: 'try harder',
    },
    { id: 'c', title: 'Gamma', status: 'warn', detail: 'meh' },
  ]);
  t.is(
    text,
    [
      'ok    Alpha       fine',
      'FAIL  Beta check  broken',
      '                  Debian/Ubuntu: apt-get install b',
      '                  RHEL/Fedora:   dnf install b',
      '                  macOS:         brew install b',
      '                  hint: try harder',
      'WARN  Gamma       meh',
      '',
    ].join('\n'),
  );
});

import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ExitCode, PrerequisiteError, UsageError } from '../../../src/errors.js';
import { detectPython, othersCanReach, readPythonInfo } from '../../../src/python/detect.js';

const systemPython = '/usr/bin/python3';

/** The environment minus every variable that steers detection, so each test sets only what it means to. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['PYTHON', 'WSGI_HTTPD_PYTHON', 'VIRTUAL_ENV', 'NODE_GYP_FORCE_PYTHON']) delete env[name];
  return { ...env, ...extra };
}

/** Asks the interpreter itself (what the tests compare against; never a hard-coded version). */
function ask(python: string, expression: string, env: NodeJS.ProcessEnv = cleanEnv()): string {
  const code = `import sys, sysconfig, os\nprint(${expression})`;
  return execFileSync(python, ['-c', code], { env, encoding: 'utf8' }).trim();
}

const versionExpr = '"%d.%d.%d" % sys.version_info[:3]';

let tmp: string;
let venv: string;

test.before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'wsgi-httpd-python-'));
  venv = path.join(tmp, 'venv');
  execFileSync(systemPython, ['-m', 'venv', '--without-pip', venv]);
});

test.after.always(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

test('python3 on PATH: found through node-gyp, facts equal what the interpreter reports', async (t) => {
  const env = cleanEnv();
  const info = await detectPython({ env });
  t.is(info.foundBy, 'PATH');
  t.is(info.version, ask('python3', versionExpr, env));
  t.is(info.realExecutable, realpathSync(ask('python3', 'sys.executable', env)));
  t.is(info.prefix, ask('python3', 'sys.prefix', env));
  t.is(info.basePrefix, ask('python3', 'sys.base_prefix', env));
  t.is(info.abi, ask('python3', 'sysconfig.get_config_var("SOABI")', env));
  t.is(info.includeDir, ask('python3', 'sysconfig.get_config_var("INCLUDEPY")', env));
  t.is(info.hasHeaders, existsSync(path.join(info.includeDir, 'Python.h')));
  t.is(info.enableShared, ask('python3', 'sysconfig.get_config_var("Py_ENABLE_SHARED")', env) === '1');
  t.is(info.sitePackages, ask('python3', 'sysconfig.get_paths()["purelib"]', env));
  t.is(info.majorMinor, ask('python3', '"%d.%d" % sys.version_info[:2]', env));
  t.is(info.implementation, 'cpython');
  t.true(path.isAbsolute(info.executable));
  if (info.sharedLibrary) t.true(existsSync(info.sharedLibrary));
});

test('--python /usr/bin/python3: the system interpreter', async (t) => {
  const info = await detectPython({ python: systemPython, env: cleanEnv() });
  t.is(info.foundBy, '--python');
  t.is(info.executable, systemPython);
  t.is(info.version, ask(systemPython, versionExpr));
  t.is(info.realExecutable, realpathSync(systemPython));
  t.is(info.prefix, ask(systemPython, 'sys.prefix'));
  t.false(info.isVirtualenv);
  t.is(info.libDir, ask(systemPython, 'sysconfig.get_config_var("LIBDIR")'));
  t.is(info.ldLibrary, ask(systemPython, 'sysconfig.get_config_var("LDLIBRARY")'));
  t.is(info.sitePackages, ask(systemPython, 'sysconfig.get_paths()["purelib"]'));
  // python3-dev is installed on these machines: headers and the link-time libpython are there.
  t.true(info.hasHeaders);
  t.truthy(info.sharedLibrary);
  t.true(info.homeAccess?.readableByOthers);
});

test('--python accepts a command name looked up on the given PATH', async (t) => {
  const info = await detectPython({ python: 'python3', env: cleanEnv({ PATH: '/usr/bin:/bin' }) });
  t.is(info.foundBy, '--python');
  t.is(info.version, ask(systemPython, versionExpr));
});

test('a wrapper script (like a pyenv shim) is replaced by the interpreter it runs', async (t) => {
  const wrapper = path.join(tmp, 'wrapper-python');
  await writeFile(wrapper, `#!/bin/sh\nexec ${systemPython} "$@"\n`);
  await chmod(wrapper, 0o755);
  const info = await detectPython({ python: wrapper, env: cleanEnv() });
  t.is(info.realExecutable, realpathSync(systemPython));
  t.is(info.executable, ask(systemPython, 'sys.executable'));
});

test('the prefix virtualenv: its own bin/python3, virtualenv facts from the interpreter', async (t) => {
  const info = await detectPython({ prefix: venv, env: cleanEnv() });
  t.is(info.foundBy, 'prefix venv');
  t.is(info.executable, path.join(venv, 'bin', 'python3'));
  t.true(info.isVirtualenv);
  t.is(info.prefix, ask(info.executable, 'sys.prefix'));
  t.is(info.basePrefix, ask(systemPython, 'sys.prefix'));
  t.is(info.version, ask(systemPython, versionExpr));
  t.is(info.realExecutable, realpathSync(systemPython));
  t.is(info.sitePackages, ask(info.executable, 'sysconfig.get_paths()["purelib"]'));
  t.true(info.sitePackages.startsWith(venv));
});

test('precedence: --python > WSGI_HTTPD_PYTHON > PYTHON > prefix venv > VIRTUAL_ENV > PATH', async (t) => {
  const venvPython = path.join(venv, 'bin', 'python');
  const plain = await mkdtemp(path.join(tmp, 'plain-prefix-'));
  const all = cleanEnv({ WSGI_HTTPD_PYTHON: venvPython, PYTHON: systemPython, VIRTUAL_ENV: venv });

  t.is((await detectPython({ python: systemPython, prefix: venv, env: all })).foundBy, '--python');

  const fromWsgi = await detectPython({ prefix: venv, env: all });
  t.is(fromWsgi.foundBy, 'WSGI_HTTPD_PYTHON');
  t.is(fromWsgi.executable, venvPython);
  t.true(fromWsgi.isVirtualenv);

  const fromPython = await detectPython({ prefix: venv, env: cleanEnv({ PYTHON: systemPython, VIRTUAL_ENV: venv }) });
  t.is(fromPython.foundBy, 'PYTHON');
  t.is(fromPython.executable, systemPython);

  t.is((await detectPython({ prefix: venv, env: cleanEnv({ VIRTUAL_ENV: '/nonexistent-venv' }) })).foundBy, 'prefix venv');

  // A prefix without pyvenv.cfg is not a virtualenv: VIRTUAL_ENV is next.
  const fromVirtualEnv = await detectPython({ prefix: plain, env: cleanEnv({ VIRTUAL_ENV: venv }) });
  t.is(fromVirtualEnv.foundBy, 'VIRTUAL_ENV');
  t.is(fromVirtualEnv.executable, path.join(venv, 'bin', 'python3'));

  t.is((await detectPython({ prefix: plain, env: cleanEnv() })).foundBy, 'PATH');
});

test('readPythonInfo reads a given interpreter and records foundBy', async (t) => {
  const info = await readPythonInfo(systemPython, 'test');
  t.is(info.foundBy, 'test');
  t.is(info.version, ask(systemPython, versionExpr));
});

// --- bad candidates ---------------------------------------------------------------------------------------------

async function usageError(t: ExecutionContext, promise: Promise<unknown>, ...parts: string[]): Promise<UsageError> {
  const error = (await t.throwsAsync(promise, { instanceOf: UsageError }))!;
  t.is(error.exitCode, ExitCode.usage);
  for (const part of parts) t.true(error.message.includes(part), `message "${error.message}" lacks "${part}"`);
  t.true(error.hint.length > 0);
  return error;
}

test('--python that does not exist: UsageError naming --python', async (t) => {
  const error = await usageError(
    t,
    detectPython({ python: '/nonexistent/python3', env: cleanEnv() }),
    '--python=/nonexistent/python3',
    'does not exist',
  );
  t.true(error.hint.includes('--python'));
});

test('WSGI_HTTPD_PYTHON naming a file that is not executable', async (t) => {
  const file = path.join(tmp, 'not-executable');
  await writeFile(file, 'just text\n');
  await chmod(file, 0o644);
  // Root may execute anything with an x bit, but nothing without one.
  const error = await usageError(t, detectPython({ env: cleanEnv({ WSGI_HTTPD_PYTHON: file }) }), `WSGI_HTTPD_PYTHON=${file}`, 'not executable');
  t.true(error.hint.includes('WSGI_HTTPD_PYTHON'));
});

test('PYTHON naming an executable that is not Python', async (t) => {
  const fake = path.join(tmp, 'fake-python');
  await writeFile(fake, '#!/bin/sh\necho hello\nexit 0\n');
  await chmod(fake, 0o755);
  await usageError(t, detectPython({ env: cleanEnv({ PYTHON: fake }) }), `PYTHON=${fake}`, 'is not a Python interpreter');

  const failing = path.join(tmp, 'failing-python');
  await writeFile(failing, '#!/bin/sh\necho "no such thing" >&2\nexit 3\n');
  await chmod(failing, 0o755);
  await usageError(t, detectPython({ env: cleanEnv({ PYTHON: failing }) }), `PYTHON=${failing}`, 'no such thing');
});

test('--python naming a directory or an unknown command', async (t) => {
  await usageError(t, detectPython({ python: venv, env: cleanEnv() }), 'is a directory', path.join(venv, 'bin', 'python3'));
  await usageError(t, detectPython({ python: 'no-such-python-xyz', env: cleanEnv() }), '--python=no-such-python-xyz', 'no command');
});

test('a Python older than the floor is refused with its version', async (t) => {
  // A stand-in that answers like Python 2.7 would (the real query is run and its JSON faked).
  const old = path.join(tmp, 'old-python');
  await writeFile(
    old,
    `#!/bin/sh\nexec ${systemPython} -c 'import sys; exec(sys.argv[1].replace("vi = sys.version_info", "vi = (2, 7, 18)"))' "$4"\n`,
  );
  await chmod(old, 0o755);
  await usageError(t, detectPython({ python: old, env: cleanEnv() }), 'is Python 2.7.18', 'needs Python 3.6');
});

test('a broken prefix virtualenv or a stale VIRTUAL_ENV is an error, not a silent fallback', async (t) => {
  const broken = path.join(tmp, 'broken-venv');
  await mkdir(broken, { recursive: true });
  await writeFile(path.join(broken, 'pyvenv.cfg'), 'home = /nonexistent\n');
  const error = await usageError(t, detectPython({ prefix: broken, env: cleanEnv() }), broken, 'pyvenv.cfg');
  t.true(error.hint.includes('venv --clear'));

  const stale = await usageError(
    t,
    detectPython({ env: cleanEnv({ VIRTUAL_ENV: '/nonexistent-venv' }) }),
    'VIRTUAL_ENV=/nonexistent-venv',
    'does not exist',
  );
  t.true(stale.hint.includes('deactivate'));
});

test('no Python on PATH: PrerequisiteError with install hints', async (t) => {
  const empty = await mkdtemp(path.join(tmp, 'empty-path-'));
  const error = await t.throwsAsync(detectPython({ env: cleanEnv({ PATH: empty }) }), { instanceOf: PrerequisiteError });
  t.is(error?.exitCode, ExitCode.prerequisite);
  t.true(error?.hint.includes('apt-get install python3 python3-dev'));
  t.true(error?.hint.includes('--python'));
});

test('othersCanReach: finds the first directory others cannot search', async (t) => {
  const outer = await mkdtemp(path.join(tmp, 'perm-'));
  const inner = path.join(outer, 'a', 'b');
  await mkdir(inner, { recursive: true });
  await chmod(outer, 0o755);
  await chmod(path.join(outer, 'a'), 0o755);
  await chmod(inner, 0o755);
  // tmp itself comes from mkdtemp (0700): open it for this test.
  await chmod(tmp, 0o755);
  const reachable = await othersCanReach([inner]);
  if (!reachable.readableByOthers) {
    // Something above the temp dir is closed (e.g. TMPDIR under /root): the check must name that directory.
    t.truthy(reachable.blockedAt);
    t.false(inner.startsWith(`${reachable.blockedAt}/a`));
    return;
  }
  await chmod(path.join(outer, 'a'), 0o750);
  t.deepEqual(await othersCanReach([inner]), { readableByOthers: false, blockedAt: realpathSync(path.join(outer, 'a')) });
  await chmod(path.join(outer, 'a'), 0o711); // search without read is enough for an ancestor...
  t.deepEqual(await othersCanReach([inner]), { readableByOthers: true });
  await chmod(inner, 0o711); // ...but not for the home itself
  t.deepEqual(await othersCanReach([inner]), { readableByOthers: false, blockedAt: realpathSync(inner) });
});

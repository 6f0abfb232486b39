import test from 'ava';
import { pythonProblems } from '../../../src/python/detect.js';
import type { PythonInfo } from '../../../src/python/types.js';

/** A healthy distribution Python 3.13 (synthetic: pythonProblems only looks at the object). */
function info(overrides: Partial<PythonInfo> = {}): PythonInfo {
  return {
    executable: '/usr/bin/python3',
    realExecutable: '/usr/bin/python3.13',
    version: '3.13.5',
    abi: 'cpython-313-x86_64-linux-gnu',
    prefix: '/usr',
    basePrefix: '/usr',
    isVirtualenv: false,
    includeDir: '/usr/include/python3.13',
    hasHeaders: true,
    libDir: '/usr/lib/x86_64-linux-gnu',
    ldLibrary: 'libpython3.13.so',
    enableShared: true,
    sitePackages: '/usr/local/lib/python3.13/dist-packages',
    foundBy: 'PATH',
    majorMinor: '3.13',
    implementation: 'cpython',
    ldVersion: '3.13',
    abiFlags: '',
    sharedLibrary: '/usr/lib/x86_64-linux-gnu/libpython3.13.so',
    homeAccess: { readableByOthers: true },
    ...overrides,
  };
}

const ids = (list: ReturnType<typeof pythonProblems>) => list.map((p) => `${p.severity}:${p.id}`);

test('a healthy Python has no problems', (t) => {
  t.deepEqual(pythonProblems(info(), 'linux'), []);
});

test('a minimal PythonInfo (only the original fields) is judged by Py_ENABLE_SHARED alone', (t) => {
  const { majorMinor, implementation, ldVersion, abiFlags, sharedLibrary, homeAccess, ...minimal } = info();
  t.deepEqual(pythonProblems(minimal, 'linux'), []);
  t.deepEqual(ids(pythonProblems({ ...minimal, enableShared: false }, 'linux')), ['error:python-shared']);
});

test('missing Python.h on a system Python: exact packages with the real X.Y', (t) => {
  const [problem, ...rest] = pythonProblems(info({ hasHeaders: false }), 'linux');
  t.deepEqual(rest, []);
  t.is(problem!.id, 'python-headers');
  t.is(problem!.severity, 'error');
  t.true(problem!.message.includes('/usr/include/python3.13'));
  t.true(problem!.hint.includes('apt-get install python3.13-dev'));
  t.true(problem!.hint.includes('dnf install python3.13-devel'));
  t.true(problem!.hint.includes('python3-devel'));
  t.true(problem!.hint.includes('Homebrew'));
});

test('missing Python.h takes X.Y from the version when majorMinor is absent', (t) => {
  const { majorMinor, ...rest } = info({ version: '3.12.1', hasHeaders: false });
  const [problem] = pythonProblems(rest, 'linux');
  t.true(problem!.hint.includes('python3.12-dev'));
});

test('missing Python.h on a self-built Python says to reinstall it', (t) => {
  const [problem] = pythonProblems(
    info({ hasHeaders: false, basePrefix: '/opt/python/3.13.5', prefix: '/opt/python/3.13.5', executable: '/opt/python/3.13.5/bin/python3' }),
    'linux',
  );
  t.true(problem!.hint.includes('/opt/python/3.13.5'));
  t.true(problem!.hint.includes('reinstall'));
});

test('a static-only Python (pyenv default): rebuild with --enable-shared, or use the system Python', (t) => {
  const problems = pythonProblems(
    info({
      version: '3.12.4',
      majorMinor: '3.12',
      ldVersion: '3.12',
      basePrefix: '/home/u/.pyenv/versions/3.12.4',
      prefix: '/home/u/.pyenv/versions/3.12.4',
      libDir: '/home/u/.pyenv/versions/3.12.4/lib',
      ldLibrary: 'libpython3.12.a',
      enableShared: false,
      sharedLibrary: null,
    }),
    'linux',
  );
  t.deepEqual(ids(problems), ['error:python-shared']);
  t.true(problems[0]!.message.includes('libpython3.12'));
  t.true(problems[0]!.hint.includes('env PYTHON_CONFIGURE_OPTS="--enable-shared" pyenv install --force 3.12.4'));
  t.true(problems[0]!.hint.includes('system Python'));
});

test('Py_ENABLE_SHARED=0 but a libpython.so in LIBDIR (conda-style) is fine', (t) => {
  t.deepEqual(pythonProblems(info({ enableShared: false, sharedLibrary: '/opt/conda/lib/libpython3.13.so' }), 'linux'), []);
});

test('built shared but libpython is gone, or only the runtime soname is there: dev package hint', (t) => {
  const gone = pythonProblems(info({ sharedLibrary: null }), 'linux');
  t.deepEqual(ids(gone), ['error:python-shared']);
  t.true(gone[0]!.hint.includes('libpython3.13-dev'));

  const sonameOnly = pythonProblems(info({ sharedLibrary: '/usr/lib/x86_64-linux-gnu/libpython3.13.so.1.0' }), 'linux');
  t.deepEqual(ids(sonameOnly), ['error:python-shared']);
  t.true(sonameOnly[0]!.message.includes('libpython3.13.so.1.0'));
  t.true(sonameOnly[0]!.hint.includes('apt-get install libpython3.13-dev'));
});

test('a macOS framework build needs no libpython.so', (t) => {
  t.deepEqual(pythonProblems(info({ enableShared: false, sharedLibrary: null, framework: 'Python' }), 'darwin'), []);
  // the same object on Linux is a problem: there is no framework to link
  t.deepEqual(ids(pythonProblems(info({ enableShared: false, sharedLibrary: null, framework: 'Python' }), 'linux')), ['error:python-shared']);
});

test('a Python under a directory others cannot search is a warning naming that directory', (t) => {
  const problems = pythonProblems(
    info({
      basePrefix: '/root/.pyenv/versions/3.13.5',
      prefix: '/root/.pyenv/versions/3.13.5',
      homeAccess: { readableByOthers: false, blockedAt: '/root' },
    }),
    'linux',
  );
  t.deepEqual(ids(problems), ['warning:python-home-access']);
  t.true(problems[0]!.message.includes('/root'));
  t.true(problems[0]!.message.includes('unprivileged'));
  t.true(problems[0]!.hint.includes('chmod o+x'));
});

test('not CPython: an error; problems add up', (t) => {
  const problems = pythonProblems(
    info({ implementation: 'pypy', hasHeaders: false, homeAccess: { readableByOthers: false, blockedAt: '/root' } }),
    'linux',
  );
  t.deepEqual(ids(problems), ['error:python-implementation', 'error:python-headers', 'warning:python-home-access']);
});

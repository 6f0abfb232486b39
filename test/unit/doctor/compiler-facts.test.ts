import { removeTempDirs, tempDir } from '../../helpers/temp.js';
import test from 'ava';
import { chmod, mkdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { compilerFacts, includePath } from '../../../src/doctor/compiler-facts.js';

/** A compiler that answers like cc for the probes, finds headers in $INC, and logs every run. */
async function fakeCompiler() {
  const dir = await tempDir('compiler-facts-');
  const inc = join(dir, 'include');
  await mkdir(inc);
  const cc = join(dir, 'cc');
  const log = join(dir, 'runs');
  await writeFile(
    cc,
    `#!/bin/sh
echo "$*" >> "${log}"
case "$*" in
  *--version*) echo "fakecc 1.0"; exit 0;;
  *"-E -v"*) printf '#include <...> search starts here:\\n %s\\nEnd of search list.\\n' "${inc}" >&2; exit 0;;
esac
header=$(sed -n 's/^#include <\\(.*\\)>$/\\1/p')
[ -f "${inc}/$header" ]
`,
  );
  await chmod(cc, 0o755);
  const runs = async () => (await readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
  return { dir, inc, cc, runs, cache: { dir: join(dir, 'facts') } };
}

test.after.always(removeTempDirs);

test('the compiler is probed once; later builds take its answers from the store while the include path is unchanged', async (t) => {
  const f = await fakeCompiler();
  const env = { PATH: process.env.PATH };
  const first = await compilerFacts([f.cc], env, f.cache);
  t.like(first, { ccVersion: 'fakecc 1.0', hasZlibHeaders: false, hasOpensslHeaders: false });
  const probes = await f.runs();
  t.true(probes >= 5);
  t.deepEqual(await compilerFacts([f.cc], env, f.cache), first);
  t.is(await f.runs(), probes, 'no compiler run the second time');
});

test('a header package installed (the include directory changes) or other flags: probed again', async (t) => {
  const f = await fakeCompiler();
  const env = { PATH: process.env.PATH };
  await compilerFacts([f.cc], env, f.cache);
  await writeFile(join(f.inc, 'zlib.h'), '');
  await utimes(f.inc, new Date(), new Date(Date.now() + 5000)); // as an install does, whatever the clock's resolution
  const after = await compilerFacts([f.cc], env, f.cache);
  t.true(after.hasZlibHeaders);
  const probes = await f.runs();
  await compilerFacts([f.cc], { ...env, CPPFLAGS: '-I/opt/x' }, f.cache);
  t.true((await f.runs()) > probes, 'CPPFLAGS is part of what is remembered');
});

test('without a cache directory (doctor) the compiler is always probed', async (t) => {
  const f = await fakeCompiler();
  await compilerFacts([f.cc], { PATH: process.env.PATH });
  const once = await f.runs();
  await compilerFacts([f.cc], { PATH: process.env.PATH });
  t.is(await f.runs(), once * 2);
});

test('includePath reads the search list the compiler prints with -v', async (t) => {
  const f = await fakeCompiler();
  t.deepEqual(await includePath([f.cc], { PATH: process.env.PATH }), [f.inc]);
  const real = await includePath(['cc'], process.env);
  if (real.length === 0) return t.fail('cc -E -v printed no search list');
  t.true(real.includes('/usr/include'), real.join(' '));
});

test('a read-only cache (a dry run, lock) reads what is kept but writes nothing', async (t) => {
  const f = await fakeCompiler();
  const env = { PATH: process.env.PATH };
  await compilerFacts([f.cc], env, { ...f.cache, readOnly: true });
  const probes = await f.runs();
  await compilerFacts([f.cc], env, { ...f.cache, readOnly: true });
  t.is(await f.runs(), probes * 2, 'nothing was kept, so it probed again');
  await compilerFacts([f.cc], env, f.cache);
  const kept = await f.runs();
  await compilerFacts([f.cc], env, { ...f.cache, readOnly: true });
  t.is(await f.runs(), kept, 'what a build kept is read');
});

test('with a launcher (CC="launcher cc"), the compiler behind it is part of what is remembered', async (t) => {
  const f = await fakeCompiler();
  const launcher = join(f.dir, 'launcher');
  await writeFile(launcher, '#!/bin/sh\nexec "$@"\n');
  await chmod(launcher, 0o755);
  const env = { PATH: process.env.PATH };
  await compilerFacts([launcher, f.cc], env, f.cache);
  const probes = await f.runs();
  await compilerFacts([launcher, f.cc], env, f.cache);
  t.is(await f.runs(), probes, 'kept');
  // The compiler is upgraded (a new binary in its place); the launcher is not.
  await writeFile(f.cc, `${await readFile(f.cc, 'utf8')}\n# upgraded\n`);
  await compilerFacts([launcher, f.cc], env, f.cache);
  t.true((await f.runs()) > probes, 'probed again');
});

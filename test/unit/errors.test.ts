import test from 'ava';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExitCode, FileSystemError, fromSystemError, ToolchainError, UnpackError } from '../../src/errors.js';

function workdir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'wsgi-errors-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The error Node itself throws for this call (real errno, syscall and path). */
function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw');
}

/** An errno error shaped exactly as Node makes them, for the codes a test cannot provoke as root on any disk. */
function errno(code: string, syscall: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${syscall} '${path}'`), { code, syscall, path, errno: -1 });
}

test('exit code 9 is the file-system code, distinct from every other', (t) => {
  t.is(ExitCode.filesystem, 9);
  const codes = Object.values(ExitCode);
  t.is(new Set(codes).size, codes.length);
});

test('real Node errors: ENOTDIR, EEXIST, ENAMETOOLONG, ELOOP become FileSystemErrors naming the path', (t) => {
  const dir = workdir(t);
  const file = join(dir, 'file');
  writeFileSync(file, 'x');
  const loop = join(dir, 'loop');
  symlinkSync('loop', loop);
  const cases: { error: unknown; code: string; message: RegExp }[] = [
    {
      error: thrownBy(() => mkdirSync(join(file, 'sub'))),
      code: 'ENOTDIR',
      message: /^cannot create .*\/file\/sub: a component of the path is a file, not a directory \(ENOTDIR\)$/,
    },
    { error: thrownBy(() => mkdirSync(dir)), code: 'EEXIST', message: /^cannot create .*: it already exists \(EEXIST\)$/ },
    {
      error: thrownBy(() => writeFileSync(join(dir, 'n'.repeat(300)), 'x')),
      code: 'ENAMETOOLONG',
      message: /^cannot open .*nnnn: file name too long \(ENAMETOOLONG\)$/,
    },
    {
      error: thrownBy(() => mkdirSync(join(loop, 'sub'))),
      code: 'ELOOP',
      message: /^cannot create .*\/loop\/sub: too many levels of symbolic links/,
    },
  ];
  for (const c of cases) {
    const mapped = fromSystemError(c.error);
    t.true(mapped instanceof FileSystemError, c.code);
    t.true(mapped instanceof ToolchainError);
    t.is(mapped!.code, c.code);
    t.is(mapped!.exitCode, 9);
    t.regex(mapped!.message, c.message);
    t.false(mapped!.message.includes('\n'));
    t.truthy(mapped!.hint);
    t.is(mapped!.cause, c.error);
  }
});

test('permission, read-only, disk full, quota and open-file errors: message and hint say what to do', (t) => {
  const cases: { code: string; reason: RegExp; hint: RegExp }[] = [
    { code: 'EACCES', reason: /permission denied/, hint: /permissions.*--prefix/ },
    { code: 'EPERM', reason: /operation not permitted/, hint: /permissions.*--prefix/ },
    { code: 'EROFS', reason: /read-only file system/, hint: /writable file system: --prefix/ },
    { code: 'ENOSPC', reason: /no space left on device/, hint: /free space.*df -h.*--prefix/ },
    { code: 'EDQUOT', reason: /disk quota exceeded/, hint: /quota.*free space/ },
    { code: 'EMFILE', reason: /too many open files/, hint: /ulimit -n/ },
  ];
  for (const c of cases) {
    const mapped = fromSystemError(errno(c.code, 'mkdir', '/opt/x/y'));
    t.is(mapped?.exitCode, ExitCode.filesystem, c.code);
    t.regex(mapped!.message, new RegExp(`^cannot create /opt/x/y: ${c.reason.source} \\(${c.code}\\)$`));
    t.regex(mapped!.hint, c.hint);
    t.is(mapped!.path, '/opt/x/y');
  }
});

test('the caller may name the path and the action; rename mentions its destination', (t) => {
  const error = errno('EROFS', 'open', '/ro/prefix/.tmp-123/file.o');
  t.is(
    fromSystemError(error, { path: '/ro/prefix', action: 'install into' })!.message,
    'cannot install into /ro/prefix: read-only file system (EROFS)',
  );
  const rename = Object.assign(errno('EACCES', 'rename', '/a/tmp'), { dest: '/a/final' });
  t.is(fromSystemError(rename)!.message, 'cannot rename /a/tmp to /a/final: permission denied (EACCES)');
  t.is(fromSystemError(errno('EMFILE', 'uv_pipe_open', ''))!.message, 'uv_pipe_open failed: too many open files (EMFILE)');
  const write = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', syscall: 'write' });
  t.is(fromSystemError(write)!.message, 'write failed: no space left on device (ENOSPC)');
});

test('an ENOENT from mkdir under a writable directory is a real ENOENT: unmapped', (t) => {
  const dir = workdir(t);
  const error = thrownBy(() => mkdirSync(join(dir, 'missing', 'sub')));
  t.is((error as NodeJS.ErrnoException).code, 'ENOENT');
  t.is(fromSystemError(error), undefined);
});

test('anything else stays unmapped (an internal error): unknown errno, plain errors, non-errors, ToolchainErrors', (t) => {
  t.is(fromSystemError(errno('EIO', 'read', '/x')), undefined);
  t.is(fromSystemError(errno('ECONNRESET', 'read', '')), undefined);
  t.is(fromSystemError(new TypeError('x is not a function')), undefined);
  t.is(fromSystemError('ENOSPC'), undefined);
  t.is(fromSystemError(undefined), undefined);
  t.is(fromSystemError(null), undefined);
  t.is(fromSystemError(Object.assign(new UnpackError('bad'), { code: 'ENOSPC' })), undefined);
});

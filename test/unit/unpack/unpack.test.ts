import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import fs, {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  existsSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar';
import { DecompressionLimitError, ExitCode, UnpackError } from '../../../src/errors.js';
import { unpackArchive, detectCompression, unpackLimits } from '../../../src/unpack/unpack.js';
import { privateMountsUnavailable, runWithTmpfs } from '../../helpers/private-mount.js';
import { requiring } from '../../helpers/requires.js';
import { tsxImport } from '../../helpers/cli.js';

function workdir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'wsgi-unpack-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A raw ustar header, so that we can write entries node-tar's packer would never produce. */
function header(name: string, opts: { type?: string; size?: number; linkname?: string; mode?: number } = {}): Buffer {
  const b = Buffer.alloc(512);
  const octal = (n: number, width: number) => `${n.toString(8).padStart(width - 1, '0')}\0`;
  b.write(name, 0, 100, 'utf8');
  b.write(octal(opts.mode ?? 0o644, 8), 100);
  b.write(octal(0, 8), 108);
  b.write(octal(0, 8), 116);
  b.write(octal(opts.size ?? 0, 12), 124);
  b.write(octal(1_700_000_000, 12), 136);
  b.write('        ', 148);
  b.write(opts.type ?? '0', 156);
  b.write(opts.linkname ?? '', 157, 100, 'utf8');
  b.write('ustar\0', 257);
  b.write('00', 263);
  b.write(octal(0, 8), 329);
  b.write(octal(0, 8), 337);
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return b;
}

type RawEntry = { name: string; type?: string; body?: string; linkname?: string; mode?: number };

function rawTar(entries: RawEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? '');
    parts.push(header(e.name, { type: e.type, size: body.length, linkname: e.linkname, mode: e.mode }));
    if (body.length) parts.push(body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** A small source tree "pkg-1.0/" with an executable, a nested dir and an internal relative symlink. */
async function goodTar(dir: string): Promise<string> {
  const src = join(dir, 'src');
  mkdirSync(join(src, 'pkg-1.0', 'sub'), { recursive: true });
  writeFileSync(join(src, 'pkg-1.0', 'configure'), '#!/bin/sh\necho ok\n');
  chmodSync(join(src, 'pkg-1.0', 'configure'), 0o755);
  writeFileSync(join(src, 'pkg-1.0', 'sub', 'a.c'), 'int main(void) { return 0; }\n');
  symlinkSync('sub/a.c', join(src, 'pkg-1.0', 'link.c'));
  const file = join(dir, 'pkg-1.0.tar');
  await tar.c({ file, cwd: src, portable: true }, ['pkg-1.0']);
  rmSync(src, { recursive: true });
  return file;
}

function assertGoodTree(t: import('ava').ExecutionContext, dest: string) {
  t.is(readFileSync(join(dest, 'sub', 'a.c'), 'utf8'), 'int main(void) { return 0; }\n');
  t.is(statSync(join(dest, 'configure')).mode & 0o111, 0o111);
  t.is(readlinkSync(join(dest, 'link.c')), 'sub/a.c');
  t.false(existsSync(join(dest, 'pkg-1.0')));
}

/** Nothing but the listed names may sit in dir after an unpack (no temp dirs, no escaped files). */
function assertOnly(t: import('ava').ExecutionContext, dir: string, names: string[]) {
  t.deepEqual(readdirSync(dir).sort(), [...names].sort());
}

test('good .tar.gz (renamed Debian-style) extracts with the top directory stripped', async (t) => {
  const dir = workdir(t);
  const plain = await goodTar(dir);
  const archive = join(dir, 'pkg_1.0.orig.tar.bz2'); // misleading name: content is gzip
  writeFileSync(archive, gzipSync(readFileSync(plain)));
  rmSync(plain);
  t.is(await detectCompression(archive), 'gzip');
  const dest = join(dir, 'out');
  const result = await unpackArchive(archive, dest);
  t.is(result.root, dest);
  t.is(result.strippedDir, 'pkg-1.0');
  t.true(result.entries >= 5);
  assertGoodTree(t, dest);
  assertOnly(t, dir, ['out', 'pkg_1.0.orig.tar.bz2']);
});

test('good .tar.bz2 (system bzip2) extracts with the top directory stripped', async (t) => {
  const dir = workdir(t);
  const plain = await goodTar(dir);
  execFileSync('bzip2', [plain]);
  const archive = `${plain}.bz2`;
  t.is(await detectCompression(archive), 'bzip2');
  const dest = join(dir, 'out');
  await unpackArchive(archive, dest);
  assertGoodTree(t, dest);
  assertOnly(t, dir, ['out', 'pkg-1.0.tar.bz2']);
});

test('good .tar.xz (system xz) extracts with the top directory stripped', async (t) => {
  const dir = workdir(t);
  const plain = await goodTar(dir);
  execFileSync('xz', [plain]);
  const archive = `${plain}.xz`;
  t.is(await detectCompression(archive), 'xz');
  const dest = join(dir, 'out');
  await unpackArchive(archive, dest);
  assertGoodTree(t, dest);
  assertOnly(t, dir, ['out', 'pkg-1.0.tar.xz']);
});

test('plain .tar works too', async (t) => {
  const dir = workdir(t);
  const plain = await goodTar(dir);
  const dest = join(dir, 'out');
  await unpackArchive(plain, dest);
  assertGoodTree(t, dest);
});

test('truncated .tar.bz2 is an error and leaves nothing', async (t) => {
  const dir = workdir(t);
  const src = join(dir, 'src', 'pkg-1.0');
  mkdirSync(src, { recursive: true });
  // Incompressible content so that the truncation cuts file data, not just the end-of-archive blocks.
  for (let i = 0; i < 4; i++)
    writeFileSync(join(src, `f${i}`), Buffer.from(Array.from({ length: 64 * 1024 }, () => Math.floor(Math.random() * 256))));
  const plain = join(dir, 'pkg.tar');
  await tar.c({ file: plain, cwd: join(dir, 'src') }, ['pkg-1.0']);
  rmSync(join(dir, 'src'), { recursive: true });
  execFileSync('bzip2', [plain]);
  const full = readFileSync(`${plain}.bz2`);
  const archive = join(dir, 'cut.tar.bz2');
  writeFileSync(archive, full.subarray(0, Math.floor(full.length / 2)));
  rmSync(`${plain}.bz2`);
  const dest = join(dir, 'out');
  const error = await t.throwsAsync(unpackArchive(archive, dest), { instanceOf: UnpackError });
  t.regex(error!.message, /damaged|truncated|Truncated|bzip2/i);
  assertOnly(t, dir, ['cut.tar.bz2']);
});

test('truncated .tar.gz is an error and leaves nothing', async (t) => {
  const dir = workdir(t);
  const plain = await goodTar(dir);
  const gz = gzipSync(readFileSync(plain));
  rmSync(plain);
  const archive = join(dir, 'cut.tar.gz');
  writeFileSync(archive, gz.subarray(0, gz.length - 40));
  const error = await t.throwsAsync(unpackArchive(archive, join(dir, 'out')), { instanceOf: UnpackError });
  t.truthy(error);
  assertOnly(t, dir, ['cut.tar.gz']);
});

const malicious: { title: string; entries: RawEntry[]; entry: string; reason: RegExp }[] = [
  {
    title: '"../x" path',
    entries: [
      { name: 'pkg/', type: '5' },
      { name: 'pkg/ok', body: 'fine' },
      { name: '../x', body: 'escaped' },
    ],
    entry: '../x',
    reason: /\.\./,
  },
  {
    title: 'nested "pkg/../../x" path',
    entries: [
      { name: 'pkg/', type: '5' },
      { name: 'pkg/../../x', body: 'escaped' },
    ],
    entry: 'pkg/../../x',
    reason: /\.\./,
  },
  {
    title: 'absolute path',
    entries: [
      { name: 'pkg/', type: '5' },
      { name: '/tmp/wsgi-httpd-abs-test', body: 'escaped' },
    ],
    entry: '/tmp/wsgi-httpd-abs-test',
    reason: /absolute/,
  },
  {
    title: 'symlink to /etc',
    entries: [
      { name: 'pkg/', type: '5' },
      { name: 'pkg/etc', type: '2', linkname: '/etc' },
      { name: 'pkg/etc/evil', body: 'x' },
    ],
    entry: 'pkg/etc',
    reason: /absolute path \/etc/,
  },
  {
    title: 'symlink climbing out with ..',
    entries: [
      { name: 'pkg/', type: '5' },
      { name: 'pkg/up', type: '2', linkname: '../../outside' },
    ],
    entry: 'pkg/up',
    reason: /outside/,
  },
  {
    title: 'symlink leaving the stripped top directory',
    entries: [
      { name: 'pkg/', type: '5' },
      { name: 'pkg/sib', type: '2', linkname: '../sibling' },
    ],
    entry: 'pkg/sib',
    reason: /outside the tree/,
  },
  {
    title: 'symlink resolved through another symlink',
    entries: [
      { name: 'pkg/', type: '5' },
      { name: 'pkg/d/', type: '5' },
      { name: 'pkg/d/a', type: '2', linkname: '..' },
      { name: 'pkg/b', type: '2', linkname: 'd/a/../x' },
    ],
    entry: 'pkg/b',
    reason: /another symlink/,
  },
  {
    title: 'hard link out of the tree',
    entries: [
      { name: 'pkg/', type: '5' },
      { name: 'pkg/passwd', type: '1', linkname: '/etc/passwd' },
    ],
    entry: 'pkg/passwd',
    reason: /hard link/,
  },
  {
    title: 'hard link climbing with ..',
    entries: [
      { name: 'pkg/', type: '5' },
      { name: 'pkg/h', type: '1', linkname: '../outside' },
    ],
    entry: 'pkg/h',
    reason: /hard link/,
  },
  {
    title: 'character device',
    entries: [
      { name: 'pkg/', type: '5' },
      { name: 'pkg/null', type: '3' },
    ],
    entry: 'pkg/null',
    reason: /CharacterDevice/,
  },
  {
    title: 'fifo',
    entries: [
      { name: 'pkg/', type: '5' },
      { name: 'pkg/pipe', type: '6' },
    ],
    entry: 'pkg/pipe',
    reason: /FIFO/,
  },
];

for (const c of malicious) {
  test(`refuses ${c.title}; names the entry, writes nothing`, async (t) => {
    const dir = workdir(t);
    const inner = join(dir, 'inner');
    mkdirSync(inner);
    writeFileSync(join(dir, 'outside'), 'sentinel');
    const archive = join(inner, 'bad.tar.gz');
    writeFileSync(archive, gzipSync(rawTar(c.entries)));
    const dest = join(inner, 'out');
    const error = await t.throwsAsync(unpackArchive(archive, dest), { instanceOf: UnpackError });
    t.true(error!.message.includes(`"${c.entry}"`), error!.message);
    t.regex(error!.message, c.reason);
    assertOnly(t, inner, ['bad.tar.gz']);
    assertOnly(t, dir, ['inner', 'outside']);
    t.is(readFileSync(join(dir, 'outside'), 'utf8'), 'sentinel');
    t.false(existsSync('/tmp/wsgi-httpd-abs-test'));
  });
}

test('refuses an archive over the entry limit', async (t) => {
  const dir = workdir(t);
  const entries: RawEntry[] = [{ name: 'pkg/', type: '5' }];
  for (let i = 0; i < 10; i++) entries.push({ name: `pkg/f${i}`, body: 'x' });
  const archive = join(dir, 'many.tar.gz');
  writeFileSync(archive, gzipSync(rawTar(entries)));
  const error = await t.throwsAsync(unpackArchive(archive, join(dir, 'out'), { maxEntries: 5 }), { instanceOf: UnpackError });
  t.regex(error!.message, /over 5 entries/);
  assertOnly(t, dir, ['many.tar.gz']);
});

test('refuses an archive over the size limit (decompression bomb)', async (t) => {
  const dir = workdir(t);
  const archive = join(dir, 'bomb.tar.gz');
  writeFileSync(
    archive,
    gzipSync(
      rawTar([
        { name: 'pkg/', type: '5' },
        { name: 'pkg/big', body: 'z'.repeat(5000) },
      ]),
    ),
  );
  const error = await t.throwsAsync(unpackArchive(archive, join(dir, 'out'), { maxBytes: 4096 }), { instanceOf: UnpackError });
  t.true(error!.message.includes('"pkg/big"'));
  t.regex(error!.message, /bomb/);
  assertOnly(t, dir, ['bomb.tar.gz']);
});

test('refuses to unpack over an existing directory', async (t) => {
  const dir = workdir(t);
  const plain = await goodTar(dir);
  mkdirSync(join(dir, 'out'));
  writeFileSync(join(dir, 'out', 'keep'), 'mine');
  await t.throwsAsync(unpackArchive(plain, join(dir, 'out')), { instanceOf: UnpackError, message: /already exists/ });
  t.is(readFileSync(join(dir, 'out', 'keep'), 'utf8'), 'mine');
});

test('not an archive is refused', async (t) => {
  const dir = workdir(t);
  writeFileSync(join(dir, 'x.tar.gz'), 'this is html, not a tarball\n'.repeat(40));
  await t.throwsAsync(unpackArchive(join(dir, 'x.tar.gz'), join(dir, 'out')), { instanceOf: UnpackError });
  assertOnly(t, dir, ['x.tar.gz']);
});

test('an archive without a single top directory is unpacked as it is; setuid bits dropped', async (t) => {
  const dir = workdir(t);
  const archive = join(dir, 'flat.tar');
  writeFileSync(
    archive,
    rawTar([
      { name: 'a', body: 'A' },
      { name: 'b/', type: '5' },
      { name: 'b/c', body: 'C', mode: 0o4755 },
    ]),
  );
  const dest = join(dir, 'out');
  const result = await unpackArchive(archive, dest);
  t.is(result.strippedDir, undefined);
  t.is(readFileSync(join(dest, 'a'), 'utf8'), 'A');
  t.is(statSync(join(dest, 'b', 'c')).mode & 0o7000, 0);
  assertOnly(t, dir, ['flat.tar', 'out']);
});

// ---- Decompression bombs: one limit for every decompressor (src/unpack/unpack.ts unpackLimits) ----

const MiB = 1024 ** 2;

/**
 * A tarball whose single entry "bomb/zeros" holds `zeros` bytes of zeros (a multiple of 8 MiB), compressed by the system
 * tool as concatenated streams, which gzip, xz and bzip2 all decompress as one: the header, `zeros / 8 MiB` copies of
 * `head -c 8M /dev/zero | xz -0` (made once), then the end-of-archive blocks. With `tar: false`, the zeros alone.
 * Compressing the zeros once keeps making a 128 MiB bomb cheap; unpacking it is the same stream either way.
 */
function makeBomb(dir: string, name: string, compressor: string[], zeros: number, options: { tar?: boolean } = {}): string {
  const compress = (input: Buffer | number): Buffer => {
    const source = typeof input === 'number' ? `head -c ${input} /dev/zero` : 'cat';
    const result = spawnSync('sh', ['-c', `${source} | ${compressor.join(' ')}`], {
      input: typeof input === 'number' ? undefined : input,
      maxBuffer: 64 * MiB,
    });
    if (result.status !== 0) throw new Error(`${compressor[0]} failed: ${result.stderr}`);
    return result.stdout;
  };
  const block = 8 * MiB;
  if (zeros % block !== 0) throw new Error('zeros must be a multiple of 8 MiB');
  const zerosMember = compress(block);
  const parts = options.tar === false ? [] : [compress(header('bomb/zeros', { size: zeros }))];
  for (let i = 0; i < zeros / block; i++) parts.push(zerosMember);
  parts.push(compress(1024));
  const archive = join(dir, name);
  writeFileSync(archive, Buffer.concat(parts));
  return archive;
}

/**
 * Bytes handed to fs.write or fs.writeSync (node-tar's Unpack and UnpackSync write file data with them) while fn runs:
 * what actually reached the disk.
 */
async function bytesWrittenDuring<T>(fn: () => Promise<T>): Promise<{ written: number; result: PromiseSettledResult<T> }> {
  const originals = { write: fs.write, writeSync: fs.writeSync };
  let written = 0;
  const counting =
    (original: (...args: unknown[]) => unknown) =>
    (fd: number, buffer: NodeJS.ArrayBufferView | string, ...rest: unknown[]) => {
      written += typeof buffer === 'string' ? Buffer.byteLength(buffer) : buffer.byteLength;
      return original(fd, buffer, ...rest);
    };
  (fs as { write: unknown }).write = counting(originals.write as (...args: unknown[]) => unknown);
  (fs as { writeSync: unknown }).writeSync = counting(originals.writeSync as (...args: unknown[]) => unknown);
  try {
    const [result] = await Promise.allSettled([fn()]);
    return { written, result: result! };
  } finally {
    fs.write = originals.write;
    fs.writeSync = originals.writeSync;
  }
}

/** No process is left running the decompressor on this archive (it is killed, not left to finish 128 MiB). */
async function assertNoDecompressorLeft(t: import('ava').ExecutionContext, archive: string) {
  let running: string[] = [];
  for (let i = 0; i < 100; i++) {
    running = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => line.includes(archive));
    if (running.length === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  t.deepEqual(running, []);
}

const bombs: { kind: 'gzip' | 'xz' | 'bzip2'; file: string; compressor: string[] }[] = [
  { kind: 'gzip', file: 'bomb.tar.gz', compressor: ['gzip', '-9'] },
  { kind: 'xz', file: 'bomb.tar.xz', compressor: ['xz', '-0', '-T1'] },
  { kind: 'bzip2', file: 'bomb.tar.bz2', compressor: ['bzip2', '-9'] },
];

for (const b of bombs) {
  test.serial(
    `a ${b.kind} bomb (128 MiB of zeros) is stopped at the ratio limit with default limits; nothing kept, under 64 MiB written`,
    async (t) => {
      const dir = workdir(t);
      const archive = makeBomb(dir, b.file, b.compressor, 128 * MiB);
      const size = statSync(archive).size;
      t.true(size * unpackLimits.maxRatio < 128 * MiB, `the ${b.kind} bomb is ${size} bytes: it must expand over 100 times`);
      t.is(await detectCompression(archive), b.kind);
      const { written, result } = await bytesWrittenDuring(() => unpackArchive(archive, join(dir, 'out')));
      t.is(result.status, 'rejected');
      const error = (result as PromiseRejectedResult).reason as DecompressionLimitError;
      t.true(error instanceof DecompressionLimitError, String(error));
      t.is(error.exitCode, ExitCode.checksum);
      t.is(error.limit, 'ratio');
      t.regex(error.message, new RegExp(`^refusing to unpack ${b.file.replace('.', '\\.')}: it expands more than 100 times its size`));
      t.regex(error.message, /\(judged past 64\.0 MiB\); stopped after 6\d\.\d MiB of decompressed data \(a decompression bomb\?\)$/);
      t.regex(error.hint, /Unpacking limits/);
      // The stop comes within one chunk of the 64 MiB mark; what reached node-tar (and so the disk) is at most 64 MiB.
      t.true(error.decompressedBytes > unpackLimits.ratioAfterBytes);
      t.true(error.decompressedBytes <= unpackLimits.ratioAfterBytes + MiB, `${error.decompressedBytes}`);
      t.true(error.passedBytes <= unpackLimits.ratioAfterBytes);
      t.true(written <= unpackLimits.ratioAfterBytes, `${written} bytes were written`);
      t.is(error.archiveBytes, size);
      assertOnly(t, dir, [b.file]);
      await assertNoDecompressorLeft(t, archive);
    },
  );
}

test.serial('the size cap holds whatever the ratio: an xz stream over maxDecompressedBytes is stopped there', async (t) => {
  const dir = workdir(t);
  const archive = makeBomb(dir, 'big.tar.xz', ['xz', '-0', '-T1'], 48 * MiB);
  const { written, result } = await bytesWrittenDuring(() =>
    unpackArchive(archive, join(dir, 'out'), { maxDecompressedBytes: 16 * MiB, maxBytes: 64 * MiB, maxRatio: Number.POSITIVE_INFINITY }),
  );
  const error = (result as PromiseRejectedResult).reason as DecompressionLimitError;
  t.true(error instanceof DecompressionLimitError, String(error));
  t.is(error.limit, 'size');
  t.regex(error.message, /big\.tar\.xz: it decompresses to more than 16\.0 MiB; stopped after 16\.\d MiB/);
  t.true(error.passedBytes <= 16 * MiB);
  t.true(written <= 16 * MiB, `${written} bytes were written`);
  assertOnly(t, dir, ['big.tar.xz']);
  await assertNoDecompressorLeft(t, archive);
});

test.serial('zeros that are not even a tar (nothing written, node-tar would read them all) are stopped too', async (t) => {
  const dir = workdir(t);
  const archive = makeBomb(dir, 'zeros.tar.xz', ['xz', '-0', '-T1'], 128 * MiB, { tar: false });
  const error = await t.throwsAsync(unpackArchive(archive, join(dir, 'out')), { instanceOf: DecompressionLimitError });
  t.is(error!.limit, 'ratio');
  t.true(error!.decompressedBytes <= unpackLimits.ratioAfterBytes + MiB);
  assertOnly(t, dir, ['zeros.tar.xz']);
});

test.serial('a small archive that expands a lot but stays under 64 MiB unpacks: the ratio is only judged past that', async (t) => {
  const dir = workdir(t);
  const archive = makeBomb(dir, 'sparse-ish.tar.xz', ['xz', '-0', '-T1'], 32 * MiB);
  t.true(statSync(archive).size * 1000 < 32 * MiB);
  const { written, result: settled } = await bytesWrittenDuring(() => unpackArchive(archive, join(dir, 'out')));
  t.is(settled.status, 'fulfilled');
  const result = (settled as PromiseFulfilledResult<Awaited<ReturnType<typeof unpackArchive>>>).value;
  // The instrument the bomb tests rely on does see node-tar's writes.
  t.true(written >= 32 * MiB, `${written}`);
  t.is(result.strippedDir, 'bomb');
  t.is(statSync(join(dir, 'out', 'zeros')).size, 32 * MiB);
});

test('a tarball compressed twice (gzip inside gzip, which node-tar would unpack behind the meter) is refused', async (t) => {
  const dir = workdir(t);
  const archive = join(dir, 'twice.tar.gz');
  writeFileSync(
    archive,
    gzipSync(
      gzipSync(
        rawTar([
          { name: 'pkg/', type: '5' },
          { name: 'pkg/a', body: 'A' },
        ]),
      ),
    ),
  );
  const error = await t.throwsAsync(unpackArchive(archive, join(dir, 'out')), { instanceOf: UnpackError });
  t.regex(error!.message, /twice\.tar\.gz: its gzip content is gzip-compressed again/);
  assertOnly(t, dir, ['twice.tar.gz']);
});

// ---- Disk and permission failures are not "unsafe archives" (exit 9, not 5) ----

const faultRunner = join(import.meta.dirname, 'fs-fault-runner.ts');

interface FaultOutcome {
  ok: boolean;
  name?: string;
  exitCode?: number;
  code?: string;
  message?: string;
  hint?: string;
  left: string[];
}

const tmpfsTest = requiring(privateMountsUnavailable());

async function unpackOnTmpfs(
  t: import('ava').ExecutionContext,
  archive: string,
  mount: { size: string; readOnly?: boolean; mkdirs?: string[] },
  dest: (mnt: string) => string,
): Promise<FaultOutcome> {
  const mnt = join(workdir(t), 'mnt');
  mkdirSync(mnt);
  const run = await runWithTmpfs(mnt, { ...mount, mkdirs: (mount.mkdirs ?? []).map((d) => join(mnt, d)) }, [
    process.execPath,
    tsxImport,
    faultRunner,
    archive,
    dest(mnt),
  ]);
  t.is(run.code, 0, run.stderr);
  return JSON.parse(run.stdout.trim().split('\n').pop()!) as FaultOutcome;
}

tmpfsTest.serial('disk full during unpack: a FileSystemError (exit 9) naming the destination and ENOSPC, nothing left', async (t) => {
  const dir = workdir(t);
  const archive = makeBomb(dir, 'full.tar.gz', ['gzip', '-1'], 8 * MiB);
  const outcome = await unpackOnTmpfs(t, archive, { size: '1m', mkdirs: ['build'] }, (mnt) => join(mnt, 'build', 'pkg'));
  t.false(outcome.ok);
  t.is(outcome.name, 'FileSystemError');
  t.is(outcome.exitCode, ExitCode.filesystem);
  t.is(outcome.code, 'ENOSPC');
  t.regex(outcome.message!, /^cannot unpack full\.tar\.gz into \S+\/mnt\/build\/pkg: no space left on device \(ENOSPC\)$/);
  t.regex(outcome.hint!, /free space/);
  t.deepEqual(outcome.left, []);
});

for (const existing of [true, false]) {
  tmpfsTest.serial(
    `read-only build directory (${existing ? 'existing' : 'to be created'}): a FileSystemError (exit 9) naming the destination and EROFS`,
    async (t) => {
      const dir = workdir(t);
      const plain = await goodTar(dir);
      const outcome = await unpackOnTmpfs(t, plain, { size: '4m', readOnly: true, mkdirs: existing ? ['build'] : [] }, (mnt) =>
        join(mnt, 'build', 'pkg'),
      );
      t.false(outcome.ok);
      t.is(outcome.name, 'FileSystemError');
      t.is(outcome.exitCode, ExitCode.filesystem);
      t.is(outcome.code, 'EROFS');
      t.regex(outcome.message!, /^cannot unpack pkg-1\.0\.tar into \S+\/mnt\/build\/pkg: read-only file system \(EROFS\)$/);
      t.regex(outcome.hint!, /writable file system/);
      t.deepEqual(outcome.left, []);
    },
  );
}

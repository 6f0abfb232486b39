/**
 * Safe extraction of a release tarball into a fresh directory.
 *
 * - The compression is found from the magic bytes (Debian renames files): gzip is decompressed by minizlib, bzip2,
 *   xz and zstd by the system tools (`bzip2 -dc`, `xz -dc`, `zstd -dc`, exit codes checked, so a truncated file is an
 *   error); plain tar is read as it is. Whichever it is, the decompressed stream goes through ONE meter before node-tar
 *   parses it, and the unpack is stopped (decompressor killed, streams destroyed, everything extracted removed) as soon
 *   as it passes `unpackLimits` (size or ratio, see there). A tar stream that is itself gzip or zstd (which node-tar
 *   would decompress again behind the meter's back) is refused.
 * - Everything is extracted into a temporary sibling of destDir, which is renamed into place only after the whole
 *   archive succeeded; on any error the temporary directory is removed and destDir does not exist.
 * - Refused, with an UnpackError naming the entry (node-tar would silently rewrite most of these; we stop instead):
 *   `..` components, absolute paths, symlinks to absolute paths or climbing out of the tree, symlinks resolved through
 *   other symlinks, hard links outside the tree, devices / fifos / sparse and other special entries, and archives
 *   whose entry count or declared file sizes exceed the limits (checked per header, before the entry is written).
 * - A disk or permission failure (ENOSPC, EDQUOT, EROFS, EACCES, ENOTDIR, ...) is a FileSystemError (exit 9) saying
 *   where the unpack was going, not an "unsafe archive".
 * - Entries are written on this thread as each chunk arrives (node-tar's UnpackSync; gzip inflated by minizlib, also
 *   synchronous): Node's zlib stream and node-tar's async Unpack hand every chunk and file call to the thread pool, and
 *   on these VMs file creation beside a busy pool thread ran several times slower (the httpd layer blob, 7.5 MB of
 *   1,689 entries: 3.3 -> 0.65 s; GNU tar 0.26 s). No file call is ever in flight once a write returns.
 * - The single top-level directory (`httpd-2.4.68/`, `mod_wsgi-5.0.2/`) is stripped; an archive without exactly one
 *   top-level directory is unpacked as it is. Owners are not restored; setuid/setgid/sticky bits are dropped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, posix, resolve } from 'node:path';
import { Transform } from 'node:stream';
import { Gunzip } from 'minizlib';
import { type ReadEntry, UnpackSync } from 'tar';
import { DecompressionLimitError, fromSystemError, PrerequisiteError, UnpackError } from '../errors.js';
import { activeChildren, killGroup } from '../util/run.js';
import { pathExists } from '../util/fs.js';
import { formatBytes } from '../util/format.js';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

/**
 * The decompression limits, one rule whichever decompressor runs (zlib for gzip; bzip2, xz, zstd; none for plain tar),
 * applied to the decompressed tar stream as it flows, before node-tar parses it:
 * - `maxDecompressedBytes`: the stream may not pass 1 GiB;
 * - `maxRatio`: decompressed bytes / archive file size may not pass 100, judged only once the stream is past
 *   `ratioAfterBytes` (64 MiB), so that small archives of very repetitive text are never judged on ratio.
 * Measured on the real release files (compressed -> decompressed tar stream, ratio):
 *   httpd 2.4.68 .tar.gz      10.07 MB -> 45.64 MB  4.5   (recompressed: .tar.bz2 7.74 MB 5.9, .tar.xz 6.76 MB 6.8)
 *   PCRE2 10.42/10.46/10.48 .tar.gz  2.40-2.89 MB -> 11.38-14.20 MB  4.7-4.9  (10.48 as .tar.xz: 1.67 MB 8.5)
 *   APR 1.7.2/1.7.5/1.7.6 .tar.bz2   0.89-0.90 MB -> 6.23-6.35 MB  7.0-7.1
 *   APR-util 1.6.3/1.6.4 .tar.bz2    0.43-0.44 MB -> 3.51-3.62 MB  8.1-8.2
 *   mod_wsgi 5.0.2 .tar.gz 0.71 MB -> 2.32 MB 3.3; 6.0.5 (git archive) 1.33 MB -> 4.63 MB 3.5
 * So the largest real stream (45.6 MB) is 1/23 of the size cap and below the 64 MiB where ratio starts to count, and
 * the highest real ratio (8.5) is 1/12 of the ratio cap. A bomb (zeros compress 1000:1 with gzip, far more with xz and
 * bzip2) is stopped at 64 MiB, and nothing but a 10 MiB+ archive of real data can get near the 1 GiB cap.
 */
export const unpackLimits = { maxDecompressedBytes: 1 * GiB, maxRatio: 100, ratioAfterBytes: 64 * MiB } as const;

export interface UnpackOptions {
  /** Total bytes of file entries as their tar headers declare them (default: unpackLimits.maxDecompressedBytes). */
  maxBytes?: number;
  /** Cap on the decompressed tar stream (default unpackLimits.maxDecompressedBytes, 1 GiB). */
  maxDecompressedBytes?: number;
  /** Cap on decompressed bytes / archive size (default unpackLimits.maxRatio, 100); Infinity disables it. */
  maxRatio?: number;
  /** The ratio is judged only past this many decompressed bytes (default unpackLimits.ratioAfterBytes, 64 MiB). */
  ratioAfterBytes?: number;
  /** Number of entries (default 200 000). */
  maxEntries?: number;
  signal?: AbortSignal;
}

export interface UnpackResult {
  /** Absolute path of the unpacked tree: destDir, holding the contents of the stripped top-level directory. */
  root: string;
  /** Name of the top-level directory that was stripped ("httpd-2.4.68"), or undefined when there was none. */
  strippedDir?: string;
  entries: number;
  /** Total uncompressed bytes of file entries. */
  bytes: number;
}

export type Compression = 'gzip' | 'bzip2' | 'xz' | 'zstd' | 'tar' | 'zip' | 'unknown';

const decompressors: Partial<Record<Compression, { command: string; debianPackage: string }>> = {
  bzip2: { command: 'bzip2', debianPackage: 'bzip2' },
  xz: { command: 'xz', debianPackage: 'xz-utils' },
  zstd: { command: 'zstd', debianPackage: 'zstd' },
};

const allowedTypes = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory', 'SymbolicLink', 'Link']);

export async function detectCompression(file: string): Promise<Compression> {
  const handle = await open(file, 'r');
  let head: Buffer;
  try {
    const buffer = Buffer.alloc(512);
    const { bytesRead } = await handle.read(buffer, 0, 512, 0);
    head = buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
  const starts = (...bytes: number[]) => head.length >= bytes.length && bytes.every((b, i) => head[i] === b);
  if (starts(0x1f, 0x8b)) return 'gzip';
  if (starts(0x42, 0x5a, 0x68)) return 'bzip2';
  if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return 'xz';
  if (starts(0x28, 0xb5, 0x2f, 0xfd)) return 'zstd';
  if (starts(0x50, 0x4b, 0x03, 0x04)) return 'zip';
  if (head.length >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar') return 'tar';
  return 'unknown';
}

/** "./a//b/" → "a/b"; keeps ".." so that it can be refused. */
function cleanPath(path: string): string {
  return path
    .split('/')
    .filter((part) => part !== '' && part !== '.')
    .join('/');
}

function isAbsoluteLike(path: string): boolean {
  return path.startsWith('/') || path.startsWith('\\') || /^[a-zA-Z]:/.test(path);
}

function hasDotDot(path: string): boolean {
  return path.split(/[\\/]+/).includes('..');
}

interface LinkRecord {
  path: string;
  target: string;
}

/**
 * Checks symlinks once the whole tree is known: each must resolve (lexically) inside `root` ("" = the whole
 * extraction), and must not pass through another symlink on the way (a → ., b → a/.. would climb out).
 */
function checkSymlinks(symlinks: LinkRecord[], hardlinks: LinkRecord[], root: string | undefined, archive: string): void {
  const within = (p: string) => root === undefined || p === root || p.startsWith(`${root}/`);
  const linkPaths = new Set(symlinks.map((l) => l.path));
  for (const link of symlinks) {
    const parts = [
      ...posix
        .dirname(link.path)
        .split('/')
        .filter((p) => p !== '.'),
      ...link.target.split('/'),
    ];
    const stack: string[] = [];
    const components = parts.filter((p) => p !== '' && p !== '.');
    for (let i = 0; i < components.length; i++) {
      const part = components[i]!;
      if (part === '..') {
        if (stack.length === 0) throw refuse(archive, link.path, `is a symlink pointing outside the archive (${link.target})`);
        stack.pop();
      } else {
        stack.push(part);
        const here = stack.join('/');
        if (i < components.length - 1 && linkPaths.has(here) && here !== link.path) {
          throw refuse(archive, link.path, `is a symlink whose target (${link.target}) goes through another symlink (${here})`);
        }
      }
    }
    const resolved = stack.join('/');
    if (!within(resolved)) throw refuse(archive, link.path, `is a symlink pointing outside the tree (${link.target})`);
  }
  for (const link of hardlinks) {
    if (!within(link.target)) throw refuse(archive, link.path, `is a hard link to ${link.target}, outside the tree`);
  }
}

function refuse(archive: string, entry: string, reason: string): UnpackError {
  return new UnpackError(`refusing to unpack ${basename(archive)}: entry "${entry}" ${reason}`);
}

interface ExtractStats {
  entries: number;
  bytes: number;
  symlinks: LinkRecord[];
  hardlinks: LinkRecord[];
}

interface Limits {
  maxBytes: number;
  maxEntries: number;
  maxDecompressedBytes: number;
  maxRatio: number;
  ratioAfterBytes: number;
}

const bombHint =
  'the release tarballs of httpd, APR, APR-util, PCRE2, expat and mod_wsgi unpack to under 50 MB at under 10 times their size; ' +
  'this file is not one of them. Nothing was kept: check where it came from (limits: README, "Unpacking limits")';

/** The one decompression limit: which rule a stream of `total` bytes from an `archiveBytes` file breaks, if any. */
function overLimit(total: number, archiveBytes: number, limits: Limits): 'size' | 'ratio' | undefined {
  if (total > limits.maxDecompressedBytes) return 'size';
  if (total > limits.ratioAfterBytes && total > limits.maxRatio * Math.max(archiveBytes, 1)) return 'ratio';
  return undefined;
}

const nestedMagic: { name: string; bytes: number[] }[] = [
  { name: 'gzip', bytes: [0x1f, 0x8b] },
  { name: 'zstd', bytes: [0x28, 0xb5, 0x2f, 0xfd] },
];

async function extractInto(archive: string, cwd: string, dest: string, limits: Limits, signal?: AbortSignal): Promise<ExtractStats> {
  const compression = await detectCompression(archive);
  if (compression === 'zip' || compression === 'unknown') {
    throw new UnpackError(
      `${basename(archive)} is ${compression === 'zip' ? 'a zip file' : 'not a tar archive (gzip, bzip2, xz, zstd or plain)'}; only tarballs are supported`,
      'use the release tarball (.tar.gz, .tar.bz2 or .tar.xz) named in the recipe',
    );
  }
  const archiveBytes = (await stat(archive)).size;
  const stats: ExtractStats = { entries: 0, bytes: 0, symlinks: [], hardlinks: [] };
  let failure: Error | undefined;
  const streams: { destroy(): unknown }[] = [];
  let child: ChildProcess | undefined;
  const writeFailure = (error: unknown) => fromSystemError(error, { path: dest, action: `unpack ${basename(archive)} into` });

  // The meter: every decompressed byte passes here before node-tar sees it.
  let decompressed = 0;
  let passed = 0;
  let tarEnded = false;
  let head = Buffer.alloc(0);
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (failure) return callback();
      if (head.length < 4) {
        head = Buffer.concat([head, chunk.subarray(0, 4 - head.length)]);
        const nested = nestedMagic.find((m) => head.length >= m.bytes.length && m.bytes.every((b, i) => head[i] === b));
        if (nested) {
          stop(
            new UnpackError(
              `refusing to unpack ${basename(archive)}: its ${compression === 'tar' ? 'content' : `${compression} content`} is ${nested.name}-compressed again, which would bypass the decompression limits`,
              'use the release tarball as published (compressed once)',
            ),
          );
          return callback();
        }
      }
      decompressed += chunk.length;
      const broken = overLimit(decompressed, archiveBytes, limits);
      if (broken) {
        const rule =
          broken === 'size'
            ? `it decompresses to more than ${formatBytes(limits.maxDecompressedBytes)}`
            : `it expands more than ${limits.maxRatio} times its size of ${formatBytes(archiveBytes)} (judged past ${formatBytes(limits.ratioAfterBytes)})`;
        stop(
          new DecompressionLimitError(
            `refusing to unpack ${basename(archive)}: ${rule}; stopped after ${formatBytes(decompressed)} of decompressed data (a decompression bomb?)`,
            bombHint,
            { limit: broken, decompressedBytes: decompressed, passedBytes: passed, archiveBytes },
          ),
        );
        return callback();
      }
      // Past the end-of-archive blocks node-tar keeps appending what it is given to one buffer (quadratic: 64 MiB of
      // trailing zeros took 50 s). Only padding belongs there: count it against the limits, but drop it here.
      if (tarEnded) return callback();
      passed += chunk.length;
      callback(null, chunk);
    },
  });
  streams.push(meter);

  const unpacker = new UnpackSync({
    cwd,
    preserveOwner: false,
    filter: (path, e) => {
      if (failure) return false;
      const entry = e as ReadEntry;
      const fail = (reason: string) => {
        stop(refuse(archive, path, reason));
        return false;
      };
      stats.entries++;
      if (stats.entries > limits.maxEntries) return fail(`takes the archive over ${limits.maxEntries} entries (a decompression bomb?)`);
      if (!allowedTypes.has(entry.type)) return fail(`is a ${entry.type} entry; only files, directories and links are allowed`);
      if (path.includes('\0')) return fail('has a NUL byte in its name');
      if (isAbsoluteLike(path)) return fail('has an absolute path');
      if (hasDotDot(path)) return fail('contains ".." in its path');
      const clean = cleanPath(path);
      if (entry.type === 'SymbolicLink') {
        const target = String(entry.linkpath ?? '');
        if (isAbsoluteLike(target)) return fail(`is a symlink to the absolute path ${target}`);
        const resolved = posix.normalize(posix.join(posix.dirname(clean), target));
        if (resolved === '..' || resolved.startsWith('../')) return fail(`is a symlink pointing outside the archive (${target})`);
        stats.symlinks.push({ path: clean, target });
      } else if (entry.type === 'Link') {
        const target = String(entry.linkpath ?? '');
        if (isAbsoluteLike(target) || hasDotDot(target)) return fail(`is a hard link to ${target}, outside the archive`);
        stats.hardlinks.push({ path: clean, target: cleanPath(target) });
      } else if (entry.type !== 'Directory') {
        stats.bytes += entry.size ?? 0;
        if (stats.bytes > limits.maxBytes) {
          return fail(`takes the unpacked size over ${formatBytes(limits.maxBytes)} (a decompression bomb?)`);
        }
      }
      if (typeof entry.mode === 'number') entry.mode &= 0o777;
      return true;
    },
    onwarn: (code, message, data) => {
      if (code === 'TAR_ENTRY_INFO') return;
      const entryPath = (data as { entry?: { path?: string } })?.entry?.path;
      const text = String(message);
      const fsCode = (data as { code?: string })?.code;
      // A full disk or a refused write is not the archive's fault: say where, and what to do (exit 9).
      const fsFailure = fsCode ? writeFailure(data) : undefined;
      if (fsFailure) {
        stop(fsFailure);
        return;
      }
      stop(
        entryPath
          ? refuse(archive, entryPath, `could not be extracted: ${text} (${code})`)
          : new UnpackError(`cannot unpack ${basename(archive)}: ${text} (${code})`),
      );
    },
  });

  let rejectRun: ((error: Error) => void) | undefined;
  function stop(error: Error): void {
    if (failure) return;
    failure = error;
    if (child) killGroup(child.pid);
    for (const stream of streams) stream.destroy();
    try {
      unpacker.abort(error);
    } catch {
      /* abort reports through 'error' */
    }
    rejectRun?.(error);
  }
  const onAbort = () => stop(Object.assign(new Error('aborted'), { name: 'AbortError' }));
  signal?.addEventListener('abort', onAbort, { once: true });

  try {
    await new Promise<void>((resolvePromise, rejectPromise) => {
      rejectRun = rejectPromise;
      let unpacked = false;
      let decompressed = !(compression in decompressors);
      let pendingTarError: Error | undefined;
      let childClosed = false;
      const maybeDone = () => {
        if (unpacked && decompressed && !failure) resolvePromise();
      };
      unpacker.on('error', (error: Error) => {
        if (failure) return;
        const fsFailure = writeFailure(error);
        if (fsFailure) return stop(fsFailure);
        const tarError = new UnpackError(`cannot unpack ${basename(archive)}: ${error.message}`);
        if (child && !childClosed) {
          // A damaged compressed file usually shows up here first (tar saw a short stream); the decompressor's own
          // exit status says why, so give it a moment to report.
          pendingTarError = tarError;
          setTimeout(() => stop(tarError), 2000).unref();
        } else stop(tarError);
      });
      unpacker.on('eof', () => {
        tarEnded = true;
      });
      unpacker.on('close', () => {
        unpacked = true;
        maybeDone();
      });

      meter.pipe(unpacker as unknown as NodeJS.WritableStream);
      const tool = decompressors[compression];
      if (!tool) {
        const source = createReadStream(archive);
        streams.push(source);
        source.on('error', (error) =>
          stop(fromSystemError(error, { path: archive, action: 'read' }) ?? new UnpackError(`cannot read ${archive}: ${error.message}`)),
        );
        if (compression === 'gzip') {
          const gunzip = new Gunzip({});
          streams.push(gunzip);
          gunzip.on('error', (error: unknown) =>
            stop(
              new UnpackError(
                `${basename(archive)} is damaged: gzip: ${(error as Error).message}`,
                'the file is truncated or corrupt; nothing was extracted. Delete it from the cache (or the --sources directory) and fetch it again',
              ),
            ),
          );
          source.pipe(gunzip).pipe(meter);
        } else source.pipe(meter);
        return;
      }
      const proc = spawn(tool.command, ['-dc', '--', archive], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      child = proc;
      if (proc.pid) activeChildren.add(proc.pid);
      let stderr = '';
      proc.stderr!.on('data', (chunk: Buffer) => {
        if (stderr.length < 4096) stderr += chunk.toString('utf8');
      });
      proc.stdout!.on('error', () => {});
      streams.push(proc.stdout!);
      proc.stdout!.pipe(meter);
      proc.on('error', (error: NodeJS.ErrnoException) => {
        stop(
          error.code === 'ENOENT'
            ? new PrerequisiteError(
                `${tool.command} is needed to unpack ${basename(archive)} (${compression}) but was not found`,
                `install it (Debian/Ubuntu: apt-get install ${tool.debianPackage}), or use the .tar.gz release file`,
              )
            : new UnpackError(`cannot run ${tool.command}: ${error.message}`),
        );
      });
      proc.on('close', (code, sig) => {
        childClosed = true;
        if (proc.pid) activeChildren.delete(proc.pid);
        if (code !== 0) {
          stop(
            new UnpackError(
              `${basename(archive)} is damaged: ${tool.command} -dc ${sig ? `was killed by ${sig}` : `exited with ${code}`}${stderr.trim() ? `: ${stderr.trim()}` : ''}`,
              'the file is truncated or corrupt; nothing was extracted. Delete it from the cache (or the --sources directory) and fetch it again',
            ),
          );
          return;
        }
        decompressed = true;
        if (pendingTarError) stop(pendingTarError);
        else maybeDone();
      });
    });
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  return stats;
}

export async function unpackArchive(archive: string, destDir: string, opts: UnpackOptions = {}): Promise<UnpackResult> {
  const dest = resolve(destDir);
  const maxDecompressedBytes = opts.maxDecompressedBytes ?? unpackLimits.maxDecompressedBytes;
  const limits: Limits = {
    maxBytes: opts.maxBytes ?? maxDecompressedBytes,
    maxEntries: opts.maxEntries ?? 200_000,
    maxDecompressedBytes,
    maxRatio: opts.maxRatio ?? unpackLimits.maxRatio,
    ratioAfterBytes: opts.ratioAfterBytes ?? unpackLimits.ratioAfterBytes,
  };
  if (await pathExists(dest)) {
    throw new UnpackError(`cannot unpack into ${dest}: it already exists`, 'remove it (or choose another build directory) and retry');
  }
  const asFileSystemError = (error: unknown) => fromSystemError(error, { path: dest, action: `unpack ${basename(archive)} into` }) ?? error;
  let tmp: string;
  try {
    await mkdir(dirname(dest), { recursive: true });
    tmp = await mkdtemp(join(dirname(dest), `.${basename(dest)}.unpack-`));
  } catch (error) {
    throw asFileSystemError(error);
  }
  try {
    const stats = await extractInto(archive, tmp, dest, limits, opts.signal);
    const top = await readdir(tmp, { withFileTypes: true });
    const single = top.length === 1 && top[0]!.isDirectory() ? top[0]!.name : undefined;
    checkSymlinks(
      stats.symlinks.map((l) => ({ ...l, path: cleanPath(l.path) })),
      stats.hardlinks,
      single,
      archive,
    );
    try {
      if (single) {
        await rename(join(tmp, single), dest);
      } else {
        await rename(tmp, dest);
        await chmod(dest, 0o755);
      }
    } catch (error) {
      throw asFileSystemError(error);
    }
    return { root: dest, strippedDir: single, entries: stats.entries, bytes: stats.bytes };
  } finally {
    await rm(tmp, { recursive: true, force: true, maxRetries: 3 });
  }
}

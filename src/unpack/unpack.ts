/**
 * Safe extraction of a release tarball into a fresh directory.
 *
 * - The compression is found from the magic bytes (Debian renames files): gzip and plain tar go straight into
 *   node-tar; bzip2, xz and zstd are decompressed by the system tools (`bzip2 -dc`, `xz -dc`, `zstd -dc`) piped into
 *   node-tar, and their exit codes are checked, so a truncated file is an error.
 * - Everything is extracted into a temporary sibling of destDir, which is renamed into place only after the whole
 *   archive succeeded; on any error the temporary directory is removed and destDir does not exist.
 * - Refused, with an UnpackError naming the entry (node-tar would silently rewrite most of these; we stop instead):
 *   `..` components, absolute paths, symlinks to absolute paths or climbing out of the tree, symlinks resolved through
 *   other symlinks, hard links outside the tree, devices / fifos / sparse and other special entries, and archives
 *   whose entry count or total size exceed the limits (decompression bombs).
 * - The single top-level directory (`httpd-2.4.68/`, `mod_wsgi-5.0.2/`) is stripped; an archive without exactly one
 *   top-level directory is unpacked as it is. Owners are not restored; setuid/setgid/sticky bits are dropped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, type ReadStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, open, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, posix, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Unpack, type ReadEntry } from 'tar';
import { PrerequisiteError, UnpackError } from '../errors.js';
import { activeChildren, killGroup } from '../util/run.js';
import { pathExists } from '../util/fs.js';

export interface UnpackOptions {
  /** Total uncompressed bytes of file entries (default 2 GiB). */
  maxBytes?: number;
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

function formatBytes(n: number): string {
  return n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(1)} GiB` : `${(n / (1 << 20)).toFixed(1)} MiB`;
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

async function extractInto(
  archive: string,
  cwd: string,
  limits: { maxBytes: number; maxEntries: number },
  signal?: AbortSignal,
): Promise<ExtractStats> {
  const compression = await detectCompression(archive);
  if (compression === 'zip' || compression === 'unknown') {
    throw new UnpackError(
      `${basename(archive)} is ${compression === 'zip' ? 'a zip file' : 'not a tar archive (gzip, bzip2, xz, zstd or plain)'}; only tarballs are supported`,
      'use the release tarball (.tar.gz, .tar.bz2 or .tar.xz) named in the recipe',
    );
  }
  const stats: ExtractStats = { entries: 0, bytes: 0, symlinks: [], hardlinks: [] };
  let failure: Error | undefined;
  let source: ReadStream | undefined;
  let child: ChildProcess | undefined;

  const unpacker: Unpack = new Unpack({
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
      if (fsCode === 'ENOSPC' || fsCode === 'EDQUOT' || fsCode === 'EACCES' || fsCode === 'EROFS') {
        stop(
          new UnpackError(
            `cannot write ${entryPath ?? 'an entry'} of ${basename(archive)}: ${text}`,
            `free disk space or fix permissions under ${dirname(cwd)}`,
          ),
        );
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
    source?.destroy();
    if (child) killGroup(child.pid);
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
        const tarError = new UnpackError(`cannot unpack ${basename(archive)}: ${error.message}`);
        if (child && !childClosed) {
          // A damaged compressed file usually shows up here first (tar saw a short stream); the decompressor's own
          // exit status says why, so give it a moment to report.
          pendingTarError = tarError;
          setTimeout(() => stop(tarError), 2000).unref();
        } else stop(tarError);
      });
      unpacker.on('close', () => {
        unpacked = true;
        maybeDone();
      });

      const tool = decompressors[compression];
      if (!tool) {
        source = createReadStream(archive);
        source.on('error', (error) => stop(new UnpackError(`cannot read ${archive}: ${error.message}`)));
        source.pipe(unpacker as unknown as NodeJS.WritableStream);
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
      proc.stdout!.pipe(unpacker as unknown as NodeJS.WritableStream);
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
  } catch (error) {
    // Let node-tar's in-flight fs calls settle before the caller removes the directory.
    await sleep(25);
    throw error;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  return stats;
}

export async function unpackArchive(archive: string, destDir: string, opts: UnpackOptions = {}): Promise<UnpackResult> {
  const dest = resolve(destDir);
  const limits = { maxBytes: opts.maxBytes ?? 2 * 1024 ** 3, maxEntries: opts.maxEntries ?? 200_000 };
  if (await pathExists(dest)) {
    throw new UnpackError(`cannot unpack into ${dest}: it already exists`, 'remove it (or choose another build directory) and retry');
  }
  await mkdir(dirname(dest), { recursive: true });
  const tmp = await mkdtemp(join(dirname(dest), `.${basename(dest)}.unpack-`));
  try {
    const stats = await extractInto(archive, tmp, limits, opts.signal);
    const top = await readdir(tmp, { withFileTypes: true });
    const single = top.length === 1 && top[0]!.isDirectory() ? top[0]!.name : undefined;
    checkSymlinks(
      stats.symlinks.map((l) => ({ ...l, path: cleanPath(l.path) })),
      stats.hardlinks,
      single,
      archive,
    );
    if (single) {
      await rename(join(tmp, single), dest);
    } else {
      await rename(tmp, dest);
      await chmod(dest, 0o755);
    }
    return { root: dest, strippedDir: single, entries: stats.entries, bytes: stats.bytes };
  } finally {
    await rm(tmp, { recursive: true, force: true, maxRetries: 3 });
  }
}

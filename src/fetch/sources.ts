/**
 * `--sources DIR`: files the user already has (a Debian `apache2_2.4.68.orig.tar.gz`, a download folder) are found by
 * content, whatever their names. Every regular file that starts with the magic bytes of gzip, bzip2, xz, zstd, zip or
 * a plain tar header is hashed; everything else (READMEs, .asc signatures, ISO images...) is skipped without reading
 * more than its first 512 bytes, so pointing at a big folder stays cheap.
 */
import { open, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { sha256File } from './hash.js';

const maxDepth = 4;
const parallel = 4;

/** Recognises an archive by its first bytes (not its name). */
export function looksLikeArchive(head: Buffer): boolean {
  const starts = (...bytes: number[]) => bytes.every((b, i) => head[i] === b);
  if (starts(0x1f, 0x8b)) return true; // gzip
  if (starts(0x42, 0x5a, 0x68)) return true; // bzip2 "BZh"
  if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return true; // xz
  if (starts(0x28, 0xb5, 0x2f, 0xfd)) return true; // zstd
  if (starts(0x50, 0x4b, 0x03, 0x04)) return true; // zip
  return head.length >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar'; // plain tar
}

async function readHead(path: string): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(512);
    const { bytesRead } = await handle.read(buffer, 0, 512, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

async function collect(dir: string, depth: number, out: string[], seenDirs: Set<string>): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return; // unreadable subdirectory: skip it
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    let isDir = entry.isDirectory();
    let isFile = entry.isFile();
    if (entry.isSymbolicLink()) {
      try {
        const target = await stat(path);
        isDir = target.isDirectory();
        isFile = target.isFile();
      } catch {
        continue; // dangling link
      }
    }
    if (isFile) out.push(path);
    else if (isDir && depth < maxDepth) {
      let key: string;
      try {
        const s = await stat(path);
        key = `${s.dev}:${s.ino}`;
      } catch {
        continue;
      }
      if (seenDirs.has(key)) continue; // symlink loop
      seenDirs.add(key);
      await collect(path, depth + 1, out, seenDirs);
    }
  }
}

/**
 * The --sources index of one build, made on first use and then kept: it hashes every archive in the directories, which
 * a build that finds every layer in the store never needs, and preflight and the sources stage both ask for it.
 */
export function lazySourceIndex(dirs: string[]): () => Promise<Map<string, string> | undefined> {
  let index: Promise<Map<string, string>> | undefined;
  return () => {
    if (dirs.length === 0) return Promise.resolve(undefined);
    index ??= indexSourceDirs(dirs);
    return index;
  };
}

/**
 * Maps sha256 → absolute path for every archive-looking file under the given directories (down to 4 levels). When
 * two files have the same content the first one found wins.
 */
export async function indexSourceDirs(dirs: string[]): Promise<Map<string, string>> {
  const files: string[] = [];
  for (const given of dirs) {
    const dir = resolve(given);
    let info;
    try {
      info = await stat(dir);
    } catch {
      throw new UsageError(
        `--sources directory ${given} does not exist`,
        'pass an existing directory that holds the release tarballs (any file names)',
      );
    }
    if (!info.isDirectory()) {
      throw new UsageError(`--sources ${given} is not a directory`, 'pass the directory that holds the tarballs, not a file');
    }
    await collect(dir, 1, files, new Set([`${info.dev}:${info.ino}`]));
  }

  const hashes: (string | undefined)[] = new Array(files.length);
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const index = next++;
      const path = files[index]!;
      try {
        if (looksLikeArchive(await readHead(path))) hashes[index] = await sha256File(path);
      } catch {
        /* unreadable file: not a source */
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, files.length) }, worker));

  const index = new Map<string, string>();
  files.forEach((path, i) => {
    const hash = hashes[i];
    if (hash && !index.has(hash)) index.set(hash, path);
  });
  return index;
}

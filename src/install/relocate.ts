import { chmod, lstat, mkdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { UsageError } from '../errors.js';
import { checkFileBytes, LayerIntegrityError, type ManifestEntry, walkTree } from '../store/manifest.js';
import { isElf, rpathSlots } from './elf.js';

export interface RelocateStats {
  files: number;
  textFiles: number;
  binaryFiles: number;
  runpaths: number;
  bytes: number;
}

export interface RelocateOptions {
  /** The layer's manifest: only these entries are copied, each checked against it while it is read. */
  entries: ManifestEntry[];
  /** The layer's name in errors ("layer apr 1.7.6 (3f2a…)"). */
  layer: string;
  /** Entries left out (and what is below them), e.g. the manual. */
  skip?: (rel: string) => boolean;
}

/**
 * Copies a layer's tree from the directory it was built in (`from`, a long placeholder path) to `to`, rewriting every
 * mention of `from`: in text files (apxs, *-config, .la, .pc, config_vars.mk, httpd.conf, apachectl, envvars, headers)
 * plainly; in binaries inside their NUL-terminated strings, padded with NULs (the new path is never longer: that is
 * what the placeholder's length guarantees, as conda does); and ELF RUNPATHs become $ORIGIN-relative, so libraries
 * are found relative to each binary wherever the tree lives.
 *
 * Every file is checked against the layer's manifest (type, mode, size, sha256, link target) as it is read, before
 * anything is written from it, and an entry the manifest does not list is refused: tampered bytes are never installed.
 * A later layer's file replaces an earlier one's at the same path, as a later `make install` would.
 */
export async function relocateTree(sourceTree: string, from: string, to: string, opts: RelocateOptions): Promise<RelocateStats> {
  if (Buffer.byteLength(to) > Buffer.byteLength(from)) {
    throw new UsageError(
      `the install path ${to} is longer (${Buffer.byteLength(to)} bytes) than the build's placeholder (${Buffer.byteLength(from)})`,
      'use a shorter --prefix path',
    );
  }
  const stats: RelocateStats = { files: 0, textFiles: 0, binaryFiles: 0, runpaths: 0, bytes: 0 };
  const fromBytes = Buffer.from(from);
  const toBytes = Buffer.from(to);
  const skip = opts.skip ?? (() => false);
  const listed = new Set(opts.entries.map((e) => e.path));
  await walkTree(sourceTree, async (rel) => {
    if (!listed.has(rel)) throw new LayerIntegrityError(opts.layer, rel, 'is not in the manifest');
  });
  await mkdir(to, { recursive: true });

  for (const entry of opts.entries) {
    if (skip(entry.path)) continue;
    const src = join(sourceTree, entry.path);
    const dest = join(to, entry.path);
    const st = await lstat(src).catch(() => undefined);
    if (!st) throw new LayerIntegrityError(opts.layer, entry.path, 'is missing');
    const type = st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'special file';
    if (type !== entry.type) throw new LayerIntegrityError(opts.layer, entry.path, `is a ${type}, the manifest says ${entry.type}`);
    if ((st.mode & 0o7777) !== entry.mode)
      throw new LayerIntegrityError(
        opts.layer,
        entry.path,
        `has mode ${(st.mode & 0o7777).toString(8)}, the manifest says ${entry.mode.toString(8)}`,
      );
    if (entry.type === 'dir') {
      await mkdir(dest, { recursive: true, mode: entry.mode });
      continue;
    }
    const existing = await lstat(dest).catch(() => undefined);
    if (existing?.isDirectory()) throw new LayerIntegrityError(opts.layer, entry.path, 'would replace a directory of an earlier layer');
    if (existing) await rm(dest, { force: true });
    if (entry.type === 'symlink') {
      const target = await readlink(src);
      if (target !== entry.target) throw new LayerIntegrityError(opts.layer, entry.path, `points at ${target}, the manifest says ${entry.target}`);
      await symlink(target.startsWith(from) ? to + target.slice(from.length) : target, dest);
      continue;
    }
    // One file at a time: each is read whole to be checked and patched, and thousands at once would cost far more
    // memory than the few milliseconds they save.
    const content = await readFile(src);
    checkFileBytes(opts.layer, entry, content);
    stats.files++;
    stats.bytes += content.length;
    let out: Buffer = content;
    if (content.indexOf(fromBytes) !== -1) {
      if (content.indexOf(0) === -1) {
        stats.textFiles++;
        out = replaceAll(content, fromBytes, toBytes);
      } else {
        stats.binaryFiles++;
        out = Buffer.from(content);
        if (isElf(out)) stats.runpaths += rewriteRunpaths(out, from, to, join(to, entry.path));
        patchCStrings(out, fromBytes, toBytes);
      }
    }
    await writeFile(dest, out, { mode: entry.mode });
    await chmod(dest, entry.mode);
  }
  return stats;
}

/** RUNPATH entries under the tree become $ORIGIN-relative; other entries (system dirs, Python's libdir) stay. */
function rewriteRunpaths(buffer: Buffer, from: string, to: string, finalPath: string): number {
  let count = 0;
  for (const slot of rpathSlots(buffer)) {
    if (!slot.value.includes(from)) continue;
    const entries = slot.value.split(':').map((entry) => {
      if (!entry.startsWith(from)) return entry;
      const target = to + entry.slice(from.length);
      const rel = relative(dirname(finalPath), target);
      return rel === '' ? '$ORIGIN' : `$ORIGIN/${rel}`;
    });
    const value = Buffer.from([...new Set(entries)].join(':'));
    if (value.length > slot.length) continue; // cannot happen with a long placeholder; leave it to the string patch
    value.copy(buffer, slot.offset);
    buffer.fill(0, slot.offset + value.length, slot.offset + slot.length);
    count++;
  }
  return count;
}

/** Replaces `from` by `to` inside each NUL-terminated string that contains it, keeping every string's slot size. */
export function patchCStrings(buffer: Buffer, from: Buffer, to: Buffer): number {
  let count = 0;
  let at = buffer.indexOf(from);
  while (at !== -1) {
    let end = buffer.indexOf(0, at);
    if (end === -1) end = buffer.length;
    const original = buffer.subarray(at, end);
    const parts: Buffer[] = [];
    let cursor = 0;
    let hit = original.indexOf(from, cursor);
    while (hit !== -1) {
      parts.push(original.subarray(cursor, hit), to);
      cursor = hit + from.length;
      hit = original.indexOf(from, cursor);
      count++;
    }
    parts.push(original.subarray(cursor));
    const replaced = Buffer.concat(parts);
    replaced.copy(buffer, at);
    buffer.fill(0, at + replaced.length, end);
    at = buffer.indexOf(from, end);
  }
  return count;
}

function replaceAll(buffer: Buffer, from: Buffer, to: Buffer): Buffer {
  const parts: Buffer[] = [];
  let cursor = 0;
  let hit = buffer.indexOf(from);
  while (hit !== -1) {
    parts.push(buffer.subarray(cursor, hit), to);
    cursor = hit + from.length;
    hit = buffer.indexOf(from, cursor);
  }
  parts.push(buffer.subarray(cursor));
  return Buffer.concat(parts);
}

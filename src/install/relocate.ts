import { chmodSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { UsageError } from '../errors.js';
import { checkEntryKind, checkFileBytes, LayerIntegrityError, listTree, type ManifestEntry } from '../store/manifest.js';
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
  // What is left out is never read, so it is not listed either (the httpd manual is most of that layer's entries).
  for (const rel of (await listTree(sourceTree, skip)).sort())
    if (!listed.has(rel)) throw new LayerIntegrityError(opts.layer, rel, 'is not in the manifest');
  await mkdir(to, { recursive: true });

  const wanted = opts.entries.filter((e) => !skip(e.path));
  // Synchronous calls, one file after another: a copy is a few small system calls per file, and through the thread
  // pool each costs more in hand-offs and promises than the call itself (a warm build's assemble: ~300 -> ~200 ms).
  // Directories come first in the manifest's order, so each parent exists before its entries.
  for (const entry of wanted) if (entry.type === 'dir') relocateEntry(entry);
  for (const entry of wanted) if (entry.type !== 'dir') relocateEntry(entry);
  return stats;

  function relocateEntry(entry: ManifestEntry): void {
    const src = join(sourceTree, entry.path);
    const dest = join(to, entry.path);
    checkEntryKind(opts.layer, entry, src);
    if (entry.type === 'dir') {
      mkdirSync(dest, { recursive: true, mode: entry.mode });
      return;
    }
    if (entry.type === 'symlink') {
      const target = readlinkSync(src);
      if (target !== entry.target) throw new LayerIntegrityError(opts.layer, entry.path, `points at ${target}, the manifest says ${entry.target}`);
      const link = target.startsWith(from) ? to + target.slice(from.length) : target;
      replacing(entry, dest, () => symlinkSync(link, dest));
      return;
    }
    const content = readFileSync(src);
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
        out = content; // read for this copy alone: patched in place
        if (isElf(out)) stats.runpaths += rewriteRunpaths(out, from, to, join(to, entry.path));
        patchCStrings(out, fromBytes, toBytes);
      }
    }
    replacing(entry, dest, () => writeFileSync(dest, out, { mode: entry.mode, flag: 'wx' }));
    chmodSync(dest, entry.mode);
  }

  /** Creates `dest` (exclusively, so no lookup first); a file or link of an earlier layer there is replaced. */
  function replacing(entry: ManifestEntry, dest: string, create: () => void): void {
    try {
      create();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      if (lstatSync(dest).isDirectory()) throw new LayerIntegrityError(opts.layer, entry.path, 'would replace a directory of an earlier layer');
      rmSync(dest, { force: true });
      create();
    }
  }
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

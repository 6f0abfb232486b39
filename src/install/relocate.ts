import { copyFile, lstat, mkdir, readdir, readFile, readlink, symlink, writeFile, chmod } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { UsageError } from '../errors.js';
import { isElf, rpathSlots } from './elf.js';

export interface RelocateStats {
  files: number;
  textFiles: number;
  binaryFiles: number;
  runpaths: number;
  bytes: number;
}

/**
 * Copies a built tree from the directory it was built in (`from`, a long placeholder path) to `to`, rewriting every
 * mention of `from`: in text files (apxs, *-config, .la, .pc, config_vars.mk, httpd.conf, apachectl, envvars, headers)
 * plainly; in binaries inside their NUL-terminated strings, padded with NULs (the new path is never longer: that is
 * what the placeholder's length guarantees, as conda does); and ELF RUNPATHs become $ORIGIN-relative, so libraries
 * are found relative to each binary wherever the tree lives.
 */
export async function relocateTree(sourceTree: string, from: string, to: string, destination = to): Promise<RelocateStats> {
  if (Buffer.byteLength(to) > Buffer.byteLength(from)) {
    throw new UsageError(
      `the install path ${to} is longer (${to.length} characters) than the build's placeholder (${from.length})`,
      'use a shorter --prefix path (the placeholder is sized for prefixes up to about 180 characters)',
    );
  }
  const stats: RelocateStats = { files: 0, textFiles: 0, binaryFiles: 0, runpaths: 0, bytes: 0 };
  const fromBytes = Buffer.from(from);
  const toBytes = Buffer.from(to);

  const copy = async (src: string, dest: string): Promise<void> => {
    const stat = await lstat(src);
    if (stat.isDirectory()) {
      await mkdir(dest, { recursive: true, mode: stat.mode & 0o7777 });
      // One entry at a time per directory: each file is read whole to be patched, and thousands at once (the manual
      // alone has ~1,200) would cost far more memory than the few milliseconds they save.
      for (const name of await readdir(src)) await copy(join(src, name), join(dest, name));
      return;
    }
    if (stat.isSymbolicLink()) {
      const target = await readlink(src);
      await symlink(target.startsWith(from) ? to + target.slice(from.length) : target, dest);
      return;
    }
    stats.files++;
    stats.bytes += stat.size;
    const content = await readFile(src);
    if (content.indexOf(fromBytes) === -1) {
      await copyFile(src, dest);
      await chmod(dest, stat.mode & 0o7777);
      return;
    }
    const finalPath = join(to, relative(sourceTree, src));
    let patched: Buffer;
    if (content.indexOf(0) === -1) {
      stats.textFiles++;
      patched = replaceAll(content, fromBytes, toBytes);
    } else {
      stats.binaryFiles++;
      patched = Buffer.from(content);
      if (isElf(patched)) stats.runpaths += rewriteRunpaths(patched, from, to, finalPath);
      patchCStrings(patched, fromBytes, toBytes);
    }
    await writeFile(dest, patched, { mode: stat.mode & 0o7777 });
    await chmod(dest, stat.mode & 0o7777);
  };
  await copy(sourceTree, destination);
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

/**
 * `wsgi-toolchain pack` and `build --from-archive`: a finished build as one gzip tarball, installable on another
 * machine (or after the build cache is gone) without a compiler.
 *
 * The archive holds one top-level directory, `wsgi-httpd-<key16>/`, with
 *   - `manifest.json`: the lock, the build key, the placeholder path the tree's files mention, and the sha256 of every
 *     file (and the target of every symlink) under `tree/`;
 *   - `tree/`: the relocatable tree exactly as the build cache keeps it (`<cache>/builds/<key>/tree`), or, when that
 *     cache entry is gone, the installed stack itself; then the path it was installed at is the placeholder, and the
 *     archive can only be installed where the stack path is no longer than that.
 *
 * Installing imports the archive into the build cache (every file checked against the manifest first), after which
 * the normal plan is a cache hit: relocate, verify, activate, exactly as a warm build.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, link, lstat, mkdir, readdir, readFile, readlink, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { create as createTar, Parser, type ReadEntry } from 'tar';
import { NotBuiltError, ChecksumError, ToolchainError, UnpackError, UsageError } from '../errors.js';
import { sha256File } from '../fetch/hash.js';
import { inspectPrefix } from '../install/prefix.js';
import { lockPrefix } from '../install/prefix-lock.js';
import { buildKey, prefixLayout } from '../plan/plan.js';
import type { Lock } from '../resolve/lock.js';
import { unpackArchive } from '../unpack/unpack.js';
import { toolVersion } from '../version.js';
import { lookupBuild, type CachedBuild } from './build-cache.js';
import { processAlive } from '../util/process.js';

export const archiveFormat = 'wsgi-httpd-archive/1';
const manifestName = 'manifest.json';
/** The stack's own record of the build; written again at activation, never part of the relocatable tree. */
const stackManifestName = '.wsgi-toolchain-manifest.json';

export interface ArchiveManifest {
  format: typeof archiveFormat;
  tool: string;
  createdAt: string;
  /** The build key (see buildKey): the cache entry the archive becomes. */
  key: string;
  /** The path the tree's files mention, replaced by the new stack path on install (which must not be longer). */
  placeholder: string;
  /** Where the tree came from: the build cache entry, or the installed stack (the cache entry was gone). */
  source: 'cache' | 'stack';
  /** The prefix it was packed from. */
  packedFrom: string;
  lock: Lock;
  /** sha256 of every regular file under tree/, by path relative to tree/. */
  files: Record<string, string>;
  /** The target of every symlink under tree/ (always relative). */
  symlinks: Record<string, string>;
  /** Total bytes of the files. */
  bytes: number;
}

export interface PackResult {
  output: string;
  key: string;
  stackId: string;
  source: 'cache' | 'stack';
  placeholder: string;
  files: number;
  bytes: number;
  archiveBytes: number;
}

interface TreeEntry {
  rel: string;
  kind: 'dir' | 'file' | 'symlink';
  mode: number;
}

/** Every directory, file and symlink under root (parents first); other kinds (sockets, fifos) are skipped. */
async function walk(root: string, skip: (rel: string) => boolean = () => false): Promise<TreeEntry[]> {
  const out: TreeEntry[] = [];
  const visit = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(root, rel))).sort()) {
      const child = rel ? `${rel}/${name}` : name;
      if (skip(child)) continue;
      const st = await lstat(join(root, child));
      if (st.isSymbolicLink()) out.push({ rel: child, kind: 'symlink', mode: st.mode & 0o7777 });
      else if (st.isDirectory()) {
        out.push({ rel: child, kind: 'dir', mode: st.mode & 0o7777 });
        await visit(child);
      } else if (st.isFile()) out.push({ rel: child, kind: 'file', mode: st.mode & 0o7777 });
    }
  };
  await visit('');
  return out;
}

/** A scratch directory in the cache (same file system as the cache entries, so trees move in by rename). */
async function scratchDir(cacheDir: string, what: string): Promise<string> {
  const parent = join(cacheDir, 'tmp');
  // Those of a pack or import that was killed (its pid is gone) are removed on the way.
  for (const name of await readdir(parent).catch(() => [] as string[])) {
    const pid = Number(/^(?:pack|import)-(\d+)-[0-9a-f]+$/.exec(name)?.[1]);
    if (pid && pid !== process.pid && !processAlive(pid)) await rm(join(parent, name), { recursive: true, force: true });
  }
  const dir = join(parent, `${what}-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

/**
 * Writes the live build of `prefix` to `output` (.tar.gz). Holds the prefix lock meanwhile, so no build can replace
 * the stack while it is read. The archive is written beside `output` and renamed into place when complete.
 */
export async function packPrefix(options: { prefix: string; output: string; cacheDir: string; waitSeconds?: number }): Promise<PackResult> {
  const prefix = resolve(options.prefix);
  const output = resolve(options.output);
  const release = await lockPrefix(options.cacheDir, prefix, (options.waitSeconds ?? 0) * 1000);
  let scratch: string | undefined;
  const partial = `${output}.partial-${process.pid}`;
  try {
    const state = await inspectPrefix(prefix);
    if (!state.liveStackId || !state.liveManifest) throw new NotBuiltError(prefix);
    const { key, lock } = state.liveManifest;
    const root = prefixLayout(prefix, state.liveStackId).root;
    const cached = await lookupBuild(options.cacheDir, key);
    const source: 'cache' | 'stack' = cached ? 'cache' : 'stack';
    const tree = cached ? cached.tree : root;
    const placeholder = cached ? cached.placeholder : root;

    scratch = await scratchDir(options.cacheDir, 'pack');
    const top = `wsgi-httpd-${key.slice(0, 16)}`;
    const staged = join(scratch, top, 'tree');
    await mkdir(staged, { recursive: true });
    const manifest: ArchiveManifest = {
      format: archiveFormat,
      tool: `wsgi-httpd ${toolVersion}`,
      createdAt: new Date().toISOString(),
      key,
      placeholder,
      source,
      packedFrom: prefix,
      lock,
      files: {},
      symlinks: {},
      bytes: 0,
    };
    // The staged copy is made of hard links where the file system allows (no bytes copied), copies otherwise.
    for (const entry of await walk(tree, (rel) => source === 'stack' && rel === stackManifestName)) {
      const from = join(tree, entry.rel);
      const to = join(staged, entry.rel);
      if (entry.kind === 'dir') await mkdir(to, { mode: entry.mode });
      else if (entry.kind === 'symlink') {
        let target = await readlink(from);
        if (target.startsWith('/')) {
          // An absolute link into the tree (relocation writes those) becomes relative; one out of the tree cannot travel.
          if (target !== placeholder && !target.startsWith(`${placeholder}/`))
            throw new UsageError(`${from} is a symlink to ${target}, outside the build`, 'remove or fix that link, then pack again');
          target = relative(dirname(join(placeholder, entry.rel)), target) || '.';
        }
        await symlink(target, to);
        manifest.symlinks[entry.rel] = target;
      } else {
        await link(from, to).catch(() => copyFile(from, to));
        manifest.files[entry.rel] = await sha256File(from);
        manifest.bytes += (await stat(from)).size;
      }
    }
    await writeFile(join(scratch, top, manifestName), `${JSON.stringify(manifest, null, 2)}\n`);
    await mkdir(dirname(output), { recursive: true });
    await createTar({ file: partial, cwd: scratch, gzip: true, portable: true }, [top]);
    await rename(partial, output);
    return {
      output,
      key,
      stackId: state.liveStackId,
      source,
      placeholder,
      files: Object.keys(manifest.files).length,
      bytes: manifest.bytes,
      archiveBytes: (await stat(output)).size,
    };
  } finally {
    await rm(partial, { force: true });
    if (scratch) await rm(scratch, { recursive: true, force: true });
    await release();
  }
}

function notAnArchive(file: string, why: string): UsageError {
  return new UsageError(
    `${file} is not a wsgi-toolchain archive: ${why}`,
    "pass a file written by 'wsgi-toolchain pack --prefix P --output FILE.tar.gz'",
  );
}

function checkManifest(file: string, value: unknown): ArchiveManifest {
  const m = value as Partial<ArchiveManifest> | undefined;
  if (!m || m.format !== archiveFormat) throw notAnArchive(file, `its manifest is not format ${archiveFormat}`);
  if (typeof m.key !== 'string' || typeof m.placeholder !== 'string' || !m.lock || typeof m.files !== 'object' || typeof m.symlinks !== 'object')
    throw notAnArchive(file, 'its manifest lacks the key, placeholder, lock or file list');
  if (buildKey(m.lock) !== m.key)
    throw new ChecksumError(
      `${manifestName} in ${file}`,
      m.key,
      buildKey(m.lock),
      'the lock in the archive does not match its build key: the archive was changed after it was packed; pack it again',
    );
  return m as ArchiveManifest;
}

/** Reads just the manifest (no extraction): what `build --from-archive` plans with. */
export async function readArchiveManifest(file: string): Promise<ArchiveManifest> {
  const path = resolve(file);
  try {
    await stat(path);
  } catch {
    throw new UsageError(`cannot read the archive ${path}`, 'check the --from-archive path');
  }
  const text = await new Promise<string | undefined>((resolvePromise, reject) => {
    let found: string | undefined;
    const source = createReadStream(path);
    const parser = new Parser({
      onReadEntry: (entry: ReadEntry) => {
        const parts = entry.path.split('/').filter((p) => p !== '' && p !== '.');
        if (parts.length !== 2 || parts[1] !== manifestName || entry.type !== 'File') return entry.resume();
        const chunks: Buffer[] = [];
        entry.on('data', (c: Buffer) => chunks.push(c));
        entry.on('end', () => {
          found = Buffer.concat(chunks).toString('utf8');
          source.destroy();
          resolvePromise(found);
        });
      },
    });
    parser.on('error', (error: Error) => reject(notAnArchive(path, error.message)));
    parser.on('end', () => resolvePromise(found));
    source.on('error', (error) => reject(notAnArchive(path, error.message)));
    source.pipe(parser as unknown as NodeJS.WritableStream);
  });
  if (text === undefined) throw notAnArchive(path, `it has no ${manifestName}`);
  try {
    return checkManifest(path, JSON.parse(text));
  } catch (error) {
    if (error instanceof ToolchainError) throw error;
    throw notAnArchive(path, `its ${manifestName} is not JSON`);
  }
}

/**
 * Extracts the archive (with the safety checks of source tarballs), checks every file against the manifest and puts
 * the tree into the build cache as the entry for its key. An entry that is already there is kept (same key, same
 * build); the archive is still checked. Returns the cache entry and the manifest.
 */
export async function importArchive(
  file: string,
  cacheDir: string,
  expectedKey?: string,
): Promise<{ entry: CachedBuild; manifest: ArchiveManifest; files: number }> {
  const path = resolve(file);
  const scratch = await scratchDir(cacheDir, 'import');
  try {
    const unpacked = join(scratch, 'archive');
    await unpackArchive(path, unpacked);
    let manifest: ArchiveManifest;
    try {
      manifest = checkManifest(path, JSON.parse(await readFile(join(unpacked, manifestName), 'utf8')));
    } catch (error) {
      if (error instanceof ToolchainError) throw error;
      throw notAnArchive(path, `it has no readable ${manifestName}`);
    }
    if (expectedKey && manifest.key !== expectedKey)
      throw notAnArchive(path, `it holds build ${manifest.key.slice(0, 16)}, not ${expectedKey.slice(0, 16)}`);
    const tree = join(unpacked, 'tree');
    const tampered = (rel: string, expected: string, actual: string) =>
      new ChecksumError(
        `tree/${rel} in ${path}`,
        expected,
        actual,
        'the archive was changed or damaged after it was packed; nothing was installed. Pack it again from the prefix it came from',
      );
    const seen = new Set<string>();
    for (const entry of await walk(tree)) {
      if (entry.kind === 'dir') continue;
      seen.add(entry.rel);
      if (entry.kind === 'symlink') {
        const target = await readlink(join(tree, entry.rel));
        if (manifest.symlinks[entry.rel] !== target)
          throw tampered(entry.rel, `a link to ${manifest.symlinks[entry.rel] ?? '(nothing)'}`, `a link to ${target}`);
        continue;
      }
      const expected = manifest.files[entry.rel];
      const actual = await sha256File(join(tree, entry.rel));
      if (expected !== actual) throw tampered(entry.rel, expected ?? '(not in the manifest)', actual);
    }
    for (const rel of [...Object.keys(manifest.files), ...Object.keys(manifest.symlinks)]) {
      if (!seen.has(rel)) throw tampered(rel, manifest.files[rel] ?? `a link to ${manifest.symlinks[rel]}`, '(missing from the archive)');
    }

    const existing = await lookupBuild(cacheDir, manifest.key);
    if (existing) return { entry: existing, manifest, files: seen.size };
    // Assemble the whole entry in the scratch directory, then move it into place in one rename.
    const staged = join(scratch, 'entry');
    await mkdir(staged);
    await rename(tree, join(staged, 'tree'));
    const entryDir = join(cacheDir, 'builds', manifest.key);
    const meta: CachedBuild = {
      key: manifest.key,
      tree: join(entryDir, 'tree'),
      placeholder: manifest.placeholder,
      createdAt: new Date().toISOString(),
      bytes: manifest.bytes,
      components: manifest.lock.components.map((c) => ({ name: c.name, version: c.version })),
      python: `${manifest.lock.python.executable} ${manifest.lock.python.version}`,
    };
    await writeFile(join(staged, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
    await mkdir(dirname(entryDir), { recursive: true });
    await rm(entryDir, { recursive: true, force: true }); // a half-written entry (no meta.json or no tree)
    try {
      await rename(staged, entryDir);
    } catch (error) {
      // Another import of the same key won the race: theirs is the same build.
      if (!['EEXIST', 'ENOTEMPTY'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
    }
    const entry = await lookupBuild(cacheDir, manifest.key);
    if (!entry) throw new UnpackError(`could not add ${basename(path)} to the build cache in ${cacheDir}`, `check that ${cacheDir} is writable`);
    return { entry, manifest, files: seen.size };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * The build store: content-described layers (one per built component), the stacks made of them, and a record of the
 * prefixes that use them. Layout under the store root (WSGI_HTTPD_CACHE_DIR, default ~/.cache/wsgi-httpd):
 *
 *   layers/<key>/layer.json   what the layer is: component, version, the inputs its key hashes, the placeholder path its
 *                             files mention, and the per-file manifest
 *   layers/<key>/tree/        the files, relative to a stack root
 *   stacks/<key>.json         a stack: its ordered layer keys
 *   uses/<hash>.json          a prefix that has a stack live (what `cache prune` must keep)
 *   tmp/                      layers being written, then renamed into layers/ complete: a killed build never leaves a
 *                             half layer that looks valid
 *
 * Nothing here follows a symlink where the store's own directories are expected: a link (or a file) planted as one of
 * them, or as a layer directory, is refused (exit 2, naming it) before anything is read, written or deleted there.
 */
import { createHash, randomBytes } from 'node:crypto';
import { lutimes, mkdtemp, readdir, readFile, rename, rm, writeFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { realpath } from 'node:fs/promises';
import { ExitCode, ToolchainError } from '../errors.js';
import { defaultCacheDir } from '../fetch/cache.js';
import { ensureOwnDir, ownDirPresent, writeAtomic } from '../util/fs.js';
import { processAlive } from '../util/process.js';
import type { RunsOn } from './keys.js';
import type { ManifestEntry } from './manifest.js';

export const layerFormat = 'wsgi-httpd-layer/1';

export interface LayerRecord {
  format: typeof layerFormat;
  key: string;
  component: string;
  version: string;
  /** What the key hashes (kept for `cache list`, `info` and registry annotations). */
  inputs: Record<string, unknown>;
  /** The stage path the layer's files mention; replaced by the install path (never longer) when installed. */
  placeholder: string;
  files: ManifestEntry[];
  /** Bytes of all files. */
  bytes: number;
  createdAt: string;
  /** Wall seconds the build of this layer took (configure to install), for estimates. */
  buildSeconds?: number;
  /** The platform it was built on: where it can run (glibc: the version it was built against, the oldest it needs). */
  runsOn?: RunsOn;
  tool: string;
}

export interface StackRecord {
  key: string;
  layers: { component: string; version: string; key: string }[];
  createdAt: string;
}

export interface UseRecord {
  prefix: string;
  stack: string;
  layers: string[];
  updatedAt: string;
}

export interface StoredLayer {
  record: LayerRecord;
  dir: string;
  tree: string;
  lastUsed: Date;
}

/**
 * Layer and stack keys are sha256s; one read from a record (a prefix's stack manifest, a stack record) that is not
 * was edited, and as a path it could lead anywhere ("../../etc/x"): refused before it names a file.
 */
export const isKey = (key: unknown): key is string => typeof key === 'string' && /^[0-9a-f]{64}$/.test(key);

export function checkedKey(key: unknown, what: string): string {
  if (isKey(key)) return key;
  throw new ToolchainError(
    `${what} key ${JSON.stringify(String(key).slice(0, 100))} is not a sha256 (64 hex digits): the record that names it was edited or is damaged`,
    'rebuild the prefix (wsgi-toolchain build --force), or remove the damaged record from the store',
    ExitCode.checksum,
  );
}

export class Store {
  constructor(readonly root: string) {}

  layerDir(key: string): string {
    return join(this.root, 'layers', checkedKey(key, 'layer'));
  }

  /** The layer as stored, or undefined when there is none (a layer whose record cannot be read counts as none). */
  async layer(key: string): Promise<StoredLayer | undefined> {
    const dir = this.layerDir(key);
    if (!(await ownDirPresent(join(this.root, 'layers'))) || !(await ownDirPresent(dir))) return undefined;
    try {
      const record = JSON.parse(await readFile(join(dir, 'layer.json'), 'utf8')) as LayerRecord;
      if (record.format !== layerFormat || record.key !== key) return undefined;
      const used = await stat(join(dir, 'last-used')).catch(() => undefined);
      return { record, dir, tree: join(dir, 'tree'), lastUsed: used?.mtime ?? new Date(record.createdAt) };
    } catch {
      return undefined;
    }
  }

  /** A fresh private directory under tmp/ (same file system as layers/, so a finished layer moves in by rename). */
  async tempDir(what: string): Promise<string> {
    const tmp = join(this.root, 'tmp');
    await ensureOwnDir(this.root);
    await ensureOwnDir(tmp);
    return mkdtemp(join(tmp, `${what}-${process.pid}-`));
  }

  /** Removes what killed processes left in tmp/ (their pid is in the name and is gone). */
  async clearStaleTemp(): Promise<void> {
    const tmp = join(this.root, 'tmp');
    if (!(await ownDirPresent(tmp))) return;
    for (const name of await readdir(tmp).catch(() => [] as string[])) {
      const pid = Number(/-(\d+)-[^-]+$/.exec(name)?.[1]);
      if (pid && pid !== process.pid && !processAlive(pid)) await rm(join(tmp, name), { recursive: true, force: true });
    }
  }

  /**
   * Moves a finished layer directory (holding tree/ and nothing else yet) into layers/<key> with its record. When
   * another build stored the same key meanwhile, that one is kept and ours is dropped.
   */
  async commitLayer(tempDir: string, record: LayerRecord): Promise<StoredLayer> {
    await writeFile(join(tempDir, 'layer.json'), `${JSON.stringify(record, null, 1)}\n`);
    await ensureOwnDir(join(this.root, 'layers'));
    try {
      await rename(tempDir, this.layerDir(record.key));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
      await rm(tempDir, { recursive: true, force: true });
    }
    const stored = await this.layer(record.key);
    if (!stored) throw new Error(`layer ${record.key} was stored but cannot be read back`);
    return stored;
  }

  /** Takes a layer out of the store (renamed away first, so no reader ever sees it half removed). */
  async discardLayer(key: string): Promise<void> {
    const trash = join(this.root, 'tmp', `discard-${process.pid}-${randomBytes(4).toString('hex')}`);
    await ensureOwnDir(join(this.root, 'tmp'));
    if (!(await ownDirPresent(join(this.root, 'layers')))) return;
    try {
      // A link planted as the layer directory is moved and removed itself, never what it points at.
      await rename(this.layerDir(key), trash);
    } catch {
      return;
    }
    await rm(trash, { recursive: true, force: true });
  }

  async touch(key: string): Promise<void> {
    const file = join(this.layerDir(key), 'last-used');
    const now = new Date();
    await lutimes(file, now, now).catch(() => writeFile(file, '', { flag: 'wx' }));
  }

  async layers(): Promise<StoredLayer[]> {
    if (!(await ownDirPresent(join(this.root, 'layers')))) return [];
    const keys = await readdir(join(this.root, 'layers')).catch(() => [] as string[]);
    const found = await Promise.all(keys.map((k) => this.layer(k)));
    return found.filter((l): l is StoredLayer => l !== undefined);
  }

  async writeStack(record: StackRecord): Promise<void> {
    await ensureOwnDir(join(this.root, 'stacks'));
    await writeAtomic(join(this.root, 'stacks', `${checkedKey(record.key, 'stack')}.json`), `${JSON.stringify(record, null, 2)}\n`);
  }

  async stacks(): Promise<StackRecord[]> {
    if (!(await ownDirPresent(join(this.root, 'stacks')))) return [];
    const names = await readdir(join(this.root, 'stacks')).catch(() => [] as string[]);
    const out: StackRecord[] = [];
    for (const name of names.filter((n) => n.endsWith('.json'))) {
      try {
        const record = JSON.parse(await readFile(join(this.root, 'stacks', name), 'utf8')) as StackRecord;
        // A record is the file named by its own key, a sha256; any other is not ours (and its key names no file).
        if (isKey(record.key) && `${record.key}.json` === name) out.push(record);
      } catch {
        /* unreadable: not a stack */
      }
    }
    return out;
  }

  async removeStack(key: string): Promise<void> {
    if (!(await ownDirPresent(join(this.root, 'stacks')))) return;
    await rm(join(this.root, 'stacks', `${checkedKey(key, 'stack')}.json`), { force: true });
  }

  private useFile(prefix: string): string {
    return join(this.root, 'uses', `${createHash('sha256').update(prefix).digest('hex').slice(0, 32)}.json`);
  }

  /** Records that `prefix` (a real path) has `stack` live. */
  async recordUse(prefix: string, stack: StackRecord): Promise<void> {
    await ensureOwnDir(join(this.root, 'uses'));
    const use: UseRecord = { prefix, stack: stack.key, layers: stack.layers.map((l) => l.key), updatedAt: new Date().toISOString() };
    await writeAtomic(this.useFile(prefix), `${JSON.stringify(use, null, 2)}\n`);
  }

  async forgetUse(prefix: string): Promise<void> {
    if (!(await ownDirPresent(join(this.root, 'uses')))) return;
    await rm(this.useFile(prefix), { force: true });
  }

  async uses(): Promise<UseRecord[]> {
    if (!(await ownDirPresent(join(this.root, 'uses')))) return [];
    const names = await readdir(join(this.root, 'uses')).catch(() => [] as string[]);
    const out: UseRecord[] = [];
    for (const name of names.filter((n) => n.endsWith('.json'))) {
      try {
        out.push(JSON.parse(await readFile(join(this.root, 'uses', name), 'utf8')) as UseRecord);
      } catch {
        /* unreadable: ignored */
      }
    }
    return out;
  }
}

/** The store root (--cache-dir, WSGI_HTTPD_CACHE_DIR, ~/.cache/wsgi-httpd), symlinks resolved once: the user may keep
 * ~/.cache on another disk through a link. */
export async function storeRoot(options: { cacheDir?: string; env: NodeJS.ProcessEnv }): Promise<string> {
  const root = resolve(options.cacheDir ?? defaultCacheDir(options.env));
  return realpath(root).catch(() => root);
}

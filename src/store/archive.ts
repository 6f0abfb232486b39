/**
 * `wsgi-toolchain pack` and `build --from-archive`: a live stack as one file, in the format a registry keeps it in:
 * the stack record (`stack.json`: the lock, the ordered layers with their keys and blob digests, the Python identity)
 * plus one blob per layer (layer-blob.ts). Installing from it imports each layer into the store with the same checks
 * as a layer pulled from a registry (its record, then every file against its manifest), then builds the stack from
 * the store exactly as a warm build does, checking every file again while it copies it.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { create as createTar, extract } from 'tar';
import { ChecksumError, NotBuiltError, UsageError } from '../errors.js';
import { inspectPrefix } from '../install/prefix.js';
import { lockPrefix } from '../install/prefix-lock.js';
import { checkPrefixTrust } from '../install/prefix-trust.js';
import type { PythonInfo } from '../python/types.js';
import type { Lock } from '../resolve/lock.js';
import { toolVersion } from '../version.js';
import { describePythonIdentity, type LayerInputs, type PythonIdentity, pythonIdentity } from './keys.js';
import { importLayerBlob, sha256OfFile, writeLayerBlob } from './layer-blob.js';
import { isKey, type Store } from './store.js';

export const archiveFormat = 'wsgi-httpd-stack/1';

export interface ArchivedLayer {
  component: string;
  version: string;
  key: string;
  /** sha256 of the blob (the file blobs/<sha256>.tar.gz in the archive). */
  sha256: string;
  size: number;
}

export interface StackArchive {
  format: typeof archiveFormat;
  tool: string;
  createdAt: string;
  /** The stack key. */
  key: string;
  lock: Lock;
  layers: ArchivedLayer[];
  packedFrom: string;
}

export interface PackResult {
  output: string;
  key: string;
  layers: ArchivedLayer[];
  archiveBytes: number;
}

/** Writes the live stack of `prefix` to `output`, beside it under an exclusive temp name, renamed when complete. */
export async function packPrefix(options: { prefix: string; output: string; store: Store; waitSeconds?: number }): Promise<PackResult> {
  const prefix = resolve(options.prefix);
  const output = resolve(options.output);
  await checkPrefixTrust(prefix);
  // No build, no lock: a prefix without one gets nothing written.
  if (!(await inspectPrefix(prefix)).liveStackId) throw new NotBuiltError(prefix);
  const release = await lockPrefix(prefix, { what: `pack of ${prefix}`, waitMs: (options.waitSeconds ?? 0) * 1000 });
  const scratch = await options.store.tempDir('pack');
  const partial = join(dirname(output), `.${basename(output)}.partial-${randomBytes(6).toString('hex')}`);
  try {
    const state = await inspectPrefix(prefix);
    if (!state.liveStackId || !state.liveManifest) throw new NotBuiltError(prefix);
    const manifest = state.liveManifest;
    if (!Array.isArray(manifest.layers))
      throw new NotBuiltError(
        prefix,
        `${prefix} was built by an older wsgi-toolchain, without layers`,
        `build it again: wsgi-toolchain build --prefix ${prefix} --force`,
      );
    const layers: ArchivedLayer[] = [];
    await mkdir(join(scratch, 'blobs'));
    for (const l of manifest.layers) {
      const stored = await options.store.layer(l.key);
      if (!stored)
        throw new UsageError(
          `the store ${options.store.root} no longer has layer ${l.component} ${l.version} (${l.key.slice(0, 12)}) of ${prefix}`,
          `restore it by building again (wsgi-toolchain build --prefix ${prefix} --force), then pack`,
        );
      const blob = join(scratch, 'blobs', `${l.key}.tar.gz`);
      const { sha256, size } = await writeLayerBlob(stored, blob);
      await rename(blob, join(scratch, 'blobs', `${sha256}.tar.gz`));
      layers.push({ component: l.component, version: l.version, key: l.key, sha256, size });
    }
    const record: StackArchive = {
      format: archiveFormat,
      tool: `wsgi-httpd ${toolVersion}`,
      createdAt: new Date().toISOString(),
      key: manifest.key,
      lock: manifest.lock,
      layers,
      packedFrom: prefix,
    };
    await writeFile(join(scratch, 'stack.json'), `${JSON.stringify(record, null, 2)}\n`);
    await mkdir(dirname(output), { recursive: true });
    await createTar({ file: partial, cwd: scratch, portable: true, flags: 'wx' } as never, [
      'stack.json',
      ...layers.map((l) => `blobs/${l.sha256}.tar.gz`),
    ]);
    await rename(partial, output);
    return { output, key: manifest.key, layers, archiveBytes: (await stat(output)).size };
  } finally {
    await rm(partial, { force: true });
    await rm(scratch, { recursive: true, force: true });
    await release();
  }
}

function notAnArchive(file: string, why: string): UsageError {
  return new UsageError(
    `${file} is not a wsgi-toolchain archive: ${why}`,
    "pass a file written by 'wsgi-toolchain pack --prefix P --output FILE.tar'",
  );
}

export interface ImportedArchive {
  file: string;
  lock: Lock;
  stackKey: string;
  /** Each component's layer key and inputs, as the archive gives them. */
  layerKeys: Map<string, { key: string; inputs: LayerInputs }>;
  layers: ArchivedLayer[];
}

/**
 * Checks an archive whole and brings its layers into the store: each blob's sha256 against the stack record, each
 * layer's files against its manifest. The Python the stack's Python-dependent layer was built for must be the one
 * given (same identity), else the archive is refused naming both.
 */
export async function importArchive(file: string, store: Store, python: PythonInfo): Promise<ImportedArchive> {
  const path = resolve(file);
  if (!(await stat(path).catch(() => undefined))?.isFile()) throw new UsageError(`cannot read the archive ${path}`, 'check the --from-archive path');
  const scratch = await store.tempDir('archive');
  try {
    // Only the two kinds of entry an archive has, as plain files: nothing else is extracted.
    await new Promise<void>((done, fail) => {
      const stream = createReadStream(path).pipe(
        extract({
          cwd: scratch,
          strict: true,
          filter: (p: string, entry: unknown) => {
            const type = (entry as { type?: string }).type;
            return type === 'File' && (p === 'stack.json' || /^blobs\/[0-9a-f]{64}\.tar\.gz$/.test(p));
          },
        }) as unknown as NodeJS.WritableStream,
      );
      stream.on('finish', done);
      stream.on('close', done);
      stream.on('error', (error: Error) => fail(notAnArchive(path, error.message)));
    });
    let record: StackArchive;
    try {
      record = JSON.parse(await readFile(join(scratch, 'stack.json'), 'utf8')) as StackArchive;
    } catch {
      throw notAnArchive(path, 'it has no readable stack.json');
    }
    if (record.format !== archiveFormat || !Array.isArray(record.layers) || !record.lock)
      throw notAnArchive(path, `its stack.json is not format ${archiveFormat}`);
    const layerKeys = new Map<string, { key: string; inputs: LayerInputs }>();
    for (const l of record.layers) {
      if (!isKey(l.key) || !isKey(l.sha256)) throw notAnArchive(path, `layer ${l.component} has no valid key or digest`);
      const blob = join(scratch, 'blobs', `${l.sha256}.tar.gz`);
      const actual = await sha256OfFile(blob).catch(() => '(missing from the archive)');
      if (actual !== l.sha256)
        throw new ChecksumError(
          `blobs/${l.sha256}.tar.gz (layer ${l.component} ${l.version}) in ${path}`,
          l.sha256,
          actual,
          'the archive was changed or damaged after it was packed; nothing was installed',
        );
      const layer = await importLayerBlob(store, blob, l.key, path);
      layerKeys.set(l.component, { key: l.key, inputs: layer.record.inputs as unknown as LayerInputs });
    }
    checkPython(path, layerKeys, pythonIdentity(python), python);
    return { file: path, lock: record.lock, stackKey: record.key, layerKeys, layers: record.layers };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** A layer built against a Python installs only for a Python of the same identity. */
export function checkPython(origin: string, layers: Map<string, { inputs: LayerInputs }>, here: PythonIdentity, python: PythonInfo): void {
  for (const [component, { inputs }] of layers) {
    const wanted = inputs.python;
    if (!wanted) continue;
    if (JSON.stringify(wanted) !== JSON.stringify(here)) {
      throw new UsageError(
        `${origin}: its ${component} layer was built for ${describePythonIdentity(wanted)}, but ${python.executable} is ${describePythonIdentity(here)}`,
        `use a Python of that identity (--python PATH), or build from source for this one`,
      );
    }
  }
}

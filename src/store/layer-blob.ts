/**
 * A layer as one file that can travel: a gzip tarball of its record (layer.json) and its tree/, written with fixed
 * metadata (sorted entries, no owners, one mtime) so the same stored layer always gives the same bytes, hence the same
 * sha256: the digest under which a registry keeps it (registry/) and an archive (archive.ts) lists it.
 *
 * Reading one back never trusts it: it is unpacked with the safety checks of source tarballs into the store's tmp/,
 * its record must be for the key asked for, every file is checked against the record's manifest, and only then is it
 * renamed into the store.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { create as createTar } from 'tar';
import { ChecksumError } from '../errors.js';
import { unpackArchive } from '../unpack/unpack.js';
import { verifyTree, walkTree } from './manifest.js';
import { layerFormat, type LayerRecord, type Store, type StoredLayer } from './store.js';

const fixedMtime = new Date('2000-01-01T00:00:00Z');

export const layerMediaType = 'application/vnd.wsgi-httpd.layer.v1.tar+gzip';

export async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Writes the layer as a blob; returns its sha256 and size. */
export async function writeLayerBlob(layer: StoredLayer, file: string): Promise<{ sha256: string; size: number }> {
  const paths: string[] = ['layer.json', 'tree'];
  await walkTree(layer.tree, async (rel) => {
    paths.push(`tree/${rel}`);
  });
  await createTar(
    { file, cwd: layer.dir, gzip: { level: 6 }, portable: true, mtime: fixedMtime, noDirRecurse: true, noPax: true, strict: true },
    paths,
  );
  return { sha256: await sha256OfFile(file), size: (await stat(file)).size };
}

/**
 * Unpacks a layer blob into the store as `key`, checking it against its own manifest first. The blob is checked even
 * when the store already has the key (whoever hands it to us learns it is damaged); the stored one is then kept.
 */
export async function importLayerBlob(store: Store, file: string, key: string, origin: string): Promise<StoredLayer> {
  const temp = await store.tempDir('import');
  const dir = join(temp, 'layer');
  try {
    await unpackArchive(file, dir);
    let record: LayerRecord;
    try {
      record = JSON.parse(await readFile(join(dir, 'layer.json'), 'utf8')) as LayerRecord;
    } catch {
      throw new ChecksumError(`${origin} (layer ${key.slice(0, 12)})`, 'a layer.json', 'none readable', 'the layer is damaged; it was not installed');
    }
    if (record.format !== layerFormat || record.key !== key) {
      throw new ChecksumError(
        `${origin} (layer ${key.slice(0, 12)})`,
        `layer ${key}`,
        `layer ${String(record.key)}`,
        'the blob holds another layer than the one asked for; it was not installed',
      );
    }
    await verifyTree(`layer ${record.component} ${record.version} from ${origin}`, join(dir, 'tree'), record.files);
    return (await store.layer(key)) ?? (await store.commitLayer(dir, record));
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}

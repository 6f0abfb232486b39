/**
 * Sending a blob the registry does not have: `POST /blobs/uploads/` (or a cross-repository mount), then either one
 * `PUT <Location>?digest=` with the bytes, or PATCH chunks in order (each answer's Range checked, its Location
 * followed) and a closing empty `PUT ?digest=`.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { UsageError } from '../errors.js';
import { repositoryScope } from './auth.js';
import type { BlobResult } from './blob-download.js';
import { RegistryProtocolError } from './errors.js';
import { validateRepository } from './reference.js';
import type { RegistrySession } from './session.js';
import type { BufferedResponse } from './transport.js';

export type BlobSource = { path: string; size: number } | { bytes: Buffer; size: number };

export interface PushedBlob extends BlobResult {
  /** `exists`: HEAD found it, nothing sent; `mounted`: cross-repository mount; `uploaded`. */
  outcome: 'exists' | 'mounted' | 'uploaded';
}

export interface UploadOptions {
  /** PATCH chunks of this many bytes (at least the registry's OCI-Chunk-Min-Length); default: one PUT. */
  chunkSize?: number;
  /** Try a cross-repository mount from this repository of the same registry first. */
  mountFrom?: string;
}

/** The upload URL with `digest=` appended, keeping its query (`_state=...`) byte for byte. */
export function withDigest(location: URL, digest: string): URL {
  const url = new URL(location);
  url.search = `${url.search === '' ? '?' : `${url.search}&`}digest=${encodeURIComponent(digest)}`;
  return url;
}

export async function uploadBlob(
  session: RegistrySession,
  repository: string,
  blob: BlobSource,
  digest: string,
  options: UploadOptions,
): Promise<PushedBlob> {
  const what = `push of blob ${digest} to ${repository}`;
  const scopes = [repositoryScope(repository, ['pull', 'push'])];
  const uploads = `/v2/${repository}/blobs/uploads/`;
  let start: BufferedResponse;
  if (options.mountFrom !== undefined) {
    validateRepository(options.mountFrom);
    const query = `?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(options.mountFrom)}`;
    const mountScopes = [...scopes, repositoryScope(options.mountFrom, ['pull'])];
    start = await session.buffered({ method: 'POST', url: uploads + query, scopes: mountScopes, what });
    if (start.status === 201) {
      session.log(`registry ${session.host}: mounted ${digest} from ${options.mountFrom}`);
      return { digest, size: blob.size, outcome: 'mounted' };
    }
  } else {
    start = await session.buffered({ method: 'POST', url: uploads, scopes, what });
  }
  if (start.status !== 202) throw session.statusError(start, what);
  let location = session.location(start, what);

  let finish: BufferedResponse;
  if (options.chunkSize === undefined) {
    finish = await session.buffered({
      method: 'PUT',
      url: withDigest(location, digest),
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.size) },
      body: 'bytes' in blob ? blob.bytes : () => createReadStream(blob.path),
      scopes,
      what,
    });
  } else {
    const minimum = Number(start.headers['oci-chunk-min-length'] ?? 0);
    const chunkSize = Number.isInteger(minimum) && minimum > options.chunkSize ? minimum : options.chunkSize;
    location = await patchChunks(session, location, blob, chunkSize, scopes, what);
    finish = await session.buffered({ method: 'PUT', url: withDigest(location, digest), scopes, what });
  }
  if (finish.status !== 201) throw session.statusError(finish, what);
  session.checkDigestHeader(finish, digest, what);
  return { digest, size: blob.size, outcome: 'uploaded' };
}

/** Sends the blob in order as PATCH chunks; resolves the Location for the closing PUT. */
async function patchChunks(
  session: RegistrySession,
  location: URL,
  blob: BlobSource,
  chunkSize: number,
  scopes: readonly string[],
  what: string,
): Promise<URL> {
  const file = 'path' in blob ? await open(blob.path, 'r') : undefined;
  try {
    for (let offset = 0; offset < blob.size; ) {
      const length = Math.min(chunkSize, blob.size - offset);
      const end = offset + length - 1;
      let chunk: Buffer;
      if ('path' in blob) {
        chunk = Buffer.alloc(length);
        const { bytesRead } = await file!.read(chunk, 0, length, offset);
        if (bytesRead !== length) throw new UsageError(`${blob.path} changed while it was being pushed`, 'push it again once it is complete');
      } else {
        chunk = blob.bytes.subarray(offset, offset + length);
      }
      const response = await session.buffered({
        method: 'PATCH',
        url: location,
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(length), 'content-range': `${offset}-${end}` },
        body: chunk,
        scopes,
        what,
      });
      if (response.status !== 202) throw session.statusError(response, `${what} (chunk ${offset}-${end})`);
      const range = response.headers.range;
      const acknowledged = /^(?:bytes=)?0-(\d+)$/.exec(String(range ?? ''));
      if (range !== undefined && (!acknowledged || Number(acknowledged[1]) !== end)) {
        throw new RegistryProtocolError(
          session.host,
          `registry ${session.host} acknowledged bytes ${range} after chunk ${offset}-${end} of ${what}`,
          202,
        );
      }
      location = session.location(response, what);
      offset += length;
    }
    return location;
  } finally {
    await file?.close();
  }
}

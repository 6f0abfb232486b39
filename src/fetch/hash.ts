import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** Streams a file through sha256 (never reads it whole into memory). */
export async function sha256File(path: string, options: { signal?: AbortSignal } = {}): Promise<string> {
  const hash = await hashInto(createHash('sha256'), path, options.signal);
  return hash.digest('hex');
}

/** Feeds a file into an existing hash (used to resume a partial download). */
export async function hashInto(hash: Hash, path: string, signal?: AbortSignal): Promise<Hash> {
  const stream = createReadStream(path, { signal });
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash;
}

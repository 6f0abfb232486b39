/**
 * Receiving a blob: streamed into `<dest>.partial-<pid>-<random>` while hashing, renamed to dest only when the
 * sha256 is the digest asked for (and the size the one expected); otherwise the temp file is removed.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RegistryDigestError, RegistryError, RegistryProtocolError } from './errors.js';
import type { RegistrySession } from './session.js';
import type { StreamingResponse } from './transport.js';

export interface BlobResult {
  digest: string;
  size: number;
}

export async function receiveBlob(
  session: RegistrySession,
  response: StreamingResponse,
  digest: string,
  destFile: string,
  expectedSize?: number,
): Promise<BlobResult> {
  const { host } = session;
  const what = `blob ${digest}`;
  try {
    session.checkDigestHeader(response, digest, what);
  } catch (error) {
    response.body.destroy();
    throw error;
  }
  const lengthHeader = response.headers['content-length'];
  const length = lengthHeader !== undefined && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
  if (expectedSize !== undefined && length !== undefined && length !== expectedSize) {
    response.body.destroy();
    throw new RegistryProtocolError(host, `${what} from ${host} is ${length} bytes, expected ${expectedSize}`, 200);
  }
  const limit = expectedSize ?? length;
  const temp = `${destFile}.partial-${process.pid}-${randomBytes(4).toString('hex')}`;
  const hash = createHash('sha256');
  let size = 0;
  const meter = new Transform({
    transform: (chunk: Buffer, _encoding, callback) => {
      size += chunk.length;
      if (limit !== undefined && size > limit) {
        callback(new RegistryProtocolError(host, `${what} from ${host} is longer than ${limit} bytes`, 200));
        return;
      }
      hash.update(chunk);
      callback(null, chunk);
    },
  });
  const out = createWriteStream(temp, { mode: 0o644 });
  let writeFailed = false;
  out.on('error', () => (writeFailed = true));
  try {
    try {
      await pipeline(response.body, meter, out);
    } catch (error) {
      // A write error is local (disk full, permissions) and passed on as is; anything else came from the network.
      if (error instanceof RegistryError || writeFailed) throw error;
      throw session.transport.networkError(error);
    }
    const actual = `sha256:${hash.digest('hex')}`;
    if (actual !== digest) throw new RegistryDigestError(host, what, digest, actual);
    if (expectedSize !== undefined && size !== expectedSize) {
      throw new RegistryProtocolError(host, `${what} from ${host} is ${size} bytes, expected ${expectedSize}`, 200);
    }
    await rename(temp, destFile);
    return { digest, size };
  } finally {
    await rm(temp, { force: true });
  }
}

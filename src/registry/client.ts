/**
 * RegistryClient: one repository on one OCI registry (distribution spec v1.1). See ./index.ts for the API overview
 * and docs/registry-client.md for the rules (schemes, auth, retries, errors).
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { ToolchainError, UsageError } from '../errors.js';
import { Authorizer, repositoryScope, Secrets } from './auth.js';
import { findCredentials, type Credentials } from './credentials.js';
import { RegistryDigestError, RegistryError, RegistryProtocolError, RegistryUnreachableError } from './errors.js';
import { describeFailure, registryErrorDetail } from './failure.js';
import { mediaTypes, sha256Digest, sha256DigestOfFile } from './manifest.js';
import { digestPattern, isLoopbackHost, parseHost, parseReference, tagPattern, validateRepository, type Reference } from './reference.js';
import { isPlainHttpPeer, maxBufferedBody, Transport, type BufferedResponse, type Method, type StreamingResponse } from './transport.js';
import type { Readable } from 'node:stream';

export interface RegistryClientOptions {
  /** Credentials (WSGI_HTTPD_REGISTRY_USER/PASSWORD, DOCKER_CONFIG, HOME) and proxies come from here. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Explicit credentials; `null` for anonymous access without looking anywhere. Default: looked up from `env`. */
  credentials?: Credentials | null;
  /** Allow plain HTTP and skip certificate checks for a non-loopback host (CLI: --insecure-registry). */
  insecure?: boolean;
  /** Connect, TLS handshake, time to response headers, and silence while reading, each. Default 30 s. */
  timeoutMs?: number;
  /** Retries of GET/HEAD after a transient failure (reset, timeout, 408/429/5xx). Default 2. */
  retries?: number;
  /** First retry delay, doubled each time. Default 500 ms. */
  backoffMs?: number;
  /** Progress and decision lines (never with credentials or tokens). */
  log?: (line: string) => void;
  /** PEM CA certificates that REPLACE the trust store (tests, private CAs). Normally unset: NODE_EXTRA_CA_CERTS applies. */
  ca?: string | Buffer | Array<string | Buffer>;
}

export interface BlobResult {
  digest: string;
  size: number;
}

export interface PushedBlob extends BlobResult {
  /** `exists`: HEAD found it, nothing sent; `mounted`: cross-repository mount; `uploaded`. */
  outcome: 'exists' | 'mounted' | 'uploaded';
}

export interface PushBlobOptions {
  /** The blob's digest when already known (it is then not recomputed; the registry checks it). */
  digest?: string;
  /** Upload in PATCH chunks of this many bytes (at least the registry's OCI-Chunk-Min-Length); default: one PUT. */
  chunkSize?: number;
  /** Try a cross-repository mount from this repository of the same registry first. */
  mountFrom?: string;
}

export interface FetchedManifest {
  /** sha256 of `bytes` (checked against the requested digest and Docker-Content-Digest). */
  digest: string;
  mediaType: string;
  bytes: Buffer;
  json: unknown;
}

type Scopes = readonly string[];

interface Call {
  method: Method;
  /** A path on the registry's origin, or a URL (an upload Location). */
  url: string | URL;
  headers?: Record<string, string>;
  body?: Buffer | (() => Readable);
  scopes: Scopes;
  /** For messages: "pull of blob sha256:... from owner/repo". */
  what: string;
}

const manifestAccept = [mediaTypes.ociManifest, mediaTypes.dockerManifest, mediaTypes.ociIndex, mediaTypes.dockerManifestList].join(', ');

/** Network failures worth retrying; a refused connection or an unknown host is final at once. */
const transientCodes = new Set(['ETIMEDOUT', 'ECONNRESET', 'EPIPE', 'EAI_AGAIN', 'ECONNABORTED', 'ERR_NETWORK', 'ERR_STREAM_PREMATURE_CLOSE']);

export class RegistryClient {
  /** `host[:port]`, lower case. */
  readonly host: string;
  readonly repository: string;
  readonly #transport: Transport;
  readonly #auth: Authorizer;
  readonly #secrets = new Secrets();
  readonly #log: (line: string) => void;
  readonly #retries: number;
  readonly #backoffMs: number;
  readonly #schemes: readonly ('https' | 'http')[];
  #origin?: Promise<string>;
  #credentials?: Promise<Credentials | undefined>;

  constructor(target: string | Pick<Reference, 'host' | 'repository'>, options: RegistryClientOptions = {}) {
    const ref = typeof target === 'string' ? parseReference(target) : { host: parseHost(target.host), repository: target.repository };
    validateRepository(ref.repository);
    this.host = ref.host;
    this.repository = ref.repository;
    const env = options.env ?? process.env;
    const insecure = options.insecure ?? false;
    this.#retries = Math.max(0, options.retries ?? 2);
    this.#backoffMs = options.backoffMs ?? 500;
    this.#schemes = insecure || isLoopbackHost(this.host) ? ['https', 'http'] : ['https'];
    const log = options.log ?? (() => {});
    this.#log = (line) => log(this.#secrets.scrub(line));
    const explicit = options.credentials;
    const credentials = () => {
      this.#credentials ??=
        explicit === null
          ? Promise.resolve(undefined)
          : explicit !== undefined
            ? Promise.resolve(explicit)
            : findCredentials(this.host, env, this.#log).then((found) => {
                if (found) this.#log(`registry ${this.host}: credentials of user "${found.username}" from ${found.source}`);
                return found;
              });
      return this.#credentials.then((found) => {
        this.#secrets.add(found?.password);
        return found && { username: found.username, password: found.password };
      });
    };
    this.#transport = new Transport({
      registry: this.host,
      insecure,
      timeoutMs: options.timeoutMs ?? 30_000,
      env,
      ...(options.ca ? { ca: options.ca } : {}),
    });
    this.#auth = new Authorizer({
      registry: this.host,
      insecure,
      secrets: this.#secrets,
      log: this.#log,
      credentials,
      get: (request, registry) => this.#withRetries(() => this.#transport.send(request), registry),
    });
  }

  /** Tokens fetched so far (a cache check for tests and logs). */
  get tokenRequests(): number {
    return this.#auth.tokenRequests;
  }

  /** `GET /v2/` with credentials: resolves when the registry answers 200; throws the typed error otherwise. */
  ping(): Promise<void> {
    return this.#guard(async () => {
      const response = await this.#buffered({ method: 'GET', url: '/v2/', scopes: [], what: 'GET /v2/' });
      if (response.status !== 200) throw this.#statusError(response, 'GET /v2/');
    });
  }

  hasBlob(digest: string): Promise<boolean> {
    return this.#guard(async () => {
      checkDigest(digest);
      const what = `HEAD of blob ${digest} in ${this.repository}`;
      const response = await this.#buffered({ method: 'HEAD', url: this.#path(`blobs/${digest}`), scopes: this.#pull(), what });
      if (response.status === 200) return true;
      if (response.status === 404) return false;
      throw this.#statusError(response, what);
    });
  }

  /**
   * Streams the blob into destFile (through a temp file beside it, renamed when the sha256 matches). Resolves
   * undefined when the registry does not have it. A digest or size mismatch leaves no file.
   */
  pullBlob(digest: string, destFile: string, options: { expectedSize?: number } = {}): Promise<BlobResult | undefined> {
    return this.#guard(async () => {
      checkDigest(digest);
      await mkdir(dirname(destFile), { recursive: true });
      const what = `pull of blob ${digest} from ${this.repository}`;
      for (let attempt = 0; ; attempt++) {
        const response = await this.#call({
          method: 'GET',
          url: this.#path(`blobs/${digest}`),
          headers: { accept: '*/*' },
          scopes: this.#pull(),
          what,
        });
        if (response.status === 404) {
          response.body.destroy();
          return undefined;
        }
        if (response.status !== 200)
          throw this.#statusError({ ...response, body: await this.#transport.readBody(response).catch(() => Buffer.alloc(0)) }, what);
        try {
          return await this.#receiveBlob(response, digest, destFile, options.expectedSize);
        } catch (error) {
          if (attempt < this.#retries && isTransient(error)) {
            await this.#backoff(attempt, what, error as RegistryError);
            continue;
          }
          throw error;
        }
      }
    });
  }

  /**
   * Pushes a blob (a file path or bytes) unless HEAD says the repository has it: POST, then one PUT ?digest=, or
   * PATCH chunks and a final PUT when chunkSize is given. A transient failure restarts the upload once.
   */
  pushBlob(source: string | Buffer, options: PushBlobOptions = {}): Promise<PushedBlob> {
    return this.#guard(async () => {
      const blob = typeof source === 'string' ? { path: source, size: (await stat(source)).size } : { bytes: source, size: source.length };
      const digest = options.digest ?? (typeof source === 'string' ? (await sha256DigestOfFile(source)).digest : sha256Digest(source as Buffer));
      checkDigest(digest);
      if (options.chunkSize !== undefined && !(Number.isInteger(options.chunkSize) && options.chunkSize > 0)) {
        throw new UsageError(`chunk size ${options.chunkSize} is not a positive integer`, 'pass a chunk size in bytes, e.g. 8388608 (8 MiB)');
      }
      if (await this.hasBlob(digest)) return { digest, size: blob.size, outcome: 'exists' };
      for (let attempt = 0; ; attempt++) {
        try {
          return await this.#upload(blob, digest, options);
        } catch (error) {
          if (attempt === 0 && (isTransient(error) || (error instanceof RegistryError && error.kind === 'server'))) {
            this.#log(`registry ${this.host}: upload of ${digest} failed (${(error as Error).message}); restarting it once`);
            continue;
          }
          throw error;
        }
      }
    });
  }

  /** GET a manifest by tag or digest; undefined when there is none. Accepts OCI and docker schema2 manifests and indexes. */
  getManifest(reference: string): Promise<FetchedManifest | undefined> {
    return this.#guard(async () => {
      checkManifestReference(reference);
      const what = `manifest ${this.repository}:${reference}`;
      const response = await this.#call({
        method: 'GET',
        url: this.#path(`manifests/${reference}`),
        headers: { accept: manifestAccept },
        scopes: this.#pull(),
        what,
      });
      if (response.status === 404) {
        response.body.destroy();
        return undefined;
      }
      const bytes = await this.#transport.readBody(response, maxBufferedBody);
      if (response.status !== 200) throw this.#statusError({ ...response, body: bytes }, `GET of ${what}`);
      const digest = sha256Digest(bytes);
      if (digestPattern.test(reference) && digest !== reference) throw new RegistryDigestError(this.host, what, reference, digest);
      this.#checkDigestHeader(response, digest, what);
      let json: unknown;
      try {
        json = JSON.parse(bytes.toString('utf8'));
      } catch {
        throw new RegistryProtocolError(this.host, `${what} from ${this.host} is not JSON`, 200);
      }
      const contentType = String(response.headers['content-type'] ?? '')
        .split(';')[0]!
        .trim();
      const declared = (json as { mediaType?: unknown })?.mediaType;
      const mediaType = contentType !== '' ? contentType : typeof declared === 'string' ? declared : '';
      return { digest, mediaType, bytes, json };
    });
  }

  /**
   * PUT a manifest under a tag (or its digest). An object is sent as compact JSON; a Buffer as is. The media type is
   * the argument, else the manifest's `mediaType`, else OCI's. Resolves the digest of the bytes sent.
   */
  putManifest(reference: string, manifest: object | Buffer, mediaType?: string): Promise<string> {
    return this.#guard(async () => {
      checkManifestReference(reference);
      const bytes = Buffer.isBuffer(manifest) ? manifest : Buffer.from(JSON.stringify(manifest));
      let declared: unknown;
      try {
        declared = (JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown })?.mediaType;
      } catch {
        throw new UsageError('the manifest to push is not JSON', 'pass the manifest object, or its JSON bytes');
      }
      const type = mediaType ?? (typeof declared === 'string' ? declared : mediaTypes.ociManifest);
      const digest = sha256Digest(bytes);
      if (digestPattern.test(reference) && reference !== digest) {
        throw new UsageError(`manifest pushed as ${reference} has digest ${digest}`, 'push it under its own digest, or under a tag');
      }
      const what = `push of manifest ${this.repository}:${reference}`;
      const response = await this.#buffered({
        method: 'PUT',
        url: this.#path(`manifests/${reference}`),
        headers: { 'content-type': type, 'content-length': String(bytes.length) },
        body: bytes,
        scopes: this.#push(),
        what,
      });
      if (response.status !== 201) throw this.#statusError(response, what);
      this.#checkDigestHeader(response, digest, what);
      return digest;
    });
  }

  /** Every tag of the repository (following `Link: <...>; rel="next"`); [] when the repository does not exist. */
  listTags(): Promise<string[]> {
    return this.#guard(async () => {
      const tags: string[] = [];
      let url: string | URL = this.#path('tags/list');
      for (let page = 0; page < 1000; page++) {
        const what = `tag list of ${this.repository}`;
        const response = await this.#buffered({ method: 'GET', url, scopes: this.#pull(), what });
        if (response.status === 404) return tags;
        if (response.status !== 200) throw this.#statusError(response, what);
        let list: { tags?: unknown };
        try {
          list = JSON.parse(response.body.toString('utf8'));
        } catch {
          throw new RegistryProtocolError(this.host, `${what} from ${this.host} is not JSON`, 200);
        }
        if (Array.isArray(list.tags)) tags.push(...list.tags.filter((t): t is string => typeof t === 'string'));
        const next = /<([^>]+)>\s*;\s*rel="?next"?/.exec(String(response.headers.link ?? ''));
        if (!next) return tags;
        url = new URL(next[1]!, response.url);
      }
      throw new RegistryProtocolError(this.host, `tag list of ${this.repository} did not end after 1000 pages`);
    });
  }

  // --- internals -------------------------------------------------------------------------------------------------

  #path(rest: string): string {
    return `/v2/${this.repository}/${rest}`;
  }

  #pull(): Scopes {
    return [repositoryScope(this.repository, ['pull'])];
  }

  #push(): Scopes {
    return [repositoryScope(this.repository, ['pull', 'push'])];
  }

  /** Runs an operation; every error leaving it has its text scrubbed of the secrets the client knows. */
  async #guard<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (error instanceof Error) {
        error.message = this.#secrets.scrub(error.message);
        if (error.stack) error.stack = this.#secrets.scrub(error.stack);
        if (error instanceof ToolchainError) (error as { hint: string }).hint = this.#secrets.scrub(error.hint);
      }
      throw error;
    }
  }

  /** The registry's origin (`https://host:port`), found once by `GET /v2/` (see transport.ts for the scheme rule). */
  #originOnce(): Promise<string> {
    this.#origin ??= this.#probe().catch((error: unknown) => {
      this.#origin = undefined; // a later operation may try again
      throw error;
    });
    return this.#origin;
  }

  async #probe(): Promise<string> {
    for (const [index, scheme] of this.#schemes.entries()) {
      const origin = `${scheme}://${this.host}`;
      try {
        const response = await this.#withRetries(() => this.#transport.send({ method: 'GET', url: new URL('/v2/', origin) }), this.host);
        if (response.status === 401) this.#auth.learn(response.headers['www-authenticate']);
        else if (response.status !== 200) throw this.#statusError(response, 'GET /v2/');
        if (scheme === 'http') this.#log(`registry ${this.host}: does not speak TLS; using plain HTTP`);
        return origin;
      } catch (error) {
        if (index + 1 < this.#schemes.length && isPlainHttpPeer(error)) continue;
        throw error;
      }
    }
    throw new Error('unreachable: no scheme to try');
  }

  /** Retries `exchange` after transient network failures and 408/429/5xx answers (GET/HEAD only). */
  async #withRetries(exchange: () => Promise<BufferedResponse>, registry: string): Promise<BufferedResponse> {
    for (let attempt = 0; ; attempt++) {
      let response: BufferedResponse;
      try {
        response = await exchange();
      } catch (error) {
        const typed = this.#transport.networkError(error, registry);
        if (attempt < this.#retries && isTransient(typed)) {
          await this.#backoff(attempt, registry, typed);
          continue;
        }
        throw typed;
      }
      if (attempt < this.#retries && retryableStatus(response.status)) {
        await this.#backoff(attempt, registry, `${response.status}`);
        continue;
      }
      return response;
    }
  }

  async #backoff(attempt: number, what: string, why: RegistryError | string): Promise<void> {
    const delay = Math.min(this.#backoffMs * 2 ** attempt, 8_000);
    this.#log(`registry ${this.host}: ${what}: ${typeof why === 'string' ? why : why.message}; retrying in ${delay} ms`);
    await sleep(delay);
  }

  /** One authorized exchange, resolved at the response headers: auth retry after a 401, retries for GET/HEAD. */
  async #call(call: Call): Promise<StreamingResponse> {
    const origin = await this.#originOnce();
    const url = typeof call.url === 'string' ? new URL(call.url, origin) : call.url;
    const idempotent = call.method === 'GET' || call.method === 'HEAD';
    const toRegistry = url.origin === origin;
    let attempt = 0;
    let authRetried = false;
    for (;;) {
      const authorization = toRegistry ? await this.#auth.header(call.scopes) : {};
      let response: StreamingResponse;
      try {
        response = await this.#transport.open({
          method: call.method,
          url,
          headers: { ...call.headers, ...authorization },
          ...(call.body ? { body: call.body } : {}),
        });
      } catch (error) {
        if (idempotent && attempt < this.#retries && isTransient(error)) {
          await this.#backoff(attempt++, call.what, error as RegistryError);
          continue;
        }
        throw error;
      }
      if (response.status === 401 && toRegistry) {
        response.body.destroy();
        const challenge = response.headers['www-authenticate'];
        if (authRetried) throw await this.#auth.refused(challenge, call.what);
        await this.#auth.unauthorized(challenge, call.scopes, 'authorization' in authorization, call.what);
        authRetried = true;
        continue;
      }
      if (idempotent && attempt < this.#retries && retryableStatus(response.status)) {
        response.body.destroy();
        await this.#backoff(attempt++, call.what, String(response.status));
        continue;
      }
      return response;
    }
  }

  async #buffered(call: Call): Promise<BufferedResponse> {
    const response = await this.#call(call);
    return { status: response.status, headers: response.headers, url: response.url, body: await this.#transport.readBody(response) };
  }

  #statusError(response: BufferedResponse, what: string): RegistryError {
    return describeFailure(this.host, response.status, registryErrorDetail(response.body), what);
  }

  /** Docker-Content-Digest, when sent, must be the sha256 of the bytes received or sent. */
  #checkDigestHeader(response: { headers: StreamingResponse['headers'] }, digest: string, what: string): void {
    const header = response.headers['docker-content-digest'];
    if (typeof header === 'string' && header !== '' && header !== digest) {
      throw new RegistryDigestError(this.host, `${what} (Docker-Content-Digest)`, digest, header);
    }
  }

  async #receiveBlob(response: StreamingResponse, digest: string, destFile: string, expectedSize?: number): Promise<BlobResult> {
    const what = `blob ${digest}`;
    const header = response.headers['docker-content-digest'];
    if (typeof header === 'string' && header !== '' && header !== digest) {
      response.body.destroy();
      throw new RegistryDigestError(this.host, `${what} (Docker-Content-Digest)`, digest, header);
    }
    const lengthHeader = response.headers['content-length'];
    const length = lengthHeader !== undefined && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
    if (expectedSize !== undefined && length !== undefined && length !== expectedSize) {
      response.body.destroy();
      throw new RegistryProtocolError(this.host, `${what} from ${this.host} is ${length} bytes, expected ${expectedSize}`, 200);
    }
    const limit = expectedSize ?? length;
    const temp = `${destFile}.partial-${process.pid}-${randomBytes(4).toString('hex')}`;
    const hash = createHash('sha256');
    let size = 0;
    const meter = new Transform({
      transform: (chunk: Buffer, _encoding, callback) => {
        size += chunk.length;
        if (limit !== undefined && size > limit) {
          callback(new RegistryProtocolError(this.host, `${what} from ${this.host} is longer than ${limit} bytes`, 200));
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
        throw this.#transport.networkError(error);
      }
      const actual = `sha256:${hash.digest('hex')}`;
      if (actual !== digest) throw new RegistryDigestError(this.host, what, digest, actual);
      if (expectedSize !== undefined && size !== expectedSize) {
        throw new RegistryProtocolError(this.host, `${what} from ${this.host} is ${size} bytes, expected ${expectedSize}`, 200);
      }
      await rename(temp, destFile);
      return { digest, size };
    } finally {
      await rm(temp, { force: true });
    }
  }

  async #upload(
    blob: { path: string; size: number } | { bytes: Buffer; size: number },
    digest: string,
    options: PushBlobOptions,
  ): Promise<PushedBlob> {
    const what = `push of blob ${digest} to ${this.repository}`;
    const uploads = this.#path('blobs/uploads/');
    let start: BufferedResponse;
    if (options.mountFrom !== undefined) {
      validateRepository(options.mountFrom);
      const scopes = [...this.#push(), repositoryScope(options.mountFrom, ['pull'])];
      const query = `?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(options.mountFrom)}`;
      start = await this.#buffered({ method: 'POST', url: uploads + query, headers: { 'content-length': '0' }, scopes, what });
      if (start.status === 201) {
        this.#log(`registry ${this.host}: mounted ${digest} from ${options.mountFrom}`);
        return { digest, size: blob.size, outcome: 'mounted' };
      }
    } else {
      start = await this.#buffered({ method: 'POST', url: uploads, headers: { 'content-length': '0' }, scopes: this.#push(), what });
    }
    if (start.status !== 202) throw this.#statusError(start, what);
    let location = this.#location(start, what);

    let finish: BufferedResponse;
    if (options.chunkSize === undefined) {
      const body = 'bytes' in blob ? blob.bytes : () => createReadStream(blob.path);
      finish = await this.#buffered({
        method: 'PUT',
        url: withDigest(location, digest),
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.size) },
        body,
        scopes: this.#push(),
        what,
      });
    } else {
      const minimum = Number(start.headers['oci-chunk-min-length'] ?? 0);
      const chunkSize = Number.isInteger(minimum) && minimum > options.chunkSize ? minimum : options.chunkSize;
      location = await this.#patchChunks(location, blob, chunkSize, what);
      finish = await this.#buffered({
        method: 'PUT',
        url: withDigest(location, digest),
        headers: { 'content-length': '0' },
        body: Buffer.alloc(0),
        scopes: this.#push(),
        what,
      });
    }
    if (finish.status !== 201) throw this.#statusError(finish, what);
    this.#checkDigestHeader(finish, digest, what);
    return { digest, size: blob.size, outcome: 'uploaded' };
  }

  /** Sends the blob in order as PATCH chunks; resolves the Location for the closing PUT. */
  async #patchChunks(
    location: URL,
    blob: { path: string; size: number } | { bytes: Buffer; size: number },
    chunkSize: number,
    what: string,
  ): Promise<URL> {
    const file = 'path' in blob ? await open(blob.path, 'r') : undefined;
    try {
      for (let offset = 0; offset < blob.size; ) {
        const length = Math.min(chunkSize, blob.size - offset);
        let chunk: Buffer;
        if (file) {
          chunk = Buffer.alloc(length);
          const { bytesRead } = await file.read(chunk, 0, length, offset);
          if (bytesRead !== length) throw new UsageError(`${(blob as { path: string }).path} changed while it was being pushed`, 'push it again');
        } else {
          chunk = (blob as { bytes: Buffer }).bytes.subarray(offset, offset + length);
        }
        const end = offset + length - 1;
        const response = await this.#buffered({
          method: 'PATCH',
          url: location,
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(length), 'content-range': `${offset}-${end}` },
          body: chunk,
          scopes: this.#push(),
          what,
        });
        if (response.status !== 202) throw this.#statusError(response, `${what} (chunk ${offset}-${end})`);
        const range = /^(?:bytes=)?0-(\d+)$/.exec(String(response.headers.range ?? ''));
        if (response.headers.range !== undefined && (!range || Number(range[1]) !== end)) {
          throw new RegistryProtocolError(
            this.host,
            `registry ${this.host} acknowledged bytes ${response.headers.range} after chunk ${offset}-${end} of ${what}`,
            202,
          );
        }
        location = this.#location(response, what);
        offset += length;
      }
      return location;
    } finally {
      await file?.close();
    }
  }

  /** The upload URL from Location, relative to the answering request (spec: relative or absolute). */
  #location(response: BufferedResponse, what: string): URL {
    const location = response.headers.location;
    if (!location) throw new RegistryProtocolError(this.host, `registry ${this.host} sent no Location for ${what}`, response.status);
    return new URL(location, response.url);
  }
}

/** The upload URL with `digest=` appended, keeping its query (`_state=...`) byte for byte. */
export function withDigest(location: URL, digest: string): URL {
  const url = new URL(location);
  url.search = `${url.search === '' ? '?' : `${url.search}&`}digest=${encodeURIComponent(digest)}`;
  return url;
}

function retryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

function isTransient(error: unknown): boolean {
  return error instanceof RegistryUnreachableError && transientCodes.has(error.code);
}

function checkDigest(digest: string): void {
  if (!digestPattern.test(digest))
    throw new UsageError(`"${digest}" is not a sha256 digest`, 'a digest is sha256: followed by 64 lower-case hex digits');
}

function checkManifestReference(reference: string): void {
  if (!tagPattern.test(reference) && !digestPattern.test(reference)) {
    throw new UsageError(
      `"${reference}" is neither a tag nor a sha256 digest`,
      'a tag is 1 to 128 letters, digits, "_", "." and "-", not starting with "." or "-"',
    );
  }
}

/**
 * RegistryClient: one repository on one OCI registry (distribution spec v1.1). See ./index.ts for the API overview and
 * for the rules (schemes, auth, retries, errors); the README's "Share builds" for what users see.
 */
import { mkdir, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { dirname } from 'node:path';
import { ToolchainError, UsageError } from '../errors.js';
import { repositoryScope } from './auth.js';
import { receiveBlob, type BlobResult } from './blob-download.js';
import { uploadBlob, type PushedBlob, type UploadOptions } from './blob-upload.js';
import type { Credentials } from './credentials.js';
import { RegistryDigestError, RegistryError, RegistryProtocolError } from './errors.js';
import { mediaTypes, sha256Digest, sha256DigestOfFile } from './manifest.js';
import { digestPattern, parseHost, parseReference, tagPattern, validateRepository, type Reference } from './reference.js';
import { isTransient, RegistrySession } from './session.js';
import { maxBufferedBody } from './transport.js';

/** Waits before the 2nd, 3rd and 4th PUT of a manifest the registry could not verify for a moment (see putManifest). */
const manifestRetryDelaysMs = [200, 500, 1_000];

export type { BlobResult } from './blob-download.js';
export type { PushedBlob } from './blob-upload.js';

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

export interface PushBlobOptions extends UploadOptions {
  /** The blob's digest when already known (it is then not recomputed; the registry checks it). */
  digest?: string;
}

export interface FetchedManifest {
  /** sha256 of `bytes` (checked against the requested digest and Docker-Content-Digest). */
  digest: string;
  mediaType: string;
  bytes: Buffer;
  json: unknown;
}

const manifestAccept = [mediaTypes.ociManifest, mediaTypes.dockerManifest, mediaTypes.ociIndex, mediaTypes.dockerManifestList].join(', ');

export class RegistryClient {
  /** `host[:port]`, lower case. */
  readonly host: string;
  readonly repository: string;
  readonly #session: RegistrySession;

  constructor(target: string | Pick<Reference, 'host' | 'repository'>, options: RegistryClientOptions = {}) {
    const ref = typeof target === 'string' ? parseReference(target) : { host: parseHost(target.host), repository: target.repository };
    validateRepository(ref.repository);
    this.host = ref.host;
    this.repository = ref.repository;
    this.#session = new RegistrySession(this.host, {
      env: options.env ?? process.env,
      credentials: options.credentials,
      insecure: options.insecure ?? false,
      timeoutMs: options.timeoutMs ?? 30_000,
      retries: options.retries ?? 2,
      backoffMs: options.backoffMs ?? 500,
      log: options.log ?? (() => {}),
      ...(options.ca ? { ca: options.ca } : {}),
    });
  }

  /** Tokens fetched so far (a cache check for tests and logs). */
  get tokenRequests(): number {
    return this.#session.tokenRequests;
  }

  /** `GET /v2/` with credentials: resolves when the registry answers 200; throws the typed error otherwise. */
  ping(): Promise<void> {
    return this.#guard(async () => {
      const response = await this.#session.buffered({ method: 'GET', url: '/v2/', scopes: [], what: 'GET /v2/' });
      if (response.status !== 200) throw this.#session.statusError(response, 'GET /v2/');
    });
  }

  hasBlob(digest: string): Promise<boolean> {
    return this.#guard(async () => {
      checkDigest(digest);
      const what = `HEAD of blob ${digest} in ${this.repository}`;
      const response = await this.#session.buffered({ method: 'HEAD', url: this.#path(`blobs/${digest}`), scopes: this.#pull(), what });
      if (response.status === 200) return true;
      if (response.status === 404) return false;
      throw this.#session.statusError(response, what);
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
        const url = this.#path(`blobs/${digest}`);
        const response = await this.#session.call({ method: 'GET', url, headers: { accept: '*/*' }, scopes: this.#pull(), what });
        if (response.status === 404) {
          response.body.destroy();
          return undefined;
        }
        if (response.status !== 200) throw await this.#session.streamedStatusError(response, what);
        try {
          return await receiveBlob(this.#session, response, digest, destFile, options.expectedSize);
        } catch (error) {
          // The body broke off: fetch it again from the start, within the same retry budget.
          if (attempt < this.#session.retries && isTransient(error)) {
            await this.#session.backoff(attempt, what, error as RegistryError);
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
      const digest = options.digest ?? (typeof source === 'string' ? (await sha256DigestOfFile(source)).digest : sha256Digest(source));
      checkDigest(digest);
      if (options.chunkSize !== undefined && !(Number.isInteger(options.chunkSize) && options.chunkSize > 0)) {
        throw new UsageError(`chunk size ${options.chunkSize} is not a positive integer`, 'pass a chunk size in bytes, e.g. 8388608 (8 MiB)');
      }
      if (await this.hasBlob(digest)) return { digest, size: blob.size, outcome: 'exists' };
      for (let attempt = 0; ; attempt++) {
        try {
          return await uploadBlob(this.#session, this.repository, blob, digest, options);
        } catch (error) {
          if (attempt === 0 && (isTransient(error) || (error instanceof RegistryError && error.kind === 'server'))) {
            this.#session.log(`registry ${this.host}: upload of ${digest} failed (${(error as Error).message}); restarting it once`);
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
      const url = this.#path(`manifests/${reference}`);
      const response = await this.#session.call({ method: 'GET', url, headers: { accept: manifestAccept }, scopes: this.#pull(), what });
      if (response.status === 404) {
        response.body.destroy();
        return undefined;
      }
      const bytes = await this.#session.transport.readBody(response, maxBufferedBody);
      if (response.status !== 200) throw this.#session.statusError({ ...response, body: bytes }, `GET of ${what}`);
      const digest = sha256Digest(bytes);
      if (digestPattern.test(reference) && digest !== reference) throw new RegistryDigestError(this.host, what, reference, digest);
      this.#session.checkDigestHeader(response, digest, what);
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
      for (let attempt = 0; ; attempt++) {
        const response = await this.#session.buffered({
          method: 'PUT',
          url: this.#path(`manifests/${reference}`),
          headers: { 'content-type': type, 'content-length': String(bytes.length) },
          body: bytes,
          scopes: this.#push(),
          what,
        });
        if (response.status === 201) {
          this.#session.checkDigestHeader(response, digest, what);
          return digest;
        }
        const error = this.#session.statusError(response, what);
        // DIGEST_INVALID for a manifest whose digest we computed: the registry read a blob link another client was
        // writing at that moment (Distribution's filesystem driver rewrites link files in place). It passes.
        if (!(error instanceof RegistryDigestError) || attempt >= manifestRetryDelaysMs.length) throw error;
        await sleep(manifestRetryDelaysMs[attempt]!);
      }
    });
  }

  /** Every tag of the repository (following `Link: <...>; rel="next"`); [] when the repository does not exist. */
  listTags(): Promise<string[]> {
    return this.#guard(async () => {
      const what = `tag list of ${this.repository}`;
      const tags: string[] = [];
      let url: string | URL = this.#path('tags/list');
      for (let page = 0; page < 1000; page++) {
        const response = await this.#session.buffered({ method: 'GET', url, scopes: this.#pull(), what });
        if (response.status === 404) return tags;
        if (response.status !== 200) throw this.#session.statusError(response, what);
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
      throw new RegistryProtocolError(this.host, `${what} did not end after 1000 pages`);
    });
  }

  #path(rest: string): string {
    return `/v2/${this.repository}/${rest}`;
  }

  #pull(): string[] {
    return [repositoryScope(this.repository, ['pull'])];
  }

  #push(): string[] {
    return [repositoryScope(this.repository, ['pull', 'push'])];
  }

  /** Runs an operation; every error leaving it has its text scrubbed of the secrets the client knows. */
  async #guard<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (error instanceof Error) {
        const scrub = (text: string) => this.#session.secrets.scrub(text);
        error.message = scrub(error.message);
        if (error.stack) error.stack = scrub(error.stack);
        if (error instanceof ToolchainError) (error as { hint: string }).hint = scrub(error.hint);
      }
      throw error;
    }
  }
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

/**
 * The HTTP session with one registry: finds its origin once (`GET /v2/`, the scheme rule of transport.ts), sends
 * authorized requests (one retry after a 401, see auth.ts), retries GET/HEAD after transient failures, and turns
 * unexpected answers into typed errors. Shared by the client's operations, uploads and downloads.
 */
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Authorizer, Secrets } from './auth.js';
import { findCredentials, type Credentials } from './credentials.js';
import { RegistryDigestError, type RegistryError, RegistryProtocolError, RegistryUnreachableError } from './errors.js';
import { describeFailure, registryErrorDetail } from './failure.js';
import { isLoopbackHost } from './reference.js';
import {
  isPlainHttpPeer,
  maxBufferedBody,
  Transport,
  type BufferedResponse,
  type HttpResponse,
  type Method,
  type StreamingResponse,
} from './transport.js';

export interface SessionOptions {
  env: NodeJS.ProcessEnv;
  /** Explicit credentials; null for anonymous; undefined to look them up in `env`. */
  credentials: Credentials | null | undefined;
  insecure: boolean;
  timeoutMs: number;
  retries: number;
  backoffMs: number;
  log: (line: string) => void;
  ca?: string | Buffer | Array<string | Buffer>;
}

export interface Call {
  method: Method;
  /** A path on the registry's origin, or a URL (an upload Location). */
  url: string | URL;
  headers?: Record<string, string>;
  body?: Buffer | (() => Readable);
  /** Token scopes, e.g. `repository:owner/name:pull`. */
  scopes: readonly string[];
  /** For messages: "pull of blob sha256:... from owner/repo". */
  what: string;
}

/** Network failures worth retrying; a refused connection or an unknown host is final at once. */
const transientCodes = new Set(['ETIMEDOUT', 'ECONNRESET', 'EPIPE', 'EAI_AGAIN', 'ECONNABORTED', 'ERR_NETWORK', 'ERR_STREAM_PREMATURE_CLOSE']);

export function isTransient(error: unknown): boolean {
  return error instanceof RegistryUnreachableError && transientCodes.has(error.code);
}

function retryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

export class RegistrySession {
  /** `host[:port]` */
  readonly host: string;
  readonly transport: Transport;
  readonly secrets = new Secrets();
  readonly log: (line: string) => void;
  readonly retries: number;
  readonly #auth: Authorizer;
  readonly #backoffMs: number;
  readonly #schemes: readonly ('https' | 'http')[];
  #origin?: Promise<string>;
  #credentials?: Promise<Credentials | undefined>;

  constructor(host: string, options: SessionOptions) {
    this.host = host;
    this.retries = Math.max(0, options.retries);
    this.#backoffMs = options.backoffMs;
    this.#schemes = options.insecure || isLoopbackHost(host) ? ['https', 'http'] : ['https'];
    this.log = (line) => options.log(this.secrets.scrub(line));
    this.transport = new Transport({
      registry: host,
      insecure: options.insecure,
      timeoutMs: options.timeoutMs,
      env: options.env,
      ...(options.ca ? { ca: options.ca } : {}),
    });
    this.#auth = new Authorizer({
      registry: host,
      insecure: options.insecure,
      secrets: this.secrets,
      log: this.log,
      credentials: () => this.#lookUpCredentials(options),
      get: (request, registry) => this.#withRetries(() => this.transport.send(request, maxBufferedBody, registry), registry),
    });
  }

  get tokenRequests(): number {
    return this.#auth.tokenRequests;
  }

  /** One authorized exchange, resolved at the response headers: auth retry after a 401, retries for GET/HEAD. */
  async call(call: Call): Promise<StreamingResponse> {
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
        response = await this.transport.open({
          method: call.method,
          url,
          headers: { ...call.headers, ...authorization },
          ...(call.body ? { body: call.body } : {}),
        });
      } catch (error) {
        if (idempotent && attempt < this.retries && isTransient(error)) {
          await this.backoff(attempt++, call.what, error as RegistryError);
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
      if (idempotent && attempt < this.retries && retryableStatus(response.status)) {
        response.body.destroy();
        await this.backoff(attempt++, call.what, String(response.status));
        continue;
      }
      return response;
    }
  }

  /** `call`, with the whole answer read (at most maxBufferedBody bytes). */
  async buffered(call: Call): Promise<BufferedResponse> {
    const response = await this.call(call);
    return { status: response.status, headers: response.headers, url: response.url, body: await this.transport.readBody(response) };
  }

  /** The typed error for an answer the operation did not expect. */
  statusError(response: BufferedResponse, what: string): RegistryError {
    return describeFailure(this.host, response.status, registryErrorDetail(response.body), what);
  }

  /** Reads what is left of an unexpected streamed answer (for its error codes) and returns the typed error. */
  async streamedStatusError(response: StreamingResponse, what: string): Promise<RegistryError> {
    const body = await this.transport.readBody(response).catch(() => Buffer.alloc(0));
    return this.statusError({ ...response, body }, what);
  }

  /** Docker-Content-Digest, when sent, must be the sha256 of the bytes received or sent. */
  checkDigestHeader(response: HttpResponse, digest: string, what: string): void {
    const header = response.headers['docker-content-digest'];
    if (typeof header === 'string' && header !== '' && header !== digest) {
      throw new RegistryDigestError(this.host, `${what} (Docker-Content-Digest)`, digest, header);
    }
  }

  /** The upload URL from Location, relative to the answering request (the spec allows relative and absolute). */
  location(response: HttpResponse, what: string): URL {
    const location = response.headers.location;
    if (!location) throw new RegistryProtocolError(this.host, `registry ${this.host} sent no Location for ${what}`, response.status);
    return new URL(location, response.url);
  }

  async backoff(attempt: number, what: string, why: RegistryError | string): Promise<void> {
    const delay = Math.min(this.#backoffMs * 2 ** attempt, 8_000);
    this.log(`registry ${this.host}: ${what}: ${typeof why === 'string' ? why : why.message}; retrying in ${delay} ms`);
    await sleep(delay);
  }

  async #lookUpCredentials(options: SessionOptions): Promise<Credentials | undefined> {
    this.#credentials ??=
      options.credentials === null
        ? Promise.resolve(undefined)
        : options.credentials !== undefined
          ? Promise.resolve(options.credentials)
          : findCredentials(this.host, options.env, this.log).then((found) => {
              if (found) this.log(`registry ${this.host}: credentials of user "${found.username}" from ${found.source}`);
              return found;
            });
    const found = await this.#credentials;
    this.secrets.add(found?.password);
    return found && { username: found.username, password: found.password };
  }

  /** The registry's origin (`https://host:port`), found once; a failure lets a later operation try again. */
  #originOnce(): Promise<string> {
    this.#origin ??= this.#probe().catch((error: unknown) => {
      this.#origin = undefined;
      throw error;
    });
    return this.#origin;
  }

  async #probe(): Promise<string> {
    for (const [index, scheme] of this.#schemes.entries()) {
      const origin = `${scheme}://${this.host}`;
      try {
        const response = await this.#withRetries(() => this.transport.send({ method: 'GET', url: new URL('/v2/', origin) }), this.host);
        if (response.status === 401) this.#auth.learn(response.headers['www-authenticate']);
        else if (response.status !== 200) throw this.statusError(response, 'GET /v2/');
        if (scheme === 'http') this.log(`registry ${this.host}: does not speak TLS; using plain HTTP`);
        return origin;
      } catch (error) {
        if (index + 1 < this.#schemes.length && isPlainHttpPeer(error)) continue;
        throw error;
      }
    }
    throw new Error('RegistrySession: no scheme to try');
  }

  /** Retries `exchange` (a GET) after transient network failures and 408/429/5xx answers. */
  async #withRetries(exchange: () => Promise<BufferedResponse>, registry: string): Promise<BufferedResponse> {
    for (let attempt = 0; ; attempt++) {
      let response: BufferedResponse;
      try {
        response = await exchange();
      } catch (error) {
        const typed = this.transport.networkError(error, registry);
        if (attempt < this.retries && isTransient(typed)) {
          await this.backoff(attempt, registry, typed);
          continue;
        }
        throw typed;
      }
      if (attempt < this.retries && retryableStatus(response.status)) {
        await this.backoff(attempt, registry, String(response.status));
        continue;
      }
      return response;
    }
  }
}

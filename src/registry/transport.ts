/**
 * One HTTP exchange with a registry over got, as a stream: no retries, no auth (the client does both), every network
 * failure turned into a typed RegistryError built from the error's code only (got's errors carry the request options,
 * headers included, so they are never passed on, not even as `cause`).
 *
 * Scheme rule (the README's "Share builds" says it to users): HTTPS with certificate checks. A loopback host (`localhost`,
 * 127.0.0.0/8, `::1`) or any host with `insecure` falls back to plain HTTP when the server does not speak TLS at all
 * (the handshake fails with a protocol error); a certificate error never falls back. `insecure` also turns the
 * certificate checks off (like docker's --insecure-registry).
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import got, { type Request as GotRequest } from 'got';
import { agentsFor } from '../fetch/proxy.js';
import { RegistryError, RegistryProtocolError, RegistryTlsError, RegistryUnreachableError } from './errors.js';

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH';

export interface HttpRequest {
  method: Method;
  url: URL;
  headers?: Record<string, string>;
  /** A Buffer, or a factory for a fresh stream (a request may be sent again after a 401). */
  body?: Buffer | (() => Readable);
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** After redirects. */
  url: URL;
}

export interface StreamingResponse extends HttpResponse {
  /** The body; destroy it if it is not read. Errors on it are got errors: pass them through `networkError`. */
  body: GotRequest;
}

export interface BufferedResponse extends HttpResponse {
  body: Buffer;
}

export interface TransportOptions {
  /** `host[:port]`, for error messages. */
  registry: string;
  insecure: boolean;
  timeoutMs: number;
  /** For proxies (HTTPS_PROXY, NO_PROXY, ...). */
  env: NodeJS.ProcessEnv;
  /** Replaces the trust store (tests, private CAs); normally unset so NODE_EXTRA_CA_CERTS applies. */
  ca?: string | Buffer | Array<string | Buffer>;
}

export const userAgent = 'wsgi-httpd (+https://www.npmjs.com/package/wsgi-httpd)';

/** Error answers and JSON documents are read whole, up to this size (the spec's manifest limit is 4 MiB). */
export const maxBufferedBody = 4 * 1024 * 1024;

export class Transport {
  readonly options: TransportOptions;
  constructor(options: TransportOptions) {
    this.options = options;
  }

  /** Sends the request and resolves at the response headers. `registry` names the peer in errors (a token realm). */
  async open(request: HttpRequest, registry = this.options.registry): Promise<StreamingResponse> {
    const { timeoutMs, env, ca, insecure } = this.options;
    const idempotent = request.method === 'GET' || request.method === 'HEAD';
    // got's stream waits for a request body to be written unless one is given: POST/PUT/PATCH always get one.
    const body =
      request.body === undefined ? (idempotent ? undefined : Buffer.alloc(0)) : Buffer.isBuffer(request.body) ? request.body : request.body();
    const stream = got.stream(request.url, {
      method: request.method,
      headers: { 'user-agent': userAgent, 'accept-encoding': 'identity', ...request.headers },
      ...(body !== undefined ? { body } : {}),
      throwHttpErrors: false,
      retry: { limit: 0 },
      decompress: false,
      followRedirect: idempotent,
      timeout: { lookup: timeoutMs, connect: timeoutMs, secureConnect: timeoutMs, socket: timeoutMs, response: timeoutMs },
      agent: agentsFor(request.url, env, { connectTimeout: timeoutMs }) ?? {},
      https: { ...(ca !== undefined ? { certificateAuthority: ca } : {}), rejectUnauthorized: !insecure },
      hooks: {
        beforeRedirect: [
          (options) => {
            // A redirect (blob storage) may cross from a proxied host to a NO_PROXY one, or the reverse.
            options.agent = agentsFor(options.url as URL, env, { connectTimeout: timeoutMs }) ?? {};
            // got drops Authorization when the host or port changes; also when https turns into http.
            if ((options.url as URL).protocol !== request.url.protocol) delete options.headers.authorization;
          },
        ],
      },
    });
    // Errors before a response reject the promise below; afterwards the reader of `body` sees them.
    stream.on('error', () => {});
    try {
      const response = await new Promise<IncomingMessage>((resolve, reject) => {
        stream.once('response', resolve);
        stream.once('error', reject);
      });
      return { status: response.statusCode ?? 0, headers: response.headers, url: new URL(stream.redirectUrls.at(-1) ?? request.url), body: stream };
    } catch (error) {
      stream.destroy();
      if (body !== undefined && !Buffer.isBuffer(body)) body.destroy();
      throw this.networkError(error, registry);
    }
  }

  /** Sends the request and reads the whole answer (at most maxBufferedBody bytes; HEAD answers are empty). */
  async send(request: HttpRequest, limit = maxBufferedBody, registry = this.options.registry): Promise<BufferedResponse> {
    const response = await this.open(request, registry);
    const body = await this.readBody(response, limit, registry);
    return { status: response.status, headers: response.headers, url: response.url, body };
  }

  async readBody(response: StreamingResponse, limit = maxBufferedBody, registry = this.options.registry): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of response.body) {
        size += (chunk as Buffer).length;
        if (size > limit) {
          response.body.destroy();
          throw new RegistryProtocolError(
            registry,
            `answer from ${registry} to ${response.url.pathname} is larger than ${limit} bytes`,
            response.status,
          );
        }
        chunks.push(chunk as Buffer);
      }
    } catch (error) {
      throw error instanceof RegistryError ? error : this.networkError(error, registry);
    }
    return Buffer.concat(chunks);
  }

  /** A got/network error as a typed RegistryError, from its code only. */
  networkError(error: unknown, registry = this.options.registry): RegistryError {
    if (error instanceof RegistryError) return error;
    const e = error as { code?: string; name?: string; event?: string; message?: string };
    if (e?.name === 'TimeoutError')
      return new RegistryUnreachableError(registry, 'ETIMEDOUT', `no answer within ${this.options.timeoutMs} ms (${e.event ?? 'request'})`);
    const code = e?.code && e.code !== 'ERR_GOT_REQUEST_ERROR' ? e.code : 'ERR_NETWORK';
    if (isTlsCode(code)) return new RegistryTlsError(registry, code, tlsDetail(e?.message));
    return new RegistryUnreachableError(registry, code);
  }
}

/** Error codes of a failed TLS handshake or certificate check. */
function isTlsCode(code: string): boolean {
  return /^(EPROTO|ERR_SSL_|ERR_TLS_|CERT_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_(GET|VERIFY|DECRYPT)|HOSTNAME_MISMATCH)/.test(
    code,
  );
}

/** OpenSSL's reason, when it is one of the fixed phrases we know (never free text from the peer). */
function tlsDetail(message: string | undefined): string | undefined {
  const known =
    /(self[- ]signed certificate(?: in certificate chain)?|unable to verify the first certificate|unable to get local issuer certificate|certificate has expired|wrong version number|packet length too long|Hostname\/IP does not match certificate's altnames)/i.exec(
      message ?? '',
    );
  return known?.[1];
}

/** The TLS handshake failed because the peer answered in plain text: it is an HTTP server, so HTTP may be tried. */
export function isPlainHttpPeer(error: unknown): boolean {
  if (!(error instanceof RegistryTlsError)) return false;
  return (
    error.code === 'ERR_SSL_WRONG_VERSION_NUMBER' ||
    error.code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG' ||
    /wrong version number|packet length too long/i.test(error.message)
  );
}

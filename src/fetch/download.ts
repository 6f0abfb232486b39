/**
 * One verified download: a chain of URLs tried in order, streamed into `<dest>.partial` while hashing, renamed to
 * `dest` only when the sha256 matches.
 *
 * Policy:
 * - 404/410 (and other 4xx except 408/429/416): that URL is given up at once, the next URL is tried.
 * - network errors, timeouts, 408/429/5xx, short bodies: retried on the same URL with exponential backoff, at most
 *   `retries` times per URL; a retry resumes the partial file with `Range: bytes=N-` (a 200 answer restarts from 0).
 * - checksum mismatch: the partial is deleted; the same URL is retried once from zero only when the bad bytes came
 *   from a resumed transfer (the old partial may have been the bad part), otherwise the next URL is tried (a bad
 *   mirror must not block the archive). If every URL fails and at least one of them served wrong bytes, the error is
 *   a ChecksumError (exit code 5), else a DownloadError; both list every URL and its outcomes.
 * - a partial left by network failures is kept, so a later run resumes it (it is never used unverified).
 * - a failure to write the cache (disk full, read-only, permissions) stops at once, as a FileSystemError (exit 9)
 *   when the OS said why (fromSystemError), else a CacheWriteError: no other source would help.
 */
import { createHash, type Hash } from 'node:crypto';
import { constants, createWriteStream } from 'node:fs';
import { lstat, mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import got, { type Agents, type Request as GotRequest } from 'got';
import type { IncomingMessage } from 'node:http';
import { ChecksumError, DownloadError, fromSystemError } from '../errors.js';
import { hashInto } from './hash.js';
import { agentsFor, proxyRequest } from './proxy.js';

export interface DownloadAttempt {
  url: string;
  /** "ok", "404", "503", "checksum mismatch", "ECONNRESET", "idle timeout", "short body", "restart (server ignored Range)", ... */
  outcome: string;
}

export interface DownloadProgress {
  url: string;
  transferred: number;
  total?: number;
}

export interface DownloadTimeouts {
  /** TCP (and proxy CONNECT) connect, ms. Default 30 s. */
  connect?: number;
  /** From request sent to response headers, ms. Default 60 s. */
  response?: number;
  /** Longest silence while reading the body, ms. Default 60 s. There is no overall limit. */
  idle?: number;
}

export interface DownloadOptions {
  urls: string[];
  sha256: string;
  dest: string;
  onAttempt?: (attempt: DownloadAttempt) => void;
  onProgress?: (progress: DownloadProgress) => void;
  signal?: AbortSignal;
  /** Retries per URL for transient failures (default 3, i.e. up to 4 attempts). */
  retries?: number;
  timeouts?: DownloadTimeouts;
  /** First backoff delay in ms, doubled per retry (with jitter) up to maxBackoffMs. Default 1000. */
  backoffMs?: number;
  /** Default 20000. Also caps a server's Retry-After. */
  maxBackoffMs?: number;
  /** Environment for proxy resolution (HTTPS_PROXY, HTTP_PROXY, NO_PROXY). Default process.env. */
  env?: NodeJS.ProcessEnv;
  /**
   * PEM certificate authorities that REPLACE Node's trust store for this download (tests, private mirrors). Leave
   * unset normally: Node's store plus NODE_EXTRA_CA_CERTS is used, also through proxy tunnels.
   */
  ca?: string | Buffer | Array<string | Buffer>;
}

export interface DownloadResult {
  url: string;
  bytes: number;
}

const userAgent = 'wsgi-httpd (+https://www.npmjs.com/package/wsgi-httpd)';

/** Groups attempts by URL, in first-tried order: "  URL: 503, 503, ok". */
export function formatAttempts(attempts: readonly DownloadAttempt[]): string {
  const byUrl = new Map<string, string[]>();
  for (const attempt of attempts) {
    const list = byUrl.get(attempt.url) ?? [];
    list.push(attempt.outcome);
    byUrl.set(attempt.url, list);
  }
  return [...byUrl].map(([url, outcomes]) => `  ${url}: ${outcomes.join(', ')}`).join('\n');
}

export const downloadHint =
  'check the network (behind a proxy set HTTPS_PROXY / HTTP_PROXY, and NO_PROXY for hosts to reach directly); ' +
  'or pass --mirror URL for a reachable mirror with the upstream layout; ' +
  'or run `wsgi-toolchain fetch` on a machine that has access and pass the files with --sources DIR';

export const tlsHint = 'a certificate was refused: behind a TLS-inspecting proxy, point NODE_EXTRA_CA_CERTS at its CA certificate (PEM)';

type AttemptResult =
  | { kind: 'ok'; bytes: number }
  | { kind: 'next'; outcome: string }
  | { kind: 'retry'; outcome: string; retryAfterMs?: number; madeProgress: boolean }
  | { kind: 'mismatch'; actual: string; resumed: boolean };

/** Writing into the cache failed: `path` and `action` say what for the message ("write to", "save"). */
class FatalWriteError extends Error {
  readonly path: string;
  readonly action: string;
  constructor(path: string, action: string, cause: Error) {
    super(`cannot ${action} ${path}: ${cause.message}`, { cause });
    this.path = path;
    this.action = action;
  }
}

/** The download worked but the file could not be written (disk full, permissions): no other source will help. */
export class CacheWriteError extends DownloadError {}

function errorOutcome(error: unknown): string {
  const e = error as { code?: string; message?: string; name?: string };
  if (e?.name === 'TimeoutError' && e.message) {
    const event = /timeout of \d+ms exceeded for (\w+)|Timeout awaiting '(\w+)'/.exec(e.message);
    return `timeout (${event?.[1] ?? event?.[2] ?? 'request'})`;
  }
  // A proxy's refusal says more than its code (EPROXY): "proxy p:3128 refused CONNECT host:443 with HTTP 407".
  if (e?.code === 'EPROXY' && e.message) return e.message;
  if (e?.code && e.code !== 'ERR_GOT_REQUEST_ERROR') return e.code;
  return e?.message ?? String(error);
}

function isTlsFailure(outcome: string): boolean {
  return /CERT|SELF_SIGNED|ERR_TLS|ERR_SSL|UNABLE_TO_(GET|VERIFY)/.test(outcome);
}

function parseRetryAfter(value: string | undefined): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** Bytes of a partial to resume (0 for anything but a regular file: a link there is never read or written through). */
async function sizeOf(path: string): Promise<number> {
  try {
    const st = await lstat(path);
    return st.isFile() ? st.size : 0;
  } catch {
    return 0;
  }
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? Object.assign(new Error('aborted'), { name: 'AbortError' });
}

export async function downloadVerified(opts: DownloadOptions): Promise<DownloadResult> {
  const expected = opts.sha256.toLowerCase();
  const file = basename(opts.dest);
  const partial = `${opts.dest}.partial`;
  const retries = Math.max(0, opts.retries ?? 3);
  const backoffMs = opts.backoffMs ?? 1000;
  const maxBackoffMs = opts.maxBackoffMs ?? 20_000;
  const timeouts = { connect: 30_000, response: 60_000, idle: 60_000, ...opts.timeouts };
  const env = opts.env ?? process.env;
  const attempts: DownloadAttempt[] = [];
  let lastMismatch: string | undefined;
  let sawTlsFailure = false;

  const report = (url: string, outcome: string) => {
    const attempt = { url, outcome };
    attempts.push(attempt);
    opts.onAttempt?.(attempt);
  };

  if (opts.urls.length === 0) {
    throw new DownloadError(`no URL to download ${file} from`, downloadHint);
  }
  try {
    await mkdir(dirname(opts.dest), { recursive: true });
  } catch (error) {
    throw fromSystemError(error) ?? error;
  }

  const attempt = async (url: string): Promise<AttemptResult> => {
    let start = await sizeOf(partial);
    let hash: Hash = createHash('sha256');
    if (start > 0) hash = await hashInto(hash, partial, opts.signal);

    let agents: Agents | undefined;
    try {
      agents = agentsFor(url, env, { connectTimeout: timeouts.connect });
    } catch (error) {
      return { kind: 'next', outcome: (error as Error).message };
    }
    const stream: GotRequest = got.stream(url, {
      decompress: false,
      throwHttpErrors: false,
      retry: { limit: 0 },
      timeout: { connect: timeouts.connect, response: timeouts.response },
      headers: {
        'user-agent': userAgent,
        'accept-encoding': 'identity',
        ...(start > 0 ? { range: `bytes=${start}-` } : {}),
      },
      agent: agents ?? {},
      request: proxyRequest(env),
      signal: opts.signal,
      https: opts.ca ? { certificateAuthority: opts.ca } : {},
      hooks: {
        beforeRedirect: [
          (options) => {
            // A redirect may cross from a proxied host to a NO_PROXY one, or the reverse.
            options.agent = agentsFor(options.url as URL, env, { connectTimeout: timeouts.connect }) ?? {};
            const range = start > 0 ? `bytes=${start}-` : undefined;
            if (range) options.headers.range = range;
          },
        ],
      },
    });
    // Errors before a response are delivered through this promise; afterwards through the pipeline.
    stream.on('error', () => {});

    let response: IncomingMessage;
    try {
      response = await new Promise<IncomingMessage>((resolve, reject) => {
        stream.once('response', resolve);
        stream.once('error', reject);
      });
    } catch (error) {
      stream.destroy();
      if (opts.signal?.aborted) throw abortReason(opts.signal);
      const outcome = errorOutcome(error);
      if (isTlsFailure(outcome)) {
        sawTlsFailure = true;
        return { kind: 'next', outcome }; // a certificate problem does not go away by retrying
      }
      return { kind: 'retry', outcome, madeProgress: false };
    }

    const status = response.statusCode ?? 0;
    const release = () => stream.destroy();
    if (status === 404 || status === 410) {
      release();
      return { kind: 'next', outcome: String(status) };
    }
    if (status === 408 || status === 429 || status >= 500) {
      release();
      return { kind: 'retry', outcome: String(status), retryAfterMs: parseRetryAfter(response.headers['retry-after']), madeProgress: false };
    }
    if (status === 416) {
      // Our partial is not a prefix the server can continue (too long, or the file changed): start over.
      release();
      await rm(partial, { force: true });
      return { kind: 'retry', outcome: '416 (restarting from zero)', madeProgress: true };
    }
    if (status !== 200 && status !== 206) {
      release();
      return { kind: 'next', outcome: String(status) };
    }

    let restarted = false;
    if (status === 206) {
      const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(response.headers['content-range'] ?? ''));
      if (start === 0 || !range || Number(range[1]) !== start) {
        release();
        await rm(partial, { force: true });
        return { kind: 'retry', outcome: `206 with unexpected Content-Range ${response.headers['content-range'] ?? '(none)'}`, madeProgress: true };
      }
    } else if (start > 0) {
      // 200 to a Range request: the server sends the whole file; restart cleanly from zero.
      restarted = true;
      start = 0;
      hash = createHash('sha256');
    }
    const resumed = start > 0;
    const lengthHeader = response.headers['content-length'];
    const contentLength = lengthHeader !== undefined && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
    const total = contentLength !== undefined ? start + contentLength : undefined;

    let received = 0;
    let idleFired = false;
    let idleTimer: NodeJS.Timeout | undefined;
    const armIdle = () => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(() => {
        idleFired = true;
        stream.destroy(Object.assign(new Error(`no data for ${timeouts.idle} ms`), { code: 'EIDLETIMEOUT' }));
      }, timeouts.idle);
    };
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        armIdle();
        hash.update(chunk);
        received += chunk.length;
        opts.onProgress?.({ url, transferred: start + received, total });
        callback(null, chunk);
      },
    });
    // The partial keeps one name so a later run can resume it; it is never written through a link planted there
    // (open(2) flags as a number: Node passes them through, its types only list the string forms).
    const flags = (resumed ? constants.O_APPEND : constants.O_CREAT | constants.O_TRUNC) | constants.O_WRONLY | constants.O_NOFOLLOW;
    const out = createWriteStream(partial, { flags: flags as unknown as string });
    let writeFailed: Error | undefined;
    out.on('error', (error) => (writeFailed = error));
    armIdle();
    try {
      await pipeline(stream, meter, out);
    } catch (error) {
      if (writeFailed) throw new FatalWriteError(partial, 'write to', writeFailed);
      if (opts.signal?.aborted) throw abortReason(opts.signal);
      let outcome = idleFired ? 'idle timeout' : errorOutcome(error);
      if (!idleFired && contentLength !== undefined && received < contentLength) {
        outcome = `short body (${received} of ${contentLength} bytes: ${outcome})`;
      }
      return { kind: 'retry', outcome: restarted ? `${outcome} (after restart: server ignored Range)` : outcome, madeProgress: received > 0 };
    } finally {
      clearTimeout(idleTimer);
    }
    if (contentLength !== undefined && received !== contentLength) {
      return { kind: 'retry', outcome: `short body (${received} of ${contentLength} bytes)`, madeProgress: received > 0 };
    }

    const actual = hash.digest('hex');
    if (actual !== expected) {
      await rm(partial, { force: true });
      return { kind: 'mismatch', actual, resumed };
    }
    try {
      const handle = await open(partial, 'r+');
      try {
        await handle.datasync();
      } finally {
        await handle.close();
      }
      await rename(partial, opts.dest);
    } catch (error) {
      throw new FatalWriteError(opts.dest, 'save', error as Error);
    }
    return { kind: 'ok', bytes: start + received };
  };

  for (const url of opts.urls) {
    let failures = 0;
    let retriedMismatch = false;
    for (;;) {
      if (opts.signal?.aborted) throw abortReason(opts.signal);
      let result: AttemptResult;
      try {
        result = await attempt(url);
      } catch (error) {
        if (opts.signal?.aborted) throw abortReason(opts.signal);
        if (error instanceof FatalWriteError) {
          report(url, 'write failed');
          const known = fromSystemError(error.cause, { path: error.path, action: error.action });
          if (known) throw known;
          throw new CacheWriteError(
            `could not save ${file}: ${error.message}`,
            `free disk space or fix permissions under ${dirname(opts.dest)} (or set WSGI_HTTPD_CACHE_DIR to another directory)`,
            { cause: error },
          );
        }
        result = { kind: 'retry', outcome: errorOutcome(error), madeProgress: false };
      }
      if (result.kind === 'ok') {
        report(url, 'ok');
        return { url, bytes: result.bytes };
      }
      if (result.kind === 'next') {
        report(url, result.outcome);
        break;
      }
      if (result.kind === 'mismatch') {
        report(url, 'checksum mismatch');
        lastMismatch = result.actual;
        if (result.resumed && !retriedMismatch) {
          retriedMismatch = true;
          continue; // the partial from before may have been the bad part: once more from zero
        }
        break;
      }
      report(url, result.outcome);
      failures++;
      if (failures > retries) break;
      const exponential = Math.min(maxBackoffMs, backoffMs * 2 ** (failures - 1));
      const jittered = exponential / 2 + Math.random() * (exponential / 2);
      const delay = Math.min(maxBackoffMs, Math.max(jittered, result.retryAfterMs ?? 0));
      try {
        await sleep(delay, undefined, { signal: opts.signal });
      } catch {
        throw abortReason(opts.signal!);
      }
    }
  }

  const tried = formatAttempts(attempts);
  if (lastMismatch !== undefined) {
    throw new ChecksumError(
      file,
      expected,
      lastMismatch,
      `no source served the published file; nothing was kept. Sources tried:\n${tried}\n` +
        'A mirror may be stale or tampered with: try another --mirror, or fetch the file yourself, check it, and pass --sources DIR',
    );
  }
  throw new DownloadError(
    `could not download ${file} (sha256 ${expected}); every source failed:\n${tried}`,
    sawTlsFailure ? `${tlsHint}; ${downloadHint}` : downloadHint,
  );
}

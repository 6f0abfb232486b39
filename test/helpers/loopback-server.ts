import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { join, normalize } from 'node:path';
import type { AddressInfo, Socket } from 'node:net';

/** A handler may answer a request itself (fault injection); returning false falls through to static files. */
export type Handler = (req: IncomingMessage, res: ServerResponse, hit: number) => boolean | Promise<boolean>;

export interface LoopbackServer {
  url: string;
  port: number;
  /** Every request seen, in order: "GET /path". */
  requests: string[];
  /** The headers of each request, parallel to `requests` (e.g. to check that a Range was sent). */
  requestHeaders: IncomingHttpHeaders[];
  close(): Promise<void>;
}

/**
 * Serves files under root on 127.0.0.1 (a free port), with optional per-path handlers for faults. It closes by itself
 * after `lifetimeMs` so a test that forgets it cannot hang the suite.
 */
export async function startLoopbackServer(
  options: { root?: string; handlers?: Record<string, Handler>; lifetimeMs?: number } = {},
): Promise<LoopbackServer> {
  const requests: string[] = [];
  const requestHeaders: IncomingHttpHeaders[] = [];
  const hits = new Map<string, number>();
  const sockets = new Set<Socket>();
  const server: Server = createServer(async (req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    requests.push(`${req.method} ${path}`);
    requestHeaders.push(req.headers);
    const hit = (hits.get(path) ?? 0) + 1;
    hits.set(path, hit);
    const handler = options.handlers?.[path];
    if (handler && (await handler(req, res, hit))) return;
    if (!options.root) return void res.writeHead(404).end('not found');
    const file = join(options.root, normalize(path).replace(/^(\.\.[/\\])+/, ''));
    let size: number;
    try {
      const stat = statSync(file);
      if (!stat.isFile()) throw new Error('not a file');
      size = stat.size;
    } catch {
      return void res.writeHead(404).end('not found');
    }
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range && Number(range[1]) < size) {
      const start = Number(range[1]);
      res.writeHead(206, { 'content-length': size - start, 'content-range': `bytes ${start}-${size - 1}/${size}` });
      createReadStream(file, { start }).pipe(res);
      return;
    }
    res.writeHead(200, { 'content-length': size, 'accept-ranges': 'bytes' });
    createReadStream(file).pipe(res);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  let closed = false;
  const close = () =>
    new Promise<void>((resolve) => {
      if (closed) return resolve();
      closed = true;
      clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
  const timer = setTimeout(() => void close(), options.lifetimeMs ?? 120_000);
  timer.unref();
  return { url: `http://127.0.0.1:${port}`, port, requests, requestHeaders, close };
}

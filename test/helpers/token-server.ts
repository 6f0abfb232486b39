/**
 * A Bearer token service on 127.0.0.1 for distribution's `auth: token`: it checks Basic credentials, grants the
 * requested repository actions to a known user (nothing to anonymous callers), and signs a JWT (RS256) with a
 * throwaway key whose self-signed certificate is the registry's `rootcertbundle` (the token names it in `x5c`).
 * It records every request, so tests can see the scopes asked for, the credentials sent and how often tokens were
 * fetched. It closes by itself after `lifetimeMs`.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes, sign, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';

export interface TokenRequest {
  /** The Authorization header as sent (tests decode it; never log it). */
  authorization?: string;
  service?: string;
  scopes: string[];
  status: number;
}

export interface TokenServer {
  /** The realm URL to configure in the registry. */
  realm: string;
  service: string;
  issuer: string;
  /** Certificate of the signing key: the registry's rootcertbundle. */
  certFile: string;
  requests: TokenRequest[];
  /** Every token issued. */
  issued: string[];
  close(): Promise<void>;
}

const base64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

export async function startTokenServer(options: {
  dir: string;
  users: Record<string, string>;
  service?: string;
  issuer?: string;
  expiresInS?: number;
  lifetimeMs?: number;
}): Promise<TokenServer> {
  const keyFile = join(options.dir, 'token-signer.key');
  const certFile = join(options.dir, 'token-signer.crt');
  const made = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '2',
      '-subj',
      '/CN=wsgi-httpd test token signer',
    ],
    { encoding: 'utf8', timeout: 30_000 },
  );
  if (made.status !== 0) throw new Error(`openssl could not make the token signing key: ${made.stderr}`);
  const key = await readFile(keyFile, 'utf8');
  const x5c = new X509Certificate(await readFile(certFile)).raw.toString('base64');
  const service = options.service ?? 'wsgi-httpd-test-registry';
  const issuer = options.issuer ?? 'wsgi-httpd-test-issuer';
  const requests: TokenRequest[] = [];
  const issued: string[] = [];

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const scopes = url.searchParams
      .getAll('scope')
      .flatMap((s) => s.split(' '))
      .filter((s) => s !== '');
    const record: TokenRequest = {
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      ...(url.searchParams.has('service') ? { service: url.searchParams.get('service')! } : {}),
      scopes,
      status: 200,
    };
    requests.push(record);
    const answer = (status: number, body: object) => {
      record.status = status;
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (url.pathname !== '/token') return answer(404, { errors: [{ code: 'NOT_FOUND' }] });
    let subject = '';
    if (req.headers.authorization) {
      const basic = /^Basic (.+)$/.exec(req.headers.authorization);
      const decoded = basic ? Buffer.from(basic[1]!, 'base64').toString('utf8') : '';
      const colon = decoded.indexOf(':');
      const [user, password] = [decoded.slice(0, colon), decoded.slice(colon + 1)];
      if (colon <= 0 || options.users[user] !== password) return answer(401, { errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] });
      subject = user;
    }
    const access = subject
      ? scopes.map((scope) => {
          const parts = scope.split(':');
          return { type: parts[0], name: parts.slice(1, -1).join(':'), actions: parts.at(-1)!.split(',') };
        })
      : [];
    const now = Math.floor(Date.now() / 1000);
    const expiresIn = options.expiresInS ?? 300;
    const header = { typ: 'JWT', alg: 'RS256', x5c: [x5c] };
    const claims = {
      iss: issuer,
      sub: subject,
      aud: service,
      exp: now + expiresIn,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(8).toString('hex'),
      access,
    };
    const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    const token = `${input}.${base64url(sign('sha256', Buffer.from(input), key))}`;
    issued.push(token);
    answer(200, { token, access_token: token, expires_in: expiresIn, issued_at: new Date(now * 1000).toISOString() });
  });
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  let closed = false;
  const close = () =>
    new Promise<void>((resolve) => {
      if (closed) return resolve();
      closed = true;
      clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
  const timer = setTimeout(() => void close(), options.lifetimeMs ?? 15 * 60_000);
  timer.unref();
  return { realm: `http://127.0.0.1:${port}/token`, service, issuer, certFile, requests, issued, close };
}

/**
 * Proxy support without a dependency: a per-URL resolver for HTTPS_PROXY / HTTP_PROXY / ALL_PROXY / NO_PROXY (lower
 * case wins over upper case, as curl and proxy-from-env do), an agent that tunnels https through CONNECT, and an agent
 * that forwards plain http with an absolute request URI. TLS to the origin is done by tls.connect without a `ca`
 * unless one is passed, so NODE_EXTRA_CA_CERTS and the system store keep working.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';

const defaultPorts: Record<string, number> = { 'http:': 80, 'https:': 443, 'ftp:': 21 };

function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name.toLowerCase()] ?? env[name.toUpperCase()];
  return value && value.trim() !== '' ? value.trim() : undefined;
}

function ipv4ToNumber(ip: string): number | undefined {
  if (net.isIPv4(ip) === false) return undefined;
  return ip.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
}

/**
 * NO_PROXY semantics: entries separated by commas or spaces; `*` disables the proxy for everything; `host` matches the
 * host and its subdomains; `.host` and `*.host` match the same; `host:port` also requires the port; IPv4 `a.b.c.d/n`
 * matches a CIDR range; IPv6 literals may be written with or without brackets. Comparison is case-insensitive.
 */
export function isNoProxy(url: URL, noProxy: string | undefined): boolean {
  if (!noProxy) return false;
  const host = url.hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  const port = url.port ? Number(url.port) : defaultPorts[url.protocol];
  for (const raw of noProxy.split(/[\s,]+/)) {
    let entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === '*') return true;
    let entryPort: number | undefined;
    const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
    if (bracketed) {
      entry = bracketed[1]!;
      if (bracketed[2]) entryPort = Number(bracketed[2]);
    } else if (!net.isIPv6(entry)) {
      const withPort = /^(.*):(\d+)$/.exec(entry);
      if (withPort) {
        entry = withPort[1]!;
        entryPort = Number(withPort[2]);
      }
    }
    if (entryPort !== undefined && entryPort !== port) continue;
    const cidr = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(entry);
    if (cidr) {
      const base = ipv4ToNumber(cidr[1]!);
      const target = ipv4ToNumber(host);
      const bits = Number(cidr[2]);
      if (base === undefined || target === undefined || bits > 32) continue;
      const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
      if ((base & mask) >>> 0 === (target & mask) >>> 0) return true;
      continue;
    }
    entry = entry.replace(/^\*?\./, '');
    if (!entry) continue;
    if (host === entry || host.endsWith(`.${entry}`)) return true;
  }
  return false;
}

/** The proxy to use for this URL, or undefined for a direct connection. */
export function proxyForUrl(target: string | URL, env: NodeJS.ProcessEnv = process.env): URL | undefined {
  const url = typeof target === 'string' ? new URL(target) : target;
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (isNoProxy(url, envValue(env, 'no_proxy'))) return undefined;
  const scheme = url.protocol.slice(0, -1);
  const raw = envValue(env, `${scheme}_proxy`) ?? envValue(env, 'all_proxy');
  if (!raw) return undefined;
  let proxy: URL;
  try {
    proxy = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`);
  } catch {
    throw new TypeError(`${scheme}_proxy is not a valid URL: ${raw}`);
  }
  if (proxy.protocol !== 'http:' && proxy.protocol !== 'https:') {
    throw new TypeError(`unsupported proxy scheme ${proxy.protocol} in ${scheme}_proxy (only http:// and https:// proxies)`);
  }
  return proxy;
}

function proxyAuthorization(proxy: URL): string | undefined {
  if (!proxy.username && !proxy.password) return undefined;
  const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
  return `Basic ${Buffer.from(credentials).toString('base64')}`;
}

function proxyPort(proxy: URL): number {
  return proxy.port ? Number(proxy.port) : defaultPorts[proxy.protocol]!;
}

function connectToProxy(proxy: URL): net.Socket {
  const host = proxy.hostname.replace(/^\[(.*)\]$/, '$1');
  return proxy.protocol === 'https:'
    ? tls.connect({ host, port: proxyPort(proxy), servername: net.isIP(host) ? undefined : host })
    : net.connect({ host, port: proxyPort(proxy) });
}

export class ProxyError extends Error {
  readonly code = 'EPROXY';
  readonly statusCode: number | undefined;
  constructor(message: string, statusCode?: number) {
    super(message);
    this.name = 'ProxyError';
    this.statusCode = statusCode;
  }
}

type ConnectionCallback = (error: Error | null, socket?: Duplex) => void;

/** https through an http(s) proxy: CONNECT host:port, then TLS to the origin inside the tunnel. */
export class HttpsTunnelAgent extends https.Agent {
  readonly proxy: URL;
  readonly connectTimeout: number;
  constructor(proxy: URL, options: { connectTimeout?: number } = {}) {
    super({ keepAlive: false });
    this.proxy = proxy;
    this.connectTimeout = options.connectTimeout ?? 30_000;
  }

  // Node's Agent calls createConnection(options, callback) and waits for the callback when it returns nothing.
  createConnection(options: tls.ConnectionOptions & { host?: string; port?: number }, callback: ConnectionCallback): undefined {
    const host = String(options.host ?? 'localhost').replace(/^\[(.*)\]$/, '$1');
    const port = Number(options.port ?? 443);
    const authority = net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
    const socket = connectToProxy(this.proxy);
    let done = false;
    let buffered = Buffer.alloc(0);
    const finish = (error: Error | null, result?: Duplex) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
      if (error) {
        socket.destroy();
        callback(error);
      } else callback(null, result);
    };
    const timer = setTimeout(
      () => finish(Object.assign(new ProxyError(`proxy ${this.proxy.host} did not open a tunnel to ${authority} in time`), { code: 'ETIMEDOUT' })),
      this.connectTimeout,
    );
    timer.unref?.();
    const onError = (error: Error) => finish(error);
    const onClose = () => finish(new ProxyError(`proxy ${this.proxy.host} closed the connection during CONNECT ${authority}`));
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end === -1) {
        if (buffered.length > 64 * 1024) finish(new ProxyError(`proxy ${this.proxy.host} sent an oversized CONNECT reply`));
        return;
      }
      const statusLine = buffered.subarray(0, buffered.indexOf('\r\n')).toString('latin1');
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
      if (status?.[1] !== '200') {
        const code = status ? Number(status[1]) : undefined;
        finish(new ProxyError(`proxy ${this.proxy.host} refused CONNECT ${authority}: ${statusLine || 'no status line'}`, code));
        return;
      }
      const rest = buffered.subarray(end + 4);
      if (rest.length > 0) socket.unshift(rest);
      socket.pause();
      // `host` stays: with `socket` given it is not connected to, but the certificate is checked against it.
      const { path: _path, ...tlsOptions } = options as tls.ConnectionOptions & { path?: string };
      const secure = tls.connect({
        ...tlsOptions,
        host,
        socket,
        servername: options.servername ?? (net.isIP(host) ? undefined : host),
      });
      finish(null, secure);
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.once(this.proxy.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
      const auth = proxyAuthorization(this.proxy);
      socket.write(
        `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n` +
          (auth ? `Proxy-Authorization: ${auth}\r\n` : '') +
          'Proxy-Connection: close\r\n\r\n',
      );
    });
    return undefined;
  }
}

/** Plain http through a proxy: the request goes to the proxy with the absolute URI as its path. */
export class HttpForwardAgent extends http.Agent {
  readonly proxy: URL;
  constructor(proxy: URL) {
    super({ keepAlive: false });
    this.proxy = proxy;
  }

  addRequest(request: http.ClientRequest, options: http.RequestOptions & { host?: string; port?: number | string }): void {
    const host = String(options.host ?? 'localhost').replace(/^\[(.*)\]$/, '$1');
    const port = Number(options.port ?? 80);
    const authority = (net.isIPv6(host) ? `[${host}]` : host) + (port === 80 ? '' : `:${port}`);
    if (!/^[a-z]+:\/\//i.test(request.path)) request.path = `http://${authority}${request.path}`;
    const auth = proxyAuthorization(this.proxy);
    if (auth) request.setHeader('Proxy-Authorization', auth);
    const proxyHost = this.proxy.hostname.replace(/^\[(.*)\]$/, '$1');
    const proxied = { ...options, host: proxyHost, hostname: proxyHost, port: proxyPort(this.proxy), servername: undefined };
    (http.Agent.prototype as unknown as { addRequest(r: http.ClientRequest, o: object): void }).addRequest.call(this, request, proxied);
  }

  createConnection(options: http.ClientRequestArgs, callback?: (error: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    if (this.proxy.protocol === 'https:') return connectToProxy(this.proxy);
    return (http.Agent.prototype as unknown as { createConnection(o: object, c?: unknown): Duplex }).createConnection.call(this, options, callback);
  }
}

const agentCache = new Map<string, http.Agent>();

/**
 * The agents got should use for this URL (`{http, https}`), or undefined for a direct connection with Node's own
 * agents. One agent per proxy URL and kind, reused across downloads.
 */
export function agentsFor(
  target: string | URL,
  env: NodeJS.ProcessEnv = process.env,
  options: { connectTimeout?: number } = {},
): { http?: http.Agent; https?: https.Agent } | undefined {
  const url = typeof target === 'string' ? new URL(target) : target;
  const proxy = proxyForUrl(url, env);
  if (!proxy) return undefined;
  if (url.protocol === 'https:') {
    const key = `tunnel ${proxy.href} ${options.connectTimeout ?? ''}`;
    let agent = agentCache.get(key) as https.Agent | undefined;
    if (!agent) {
      agent = new HttpsTunnelAgent(proxy, options);
      agentCache.set(key, agent);
    }
    return { https: agent };
  }
  const key = `forward ${proxy.href}`;
  let agent = agentCache.get(key);
  if (!agent) {
    agent = new HttpForwardAgent(proxy);
    agentCache.set(key, agent);
  }
  return { http: agent };
}

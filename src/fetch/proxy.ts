/**
 * Proxy support for got.
 *
 * - Which proxy a URL goes through is decided here, per URL, from an env object the caller passes (process.env by
 *   default): HTTPS_PROXY / HTTP_PROXY / ALL_PROXY (lower case wins over upper case), and NO_PROXY with hosts,
 *   subdomains, `.suffix`, `*`, ports, IPv4 CIDR ranges and IPv6 literals, as curl does. proxy-from-env 2.1.0 was
 *   measured against this file's tests and not adopted: it reads process.env only (no env object), and it fails 4 of
 *   the 23 assertions of test/unit/fetch/proxy.test.ts (no CIDR, `apache.org` does not cover its subdomains, a bare
 *   `::1`, and it lets a socks5:// proxy through).
 * - https targets go through a CONNECT tunnel made by hpagent's HttpsProxyAgent (the agent got's documentation points
 *   at); TLS to the origin is done inside the tunnel by Node's https.Agent with got's options, so the certificate is
 *   checked against Node's store, NODE_EXTRA_CA_CERTS, or the `ca` passed to got.
 * - plain http targets are sent to the proxy in absolute form (`GET http://host/path`), as curl and squid expect
 *   (squid's default configuration refuses CONNECT to port 80, which is what hpagent's HttpProxyAgent would send).
 *   That goes through got's public `request` option and Node's http.request: no agent internals are overridden.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Agents, RequestFunction } from 'got';
import { HttpsProxyAgent } from 'hpagent';

const defaultPorts: Record<string, number> = { 'http:': 80, 'https:': 443, 'ftp:': 21 };

function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name.toLowerCase()] ?? env[name.toUpperCase()];
  return value && value.trim() !== '' ? value.trim() : undefined;
}

function ipv4ToNumber(ip: string): number | undefined {
  if (net.isIPv4(ip) === false) return undefined;
  return ip.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
}

function unbracket(host: string): string {
  return host.replace(/^\[(.*)\]$/, '$1');
}

/**
 * NO_PROXY semantics: entries separated by commas or spaces; `*` disables the proxy for everything; `host` matches the
 * host and its subdomains; `.host` and `*.host` match the same; `host:port` also requires the port; IPv4 `a.b.c.d/n`
 * matches a CIDR range; IPv6 literals may be written with or without brackets. Comparison is case-insensitive.
 */
export function isNoProxy(url: URL, noProxy: string | undefined): boolean {
  if (!noProxy) return false;
  const host = unbracket(url.hostname.toLowerCase());
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

/** The proxy to use for this URL, or undefined for a direct connection. Throws a TypeError on a bad proxy setting. */
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

/** A proxy that answered CONNECT with something other than 200, or did not answer in time. */
export class ProxyError extends Error {
  readonly code: string;
  readonly statusCode: number | undefined;
  constructor(message: string, options: { statusCode?: number; code?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'ProxyError';
    this.code = options.code ?? 'EPROXY';
    this.statusCode = options.statusCode;
  }
}

type ConnectionCallback = (error: Error | null, socket: Duplex) => void;

/**
 * hpagent's tunnel, with our connect timeout on the CONNECT exchange and its bare errors ("Bad response: 407",
 * "Proxy timeout") turned into ProxyErrors that name the proxy and the target. Only the documented
 * Agent#createConnection is wrapped.
 */
class TunnelAgent extends HttpsProxyAgent {
  readonly #proxy: URL;
  readonly #connectTimeout: number;
  constructor(proxy: URL, connectTimeout: number) {
    super({ proxy, keepAlive: false });
    this.#proxy = proxy;
    this.#connectTimeout = connectTimeout;
  }

  override createConnection(options: https.RequestOptions, callback?: ConnectionCallback): Duplex | null | undefined {
    const authority = `${options.host}:${options.port}`;
    const proxyHost = this.#proxy.host;
    return super.createConnection({ ...options, timeout: this.#connectTimeout }, (error, socket) => {
      if (!error) return callback?.(null, socket);
      const status = /^Bad response: (\d{3})$/.exec(error.message);
      let described: Error = error;
      if (status) {
        described = new ProxyError(`proxy ${proxyHost} refused CONNECT ${authority} with HTTP ${status[1]}`, {
          statusCode: Number(status[1]),
          cause: error,
        });
      } else if (error.message === 'Proxy timeout') {
        described = new ProxyError(`proxy ${proxyHost} did not open a tunnel to ${authority} within ${this.#connectTimeout} ms`, {
          code: 'ETIMEDOUT',
          cause: error,
        });
      }
      callback?.(described, socket);
    });
  }
}

const tunnelAgents = new Map<string, https.Agent>();

/**
 * The agents got should use for this URL: `{https}` with a tunnel for an https URL that goes through a proxy, else
 * undefined (Node's own agents; plain http through a proxy is done by proxyRequest). One agent per proxy URL and
 * connect timeout, reused across downloads. Throws a TypeError on a bad proxy setting, for every scheme.
 */
export function agentsFor(target: string | URL, env: NodeJS.ProcessEnv = process.env, options: { connectTimeout?: number } = {}): Agents | undefined {
  const url = typeof target === 'string' ? new URL(target) : target;
  const proxy = proxyForUrl(url, env);
  if (!proxy || url.protocol !== 'https:') return undefined;
  const connectTimeout = options.connectTimeout ?? 30_000;
  const key = `${proxy.href} ${connectTimeout}`;
  let agent = tunnelAgents.get(key);
  if (!agent) {
    agent = new TunnelAgent(proxy, connectTimeout);
    tunnelAgents.set(key, agent);
  }
  return { https: agent };
}

/**
 * got's `request` option: for an http:// URL that goes through a proxy, the request is sent to the proxy with the
 * absolute URI as its target and the origin in Host; for anything else it returns undefined and got makes the request
 * itself (with the agents from agentsFor). Decided per URL, so it stays right across redirects.
 */
export function proxyRequest(env: NodeJS.ProcessEnv = process.env): RequestFunction {
  return (url, options, callback) => {
    if (url.protocol !== 'http:') return undefined;
    const proxy = proxyForUrl(url, env);
    if (!proxy) return undefined;
    // got always passes headers as an object (never the raw-array form).
    const headers: http.OutgoingHttpHeaders = { ...(options.headers as http.OutgoingHttpHeaders), host: url.host };
    const auth = proxyAuthorization(proxy);
    if (auth) headers['proxy-authorization'] = auth;
    const proxyHost = unbracket(proxy.hostname);
    const target = `${url.protocol}//${url.host}${url.pathname}${url.search}`;
    const client = proxy.protocol === 'https:' ? https : http;
    return client.request(
      {
        ...options,
        protocol: proxy.protocol,
        host: proxyHost,
        hostname: proxyHost,
        port: proxy.port ? Number(proxy.port) : defaultPorts[proxy.protocol],
        path: target,
        headers,
        agent: undefined,
        servername: net.isIP(proxyHost) ? undefined : proxyHost,
      },
      callback,
    );
  };
}

/**
 * Registry authentication as docker does it. The scheme is learnt from the 401 of `GET /v2/` (or of any request):
 * - Basic: the credentials go with every request to the registry's origin;
 * - Bearer (GHCR, Docker Hub, distribution's `auth: token`): a token is fetched from the challenge's realm with its
 *   `service` and the request's scopes (`repository:NAME:pull[,push]`), with Basic credentials when there are any,
 *   cached per scope until it expires, and sent as `Authorization: Bearer`.
 * A request gets one retry after a 401; a second 401 is a RegistryAuthError. Nothing is ever sent to another origin
 * than the registry's (a blob redirect to storage, an upload Location elsewhere) except the realm's Basic credentials.
 */
import { challengeScopes, parseWwwAuthenticate, type Challenge } from './challenge.js';
import type { Credentials } from './credentials.js';
import { RegistryAuthError, RegistryProtocolError } from './errors.js';
import { isLoopbackHost } from './reference.js';
import type { BufferedResponse, HttpRequest } from './transport.js';

/** Strings that must never be shown: passwords, their Basic encodings, tokens. */
export class Secrets {
  readonly #values = new Set<string>();
  add(value: string | undefined): void {
    if (value && value.length >= 3) this.#values.add(value);
  }
  scrub(text: string): string {
    let out = text;
    for (const value of this.#values) out = out.split(value).join('***');
    return out;
  }
}

export function repositoryScope(repository: string, actions: readonly ('pull' | 'push')[]): string {
  return `repository:${repository}:${actions.join(',')}`;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

export interface AuthContext {
  /** `host[:port]`, for messages. */
  registry: string;
  insecure: boolean;
  secrets: Secrets;
  log: (line: string) => void;
  /** Resolves the credentials once (they may come from a file). */
  credentials: () => Promise<Credentials | undefined>;
  /** GET with retries for transient failures, no auth handling (for the token request). */
  get: (request: HttpRequest, registry: string) => Promise<BufferedResponse>;
}

export class Authorizer {
  readonly #ctx: AuthContext;
  #scheme: 'unknown' | 'basic' | 'bearer' = 'unknown';
  #bearer?: { realm: URL; service?: string };
  readonly #tokens = new Map<string, CachedToken>();
  /** One token request per scope at a time: concurrent requests wait for it instead of asking again. */
  readonly #pending = new Map<string, Promise<string>>();
  /** How many tokens were fetched (tests check the cache with it). */
  tokenRequests = 0;

  constructor(ctx: AuthContext) {
    this.#ctx = ctx;
  }

  /** Learns the scheme from a 401's WWW-Authenticate (e.g. that of the ping) without fetching anything. */
  learn(wwwAuthenticate: string | undefined): void {
    const challenge = pick(parseWwwAuthenticate(wwwAuthenticate ?? ''));
    if (challenge?.scheme === 'basic') this.#scheme = 'basic';
    if (challenge?.scheme === 'bearer') this.#useBearer(challenge);
  }

  /** The Authorization header for a request to the registry's origin with these scopes, if the scheme wants one. */
  async header(scopes: readonly string[]): Promise<Record<string, string>> {
    if (this.#scheme === 'basic') {
      const credentials = await this.#ctx.credentials();
      return credentials ? { authorization: `Basic ${this.#basic(credentials)}` } : {};
    }
    if (this.#scheme === 'bearer') return { authorization: `Bearer ${await this.#token(scopes, false)}` };
    return {};
  }

  /**
   * After a 401: prepares what the retry needs (scheme, a fresh token). Throws RegistryAuthError when a retry cannot
   * help: no usable challenge, Basic credentials already refused, or none to send.
   */
  async unauthorized(wwwAuthenticate: string | undefined, scopes: readonly string[], sentAuthorization: boolean, what: string): Promise<void> {
    const challenges = parseWwwAuthenticate(wwwAuthenticate ?? '');
    const challenge = pick(challenges);
    const credentials = await this.#ctx.credentials();
    if (challenge?.scheme === 'bearer') {
      this.#useBearer(challenge);
      const asked = challengeScopes(challenge);
      await this.#token(asked.length > 0 ? mergeScopes(scopes, asked) : scopes, true, scopes);
      return;
    }
    if (challenge?.scheme === 'basic') {
      this.#scheme = 'basic';
      if (!credentials) throw new RegistryAuthError(this.#ctx.registry, 401, `registry ${this.#ctx.registry} requires credentials for ${what}`);
      if (sentAuthorization) {
        throw new RegistryAuthError(
          this.#ctx.registry,
          401,
          `registry ${this.#ctx.registry} refused the credentials of user "${credentials.username}" for ${what}`,
        );
      }
      return;
    }
    throw new RegistryAuthError(
      this.#ctx.registry,
      401,
      `registry ${this.#ctx.registry} answered 401 to ${what} without a Basic or Bearer challenge`,
      'the registry uses an authentication scheme this client does not support (only Basic and Bearer tokens)',
    );
  }

  /** The RegistryAuthError for a request that got a 401 even after the retry. */
  async refused(wwwAuthenticate: string | undefined, what: string): Promise<RegistryAuthError> {
    const challenge = pick(parseWwwAuthenticate(wwwAuthenticate ?? ''));
    const credentials = await this.#ctx.credentials();
    const reason = challenge?.params.error ? ` (${challenge.params.error})` : '';
    const who = credentials ? `the credentials of user "${credentials.username}"` : 'anonymous access';
    return new RegistryAuthError(this.#ctx.registry, 401, `registry ${this.#ctx.registry} refused ${who} for ${what}${reason}`);
  }

  #useBearer(challenge: Challenge): void {
    const realm = challenge.params.realm;
    if (!realm) throw new RegistryProtocolError(this.#ctx.registry, `registry ${this.#ctx.registry} sent a Bearer challenge without a realm`, 401);
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new RegistryProtocolError(this.#ctx.registry, `registry ${this.#ctx.registry} sent a Bearer realm that is not a URL`, 401);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new RegistryProtocolError(this.#ctx.registry, `registry ${this.#ctx.registry} sent a Bearer realm with scheme ${url.protocol}`, 401);
    }
    if (url.protocol === 'http:' && !isLoopbackHost(url.host) && !this.#ctx.insecure) {
      // Credentials (and the token) would travel in clear text.
      throw new RegistryAuthError(
        this.#ctx.registry,
        401,
        `registry ${this.#ctx.registry} wants tokens from plain-HTTP ${url.host}, which is refused`,
        'use a registry whose token service is HTTPS, or pass --insecure-registry if this network is trusted',
      );
    }
    const service = challenge.params.service;
    if (this.#bearer?.realm.href !== url.href || this.#bearer.service !== service) this.#tokens.clear();
    this.#scheme = 'bearer';
    this.#bearer = { realm: url, ...(service !== undefined ? { service } : {}) };
  }

  /** A token for `scopes` (cached under cacheScopes): from the cache unless `fresh`, else from the realm. */
  async #token(scopes: readonly string[], fresh: boolean, cacheScopes: readonly string[] = scopes): Promise<string> {
    const key = [...cacheScopes].sort().join(' ');
    const cached = this.#tokens.get(key);
    if (!fresh && cached && cached.expiresAt > Date.now()) return cached.token;
    const pending = this.#pending.get(key);
    if (pending) return pending;
    const request = this.#fetchToken(scopes).then((token) => {
      this.#tokens.set(key, token);
      return token.token;
    });
    this.#pending.set(key, request);
    try {
      return await request;
    } finally {
      this.#pending.delete(key);
    }
  }

  async #fetchToken(scopes: readonly string[]): Promise<CachedToken> {
    const bearer = this.#bearer!;
    const url = new URL(bearer.realm);
    if (bearer.service !== undefined) url.searchParams.set('service', bearer.service);
    for (const scope of scopes) url.searchParams.append('scope', scope);
    const credentials = await this.#ctx.credentials();
    const realmHost = url.host;
    this.#ctx.log(
      `registry ${this.#ctx.registry}: token from ${realmHost} for ${scopes.join(' ') || '(no scope)'}${credentials ? ` as ${credentials.username}` : ''}`,
    );
    this.tokenRequests++;
    const response = await this.#ctx.get(
      {
        method: 'GET',
        url,
        headers: { accept: 'application/json', ...(credentials ? { authorization: `Basic ${this.#basic(credentials)}` } : {}) },
      },
      realmHost,
    );
    if (response.status === 401 || response.status === 403) {
      const who = credentials ? `the credentials of user "${credentials.username}"` : 'anonymous access';
      throw new RegistryAuthError(
        realmHost,
        response.status,
        `token service ${realmHost} (for registry ${this.#ctx.registry}) refused ${who} (${response.status})`,
      );
    }
    if (response.status !== 200) {
      throw new RegistryProtocolError(
        realmHost,
        `token service ${realmHost} answered ${response.status}`,
        response.status,
        'check the registry; try again later',
      );
    }
    let answer: { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown };
    try {
      answer = JSON.parse(response.body.toString('utf8'));
    } catch {
      throw new RegistryProtocolError(realmHost, `token service ${realmHost} did not answer JSON`, 200);
    }
    const token = typeof answer.token === 'string' && answer.token !== '' ? answer.token : answer.access_token;
    if (typeof token !== 'string' || token === '')
      throw new RegistryProtocolError(realmHost, `token service ${realmHost} answered without a token`, 200);
    this.#ctx.secrets.add(token);
    // The spec's default lifetime is 60 s; renew a little early so a token does not expire in flight.
    const lifetimeS = typeof answer.expires_in === 'number' && answer.expires_in > 0 ? answer.expires_in : 60;
    return { token, expiresAt: Date.now() + lifetimeS * 900 };
  }

  #basic(credentials: Credentials): string {
    const encoded = Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64');
    this.#ctx.secrets.add(credentials.password);
    this.#ctx.secrets.add(encoded);
    return encoded;
  }
}

/** Bearer wins over Basic when a registry offers both. */
function pick(challenges: Challenge[]): Challenge | undefined {
  return challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
}

function mergeScopes(ours: readonly string[], asked: readonly string[]): string[] {
  return [...new Set([...ours, ...asked])];
}

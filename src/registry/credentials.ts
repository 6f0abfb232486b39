/**
 * Where registry credentials come from, first match wins:
 * 1. WSGI_HTTPD_REGISTRY_USER + WSGI_HTTPD_REGISTRY_PASSWORD (for whatever registry is used; both or neither);
 * 2. docker's config file, `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`), its `auths` entry for the
 *    host: `auth` (base64 `user:password`) or `username` + `password`. Keys are matched without scheme and path, so
 *    `ghcr.io`, `https://ghcr.io` and `https://ghcr.io/v1/` all name ghcr.io; Docker Hub's
 *    `https://index.docker.io/v1/` names docker.io.
 * Credential helpers (`credsStore`, `credHelpers`) and `identitytoken` are not supported: they are reported through
 * `log` and ignored.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../errors.js';

export interface Credentials {
  username: string;
  password: string;
}

export interface FoundCredentials extends Credentials {
  /** Where they came from, for log lines: `WSGI_HTTPD_REGISTRY_USER/PASSWORD` or the config file's path. */
  source: string;
}

export const userVariable = 'WSGI_HTTPD_REGISTRY_USER';
export const passwordVariable = 'WSGI_HTTPD_REGISTRY_PASSWORD';

const dockerHubAliases = ['docker.io', 'index.docker.io', 'registry-1.docker.io'];

export function dockerConfigFile(env: NodeJS.ProcessEnv): string {
  const dir = env.DOCKER_CONFIG && env.DOCKER_CONFIG !== '' ? env.DOCKER_CONFIG : join(env.HOME || homedir(), '.docker');
  return join(dir, 'config.json');
}

export async function findCredentials(host: string, env: NodeJS.ProcessEnv, log?: (line: string) => void): Promise<FoundCredentials | undefined> {
  const user = env[userVariable] ?? '';
  const password = env[passwordVariable] ?? '';
  if (user !== '' || password !== '') {
    if (user === '' || password === '') {
      const [set, unset] = user === '' ? [passwordVariable, userVariable] : [userVariable, passwordVariable];
      throw new UsageError(
        `${set} is set but ${unset} is not`,
        `set both ${userVariable} and ${passwordVariable}, or neither to use docker's config.json`,
      );
    }
    return { username: user, password, source: `${userVariable}/${passwordVariable}` };
  }
  const file = dockerConfigFile(env);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new UsageError(
      `cannot read ${file} (${(error as NodeJS.ErrnoException).code})`,
      'fix its permissions, or point DOCKER_CONFIG at another directory',
    );
  }
  return credentialsFromDockerConfig(text, file, host, log);
}

/** The `auths` entry for host in a docker config.json's text (exported for tests). */
export function credentialsFromDockerConfig(text: string, file: string, host: string, log?: (line: string) => void): FoundCredentials | undefined {
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch {
    // The parser's message may quote the file's content, i.e. a credential: say only where.
    throw new UsageError(`${file} is not valid JSON`, 'fix the file (docker login rewrites it), or point DOCKER_CONFIG at another directory');
  }
  if (typeof config !== 'object' || config === null)
    throw new UsageError(`${file} is not a JSON object`, 'fix the file, or point DOCKER_CONFIG elsewhere');
  const { auths, credsStore, credHelpers } = config as { auths?: unknown; credsStore?: unknown; credHelpers?: Record<string, unknown> };
  const wanted = aliasesOf(host);
  const entry = Object.entries(typeof auths === 'object' && auths !== null ? (auths as Record<string, unknown>) : {}).find(([key]) =>
    wanted.includes(normalizeAuthsKey(key)),
  );
  const found = entry ? decodeEntry(entry[0], entry[1], file) : undefined;
  if (found) return found;
  const helper =
    Object.entries(credHelpers ?? {}).find(([key]) => wanted.includes(normalizeAuthsKey(key)))?.[1] ??
    (typeof credsStore === 'string' ? credsStore : undefined);
  if (helper !== undefined) {
    log?.(
      `${file}: credentials for ${host} may be kept by docker-credential-${String(helper)}, which is not supported; set ${userVariable}/${passwordVariable}`,
    );
  } else if (entry && typeof entry[1] === 'object' && entry[1] !== null && 'identitytoken' in entry[1]) {
    log?.(`${file}: the entry for ${host} holds an identity token, which is not supported; set ${userVariable}/${passwordVariable}`);
  }
  return undefined;
}

/** `https://Host:5000/v1/` → `host:5000`. */
export function normalizeAuthsKey(key: string): string {
  return key
    .trim()
    .replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
    .replace(/\/.*$/, '')
    .toLowerCase();
}

function aliasesOf(host: string): string[] {
  const lower = host.toLowerCase();
  return dockerHubAliases.includes(lower) ? dockerHubAliases : [lower];
}

function decodeEntry(key: string, value: unknown, file: string): FoundCredentials | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { auth, username, password } = value as { auth?: unknown; username?: unknown; password?: unknown };
  if (typeof auth === 'string' && auth !== '') {
    const decoded = Buffer.from(auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) {
      throw new UsageError(`${file}: the "auth" of "${key}" is not base64 of user:password`, 'log in again with `docker login`, or fix the entry');
    }
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), source: file };
  }
  if (typeof username === 'string' && username !== '' && typeof password === 'string') return { username, password, source: file };
  return undefined;
}

/**
 * Registry references as registries spell them: `HOST[:PORT]/REPOSITORY[:TAG][@sha256:HEX]`.
 *
 * Unlike docker, a reference always names its registry: the first component must contain a `.` or a `:`, or be
 * `localhost` (docker's test for "this is a host"); there is no implicit Docker Hub. A scheme (`https://`) is refused:
 * whether plain HTTP may be used is decided by the host and the `insecure` option, never by the reference.
 */
import net from 'node:net';
import { UsageError } from '../errors.js';

export interface Reference {
  /** As written, lower-cased: `ghcr.io`, `localhost:5000`, `127.0.0.1:5000`, `[::1]:5000`. */
  host: string;
  /** `owner/name`: lower-case path components. */
  repository: string;
  tag?: string;
  /** `sha256:<64 hex>`. */
  digest?: string;
}

const example = 'ghcr.io/owner/wsgi-httpd-layers:tag';
const shape = `write it as HOST[:PORT]/REPOSITORY[:TAG], e.g. ${example}`;

/** One repository path component (distribution spec): lower-case alphanumerics joined by `.`, `_`, `__` or dashes. */
const componentPattern = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
export const tagPattern = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
export const digestPattern = /^sha256:[a-f0-9]{64}$/;
const hostnameLabel = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/;
/** docker's limit on HOST/REPOSITORY. */
const maxNameLength = 255;

export function parseReference(input: string): Reference {
  const ref = input.trim();
  if (ref === '') throw new UsageError('empty registry reference', shape);
  if (/\s/.test(ref)) throw new UsageError(`registry reference "${ref}" contains white space`, shape);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(ref)) {
    throw new UsageError(
      `registry reference "${ref}" starts with a URL scheme`,
      `drop the scheme (${ref.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')}): HTTPS is the default; plain HTTP is used for loopback hosts, or for others with --insecure-registry`,
    );
  }
  const slash = ref.indexOf('/');
  const first = slash < 0 ? ref : ref.slice(0, slash);
  if (slash < 0 || !looksLikeHost(first)) {
    throw new UsageError(
      `registry reference "${ref}" does not start with a registry host`,
      `${shape}; the host must contain a "." or ":" or be localhost (there is no default registry)`,
    );
  }
  const host = parseHost(first, ref);
  let rest = ref.slice(slash + 1);

  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!digestPattern.test(digest)) {
      throw new UsageError(
        `registry reference "${ref}" has a malformed digest "${digest}"`,
        'a digest is sha256: followed by 64 lower-case hex digits',
      );
    }
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon >= 0 && !rest.slice(colon).includes('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!tagPattern.test(tag)) {
      throw new UsageError(
        `registry reference "${ref}" has an invalid tag "${tag}"`,
        'a tag is 1 to 128 characters: letters, digits, "_", "." and "-", not starting with "." or "-"',
      );
    }
  }
  validateRepository(rest, ref);
  if (host.length + 1 + rest.length > maxNameLength) {
    throw new UsageError(
      `registry reference "${ref}" is longer than ${maxNameLength} characters (host and repository)`,
      'use a shorter repository name',
    );
  }
  return { host, repository: rest, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

export function formatReference(ref: Reference): string {
  return `${ref.host}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** Throws the UsageError parseReference would for a bad repository path (also for `{host, repository}` targets). */
export function validateRepository(repository: string, ref = repository): void {
  if (repository === '') throw new UsageError(`registry reference "${ref}" has no repository`, shape);
  for (const component of repository.split('/')) {
    if (componentPattern.test(component)) continue;
    if (componentPattern.test(component.toLowerCase())) {
      throw new UsageError(
        `registry reference "${ref}": repository "${repository}" has upper-case letters`,
        `repository names are lower case: use ${repository.toLowerCase()}`,
      );
    }
    throw new UsageError(
      `registry reference "${ref}": "${component}" is not a valid repository path component`,
      'each component of the repository path is lower-case letters and digits, joined by ".", "_", "__" or "-" (e.g. owner/wsgi-httpd-layers)',
    );
  }
}

function looksLikeHost(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost';
}

/** Validates `host[:port]` / `[v6]:port` and returns it lower-cased. */
export function parseHost(hostPort: string, ref = hostPort): string {
  const { hostname, port } = splitHostPort(hostPort);
  const bad = (what: string) => new UsageError(`registry reference "${ref}" has an invalid host "${hostPort}": ${what}`, shape);
  if (port !== undefined && !(/^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535)) throw bad('the port must be 1-65535');
  if (hostPort.startsWith('[')) {
    if (!net.isIPv6(hostname)) throw bad('not an IPv6 address');
  } else if (!hostname.split('.').every((label) => hostnameLabel.test(label))) {
    throw bad('not a host name or IP address');
  }
  return hostPort.toLowerCase();
}

/** `127.0.0.1:5000` → {hostname: '127.0.0.1', port: '5000'}; `[::1]:5000` → {hostname: '::1', port: '5000'}. */
export function splitHostPort(hostPort: string): { hostname: string; port?: string } {
  const v6 = /^\[([^\]]*)\](?::(.*))?$/.exec(hostPort);
  if (v6) return { hostname: v6[1]!, ...(v6[2] !== undefined ? { port: v6[2] } : {}) };
  const colon = hostPort.lastIndexOf(':');
  if (colon < 0) return { hostname: hostPort };
  return { hostname: hostPort.slice(0, colon), port: hostPort.slice(colon + 1) };
}

/**
 * Loopback by name, not by DNS: `localhost`, a literal 127.0.0.0/8 address, or `::1`. Only these may fall back to
 * plain HTTP without `insecure`; a name that merely resolves to loopback does not count.
 */
const loopback = new net.BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');
loopback.addSubnet('::ffff:127.0.0.0', 104, 'ipv6'); // IPv4-mapped 127.0.0.0/8

export function isLoopbackHost(host: string): boolean {
  const { hostname } = splitHostPort(host.toLowerCase());
  if (hostname === 'localhost') return true;
  if (net.isIPv4(hostname)) return loopback.check(hostname, 'ipv4');
  return net.isIPv6(hostname) && loopback.check(hostname, 'ipv6');
}

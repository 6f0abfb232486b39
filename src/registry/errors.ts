/**
 * What can go wrong talking to a registry, one class per thing a caller reacts to differently. Messages are one line
 * and never carry credentials or tokens (the client also scrubs every message it throws against the secrets it knows).
 * A missing blob or manifest is not an error: lookups return undefined/false.
 */
import { ExitCode, ToolchainError } from '../errors.js';

export type RegistryFailureKind = 'unreachable' | 'tls' | 'auth' | 'server' | 'digest' | 'protocol';

export class RegistryError extends ToolchainError {
  readonly kind: RegistryFailureKind;
  /** `host[:port]` of the registry (or of its token service). */
  readonly registry: string;
  constructor(kind: RegistryFailureKind, registry: string, message: string, hint: string, exitCode: number = ExitCode.download) {
    super(oneLine(message), oneLine(hint), exitCode);
    this.kind = kind;
    this.registry = registry;
  }
}

/** Connection refused, DNS failure, timeout, connection reset: nothing answered (in time). */
export class RegistryUnreachableError extends RegistryError {
  /** ECONNREFUSED, ENOTFOUND, ETIMEDOUT, ECONNRESET, ... */
  readonly code: string;
  constructor(registry: string, code: string, detail?: string) {
    super(
      'unreachable',
      registry,
      `registry ${registry} is unreachable (${code}${detail ? `: ${detail}` : ''})`,
      'check that the registry is up and the address is right (behind a proxy set HTTPS_PROXY, and NO_PROXY for hosts to reach directly)',
    );
    this.code = code;
  }
}

/** The TLS handshake failed: a certificate that is not trusted, not for this host, or a server that does not speak TLS. */
export class RegistryTlsError extends RegistryError {
  readonly code: string;
  constructor(registry: string, code: string, detail?: string) {
    super(
      'tls',
      registry,
      `TLS with registry ${registry} failed (${code}${detail ? `: ${detail}` : ''})`,
      'if the registry uses a private CA, point NODE_EXTRA_CA_CERTS at its certificate (PEM); a registry without TLS can only be used with --insecure-registry',
    );
    this.code = code;
  }
}

/** 401 after trying the credentials (or with none), 403, or a token service that refused us. */
export class RegistryAuthError extends RegistryError {
  readonly status: number;
  constructor(registry: string, status: number, message: string, hint?: string) {
    super(
      'auth',
      registry,
      message,
      hint ??
        'set WSGI_HTTPD_REGISTRY_USER and WSGI_HTTPD_REGISTRY_PASSWORD (a token with read and write access to packages), or log in with `docker login`',
    );
    this.status = status;
  }
}

/** A 5xx (or 429 after the retries). */
export class RegistryServerError extends RegistryError {
  readonly status: number;
  constructor(registry: string, status: number, message: string) {
    super('server', registry, message, 'the registry had a problem; try again later');
    this.status = status;
  }
}

/** Bytes whose sha256 is not the digest they were asked for or announced with. Exit code 5, like ChecksumError. */
export class RegistryDigestError extends RegistryError {
  readonly expected: string;
  readonly actual: string;
  constructor(registry: string, what: string, expected: string, actual: string, hint?: string) {
    super(
      'digest',
      registry,
      `digest mismatch for ${what} from ${registry}: expected ${expected}, got ${actual}`,
      hint ?? 'the registry returned corrupt or different content; nothing was kept. Retry, or check the registry',
      ExitCode.checksum,
    );
    this.expected = expected;
    this.actual = actual;
  }
}

/** Any other answer the protocol does not allow here: an unexpected status, a missing Location, malformed JSON. */
export class RegistryProtocolError extends RegistryError {
  readonly status?: number;
  constructor(registry: string, message: string, status?: number, hint?: string) {
    super(
      'protocol',
      registry,
      message,
      hint ?? 'the registry answered in a way the OCI distribution spec does not allow here; check its address and version',
    );
    if (status !== undefined) this.status = status;
  }
}

export function isRegistryError(error: unknown): error is RegistryError {
  return error instanceof RegistryError;
}

/**
 * One line describing any failure of a registry operation, for a warning such as "remote cache skipped: <line>". It
 * never includes credentials: registry errors are built without them, and other errors contribute only their name
 * and the first line of their message (file-system errors, a bad reference).
 */
export function registryFailureLine(error: unknown): string {
  if (error instanceof ToolchainError) return oneLine(error.message);
  if (error instanceof Error) return oneLine(`${error.name}: ${error.message.split('\n')[0]}`);
  return oneLine(String(error));
}

function oneLine(text: string): string {
  const line = text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
  return line.length > 400 ? `${line.slice(0, 399)}…` : line;
}

/**
 * An unexpected HTTP answer as a typed error: 401/403 auth, 429/5xx server, DIGEST_INVALID digest, anything else
 * protocol. The registry's own error codes (`{"errors":[{"code","message"}]}`) are quoted, shortened.
 */
import { RegistryAuthError, RegistryDigestError, type RegistryError, RegistryProtocolError, RegistryServerError } from './errors.js';

export interface RegistryErrorDetail {
  codes: string[];
  /** "BLOB_UNKNOWN: blob unknown to registry; ..." or "" */
  text: string;
}

export function registryErrorDetail(body: Buffer): RegistryErrorDetail {
  let errors: unknown;
  try {
    errors = (JSON.parse(body.toString('utf8')) as { errors?: unknown })?.errors;
  } catch {
    return { codes: [], text: '' };
  }
  if (!Array.isArray(errors)) return { codes: [], text: '' };
  const entries = errors
    .filter((e): e is { code?: unknown; message?: unknown } => typeof e === 'object' && e !== null)
    .map((e) => ({ code: typeof e.code === 'string' ? e.code : 'UNKNOWN', message: typeof e.message === 'string' ? e.message : '' }));
  const text = entries
    .map((e) => (e.message ? `${e.code}: ${e.message}` : e.code))
    .join('; ')
    .replace(/\p{Cc}+/gu, ' ');
  return { codes: entries.map((e) => e.code), text: text.length > 200 ? `${text.slice(0, 199)}…` : text };
}

export function describeFailure(registry: string, status: number, detail: RegistryErrorDetail, what: string): RegistryError {
  const said = `${status}${detail.text ? ` ${detail.text}` : ''}`;
  if (status === 401) return new RegistryAuthError(registry, status, `registry ${registry} refused ${what} (${said})`);
  if (status === 403) {
    return new RegistryAuthError(
      registry,
      status,
      `registry ${registry} denied ${what} (${said})`,
      'the credentials lack permission for this repository (to push to GHCR the token needs write:packages)',
    );
  }
  if (status === 429 || status >= 500) return new RegistryServerError(registry, status, `registry ${registry} failed ${what} (${said})`);
  if (detail.codes.includes('DIGEST_INVALID')) {
    return new RegistryDigestError(
      registry,
      what,
      'the digest sent',
      'a different one (computed by the registry)',
      'the digest given for the content is not the sha256 of its bytes, or the bytes changed while they were sent',
    );
  }
  if (detail.codes.includes('MANIFEST_BLOB_UNKNOWN') || detail.codes.includes('BLOB_UNKNOWN')) {
    return new RegistryProtocolError(
      registry,
      `registry ${registry} refused ${what} (${said})`,
      status,
      'push every layer and the config blob before the manifest that names them',
    );
  }
  return new RegistryProtocolError(registry, `registry ${registry} refused ${what} (${said})`, status);
}

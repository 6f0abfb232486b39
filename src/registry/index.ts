/**
 * OCI registry client (distribution spec v1.1) for the layer store: push and pull content-addressed blobs and the
 * manifests that name them, on GHCR, Docker Hub, distribution (`registry:2`) and the like.
 *
 *   const client = new RegistryClient('ghcr.io/owner/wsgi-httpd-layers', { env: process.env, log });
 *   const layer = await client.pushBlob('/path/layer.tar.gz');               // {digest, size, outcome}
 *   await client.pushBlob(emptyConfig.bytes);
 *   const manifest = artifactManifest({
 *     artifactType: 'application/vnd.wsgi-httpd.build.v1',
 *     layers: [{ mediaType: mediaTypes.ociLayerGzip, digest: layer.digest, size: layer.size }],
 *     annotations: { 'org.opencontainers.image.title': 'httpd' },
 *   });
 *   const digest = await client.putManifest('httpd-2.4.68-abc', manifest);
 *   const found = await client.getManifest('httpd-2.4.68-abc');              // {digest, mediaType, bytes, json} | undefined
 *   await client.pullBlob(layer.digest, '/tmp/layer.tar.gz', { expectedSize: layer.size }); // BlobResult | undefined
 *
 * API
 * - parseReference(ref): Reference — `HOST[:PORT]/REPOSITORY[:TAG][@sha256:HEX]`; UsageError when malformed.
 * - new RegistryClient(ref | {host, repository}, {env?, credentials?, insecure?, timeoutMs?, retries?, log?, ca?})
 *   - ping(): Promise<void>                                  GET /v2/ with credentials
 *   - hasBlob(digest): Promise<boolean>                      HEAD
 *   - pullBlob(digest, destFile, {expectedSize?}): Promise<BlobResult | undefined>   sha256 checked while streaming
 *   - pushBlob(fileOrBytes, {digest?, chunkSize?, mountFrom?}): Promise<PushedBlob>  skipped when HEAD finds it
 *   - getManifest(tagOrDigest): Promise<FetchedManifest | undefined>
 *   - putManifest(tagOrDigest, manifestObjectOrBytes, mediaType?): Promise<string>   the digest pushed
 *   - listTags(): Promise<string[]>
 * - artifactManifest({artifactType?, layers, config?, annotations?}), encodeManifest(m), emptyConfig, mediaTypes
 * - registryFailureLine(error): one line, no credentials, for "remote cache skipped: ..." warnings.
 *
 * Not found is not an error (undefined / false). Failures are RegistryError subclasses (kind: unreachable, tls, auth,
 * server, digest, protocol) or UsageError (bad reference, bad digest, credentials misconfigured), each with a hint.
 * Credentials: WSGI_HTTPD_REGISTRY_USER/PASSWORD, else $DOCKER_CONFIG/config.json (see credentials.ts); they and
 * tokens never appear in messages or log lines. Plain HTTP only for loopback hosts or with `insecure` (transport.ts).
 */
export { RegistryClient } from './client.js';
export { withDigest } from './blob-upload.js';
export type { BlobResult, FetchedManifest, PushBlobOptions, PushedBlob, RegistryClientOptions } from './client.js';
export { parseReference, formatReference, isLoopbackHost } from './reference.js';
export type { Reference } from './reference.js';
export { artifactManifest, emptyConfig, encodeManifest, mediaTypes, sha256Digest, sha256DigestOfFile } from './manifest.js';
export type { ArtifactManifestInput, Descriptor, OciManifest } from './manifest.js';
export {
  isRegistryError,
  registryFailureLine,
  RegistryAuthError,
  RegistryDigestError,
  RegistryError,
  RegistryProtocolError,
  RegistryServerError,
  RegistryTlsError,
  RegistryUnreachableError,
} from './errors.js';
export type { RegistryFailureKind } from './errors.js';
export type { Credentials } from './credentials.js';

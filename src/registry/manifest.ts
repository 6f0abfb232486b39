/**
 * OCI image manifests for artifacts (image-spec v1.1 "artifact guidance"): N layer blobs, a config blob (the empty
 * descriptor `{}` by default, which then requires `artifactType`), and annotations. The manifest's digest is the
 * sha256 of the exact bytes pushed, so encode once and keep the bytes.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

export const mediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  /** Base64 of the content, for small blobs such as the empty config. */
  data?: string;
}

export interface OciManifest {
  schemaVersion: 2;
  mediaType: typeof mediaTypes.ociManifest;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export function sha256Digest(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export async function sha256DigestOfFile(path: string): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

/** The spec's empty blob: push `emptyConfig.bytes` before a manifest that uses `emptyConfig.descriptor`. */
export const emptyConfig = {
  bytes: Buffer.from('{}'),
  descriptor: {
    mediaType: mediaTypes.ociEmpty,
    digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
    size: 2,
    data: 'e30=',
  } satisfies Descriptor,
};

export interface ArtifactManifestInput {
  /** e.g. `application/vnd.wsgi-httpd.build.v1`. Required with the empty config, as the spec says. */
  artifactType?: string;
  layers: Descriptor[];
  /** A pushed config blob; default the empty descriptor. */
  config?: Descriptor;
  annotations?: Record<string, string>;
}

export function artifactManifest(input: ArtifactManifestInput): OciManifest {
  const config = input.config ?? emptyConfig.descriptor;
  if (config.mediaType === mediaTypes.ociEmpty && !input.artifactType) {
    throw new TypeError('artifactManifest: an artifact with the empty config needs an artifactType');
  }
  return {
    schemaVersion: 2,
    mediaType: mediaTypes.ociManifest,
    ...(input.artifactType ? { artifactType: input.artifactType } : {}),
    config: { ...config },
    layers: input.layers.map((layer) => ({ ...layer })),
    ...(input.annotations && Object.keys(input.annotations).length > 0 ? { annotations: { ...input.annotations } } : {}),
  };
}

/** The bytes to push (compact JSON) and their digest. */
export function encodeManifest(manifest: object): { bytes: Buffer; digest: string } {
  const bytes = Buffer.from(JSON.stringify(manifest));
  return { bytes, digest: sha256Digest(bytes) };
}

/**
 * Layers and stacks in an OCI registry. A layer is one blob (its layer-blob tarball, digest = sha256 of the bytes)
 * named by an artifact manifest tagged `layer-<key>`, so any build can find a layer by its key; a stack is a manifest
 * (tagged as the user asks) listing the same blobs in order, with a config blob holding the stack record. Stacks that
 * share layers share blobs: pushing a second Python's stack uploads only its mod_wsgi blob.
 *
 * Annotations say what each artifact is and where it runs (component, version, key, Python identity, os/arch, libc
 * and the glibc it needs), so standard tools (`skopeo inspect --raw`) show it, and a pull refuses a layer that cannot
 * run here before downloading it. A pulled blob is checked twice: its digest while it streams (registry client), then
 * every file against the layer's own manifest as it enters the store (importLayerBlob).
 */
import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import type { RegistryClient } from '../registry/client.js';
import { artifactManifest, emptyConfig } from '../registry/manifest.js';
import type { Lock } from '../resolve/lock.js';
import { toolVersion } from '../version.js';
import { compareDotted, describePythonIdentity, hostRunsOn, type PythonIdentity, platformMismatch, type RunsOn } from './keys.js';
import { importLayerBlob, layerMediaType, writeLayerBlob } from './layer-blob.js';
import type { Store, StoredLayer } from './store.js';

export const layerArtifactType = 'application/vnd.wsgi-httpd.layer.v1';
export const stackArtifactType = 'application/vnd.wsgi-httpd.stack.v1';
export const stackConfigMediaType = 'application/vnd.wsgi-httpd.stack.config.v1+json';
const ns = 'io.wsgi-httpd';

export const layerTag = (key: string) => `layer-${key}`;

function runsOnAnnotations(runsOn: RunsOn | undefined): Record<string, string> {
  if (!runsOn) return {};
  return {
    [`${ns}.os`]: runsOn.os,
    [`${ns}.arch`]: runsOn.arch,
    [`${ns}.libc`]: runsOn.libc,
    ...(runsOn.glibc ? { [`${ns}.glibc`]: runsOn.glibc } : {}),
  };
}

function layerAnnotations(layer: StoredLayer): Record<string, string> {
  const r = layer.record;
  const python = (r.inputs as { python?: PythonIdentity | null }).python;
  return {
    'org.opencontainers.image.title': `${r.component} ${r.version}`,
    'org.opencontainers.image.version': r.version,
    [`${ns}.component`]: r.component,
    [`${ns}.version`]: r.version,
    [`${ns}.key`]: r.key,
    [`${ns}.python`]: python ? describePythonIdentity(python) : 'none',
    [`${ns}.tool`]: `wsgi-httpd ${toolVersion}`,
    ...runsOnAnnotations(r.runsOn),
  };
}

export interface PushedLayer {
  component: string;
  key: string;
  digest: string;
  size: number;
  /** "uploaded", or "exists" when the registry had the blob already (nothing sent). */
  outcome: string;
}

/** Uploads one layer (its blob once, then its `layer-<key>` manifest). */
export async function pushLayer(client: RegistryClient, store: Store, layer: StoredLayer): Promise<PushedLayer> {
  const temp = await store.tempDir('push');
  try {
    const blob = join(temp, 'layer.tar.gz');
    await writeLayerBlob(layer, blob);
    const pushed = await client.pushBlob(blob);
    await client.pushBlob(emptyConfig.bytes);
    const manifest = artifactManifest({
      artifactType: layerArtifactType,
      layers: [{ mediaType: layerMediaType, digest: pushed.digest, size: pushed.size }],
      annotations: layerAnnotations(layer),
    });
    await client.putManifest(layerTag(layer.record.key), manifest);
    return { component: layer.record.component, key: layer.record.key, digest: pushed.digest, size: pushed.size, outcome: pushed.outcome };
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}

export interface StackPush {
  tag: string;
  digest: string;
  layers: PushedLayer[];
}

/**
 * Pushes a stack: each layer (uploaded only when the registry lacks its blob), then the stack manifest under `tag`,
 * its config blob the stack record (lock and layer keys).
 */
export async function pushStack(
  client: RegistryClient,
  store: Store,
  stack: { key: string; lock: Lock; layers: StoredLayer[]; python?: PythonIdentity },
  tag: string,
): Promise<StackPush> {
  const pushed: PushedLayer[] = [];
  for (const layer of stack.layers) pushed.push(await pushLayer(client, store, layer));
  const record = Buffer.from(
    JSON.stringify({
      format: 'wsgi-httpd-stack/1',
      key: stack.key,
      lock: stack.lock,
      layers: pushed.map((p) => ({ component: p.component, key: p.key, digest: p.digest })),
    }),
  );
  const config = await client.pushBlob(record);
  const runsOn = stack.layers.map((l) => l.record.runsOn).find(Boolean) ?? hostRunsOn();
  // The stack needs the newest glibc any of its layers needs.
  const newestGlibc = stack.layers
    .map((l) => l.record.runsOn?.glibc)
    .filter((g): g is string => Boolean(g))
    .sort(compareDotted)
    .at(-1);
  const manifest = artifactManifest({
    artifactType: stackArtifactType,
    config: { mediaType: stackConfigMediaType, digest: config.digest, size: config.size },
    layers: pushed.map((p) => ({
      mediaType: layerMediaType,
      digest: p.digest,
      size: p.size,
      annotations: { [`${ns}.component`]: p.component, [`${ns}.key`]: p.key },
    })),
    annotations: {
      'org.opencontainers.image.title': 'wsgi-httpd stack',
      [`${ns}.stack`]: stack.key,
      [`${ns}.components`]: stack.layers.map((l) => `${l.record.component} ${l.record.version}`).join(', '),
      [`${ns}.python`]: stack.python ? describePythonIdentity(stack.python) : 'none',
      [`${ns}.tool`]: `wsgi-httpd ${toolVersion}`,
      ...runsOnAnnotations({ ...runsOn, ...(newestGlibc ? { glibc: newestGlibc } : {}) }),
    },
  });
  const digest = await client.putManifest(tag, manifest);
  return { tag, digest, layers: pushed };
}

export type PullOutcome = { layer: StoredLayer } | { missing: true } | { refused: string };

/** Looks a layer up by its key and brings it into the store, checked; a layer for another platform is refused. */
export async function pullLayer(client: RegistryClient, store: Store, key: string, origin: string): Promise<PullOutcome> {
  const found = await client.getManifest(layerTag(key));
  if (!found) return { missing: true };
  const manifest = found.json as { layers?: { digest: string; size: number; mediaType: string }[]; annotations?: Record<string, string> };
  const blob = manifest.layers?.find((l) => l.mediaType === layerMediaType);
  if (!blob) return { refused: `${origin}: ${layerTag(key)} is not a wsgi-httpd layer` };
  const a = manifest.annotations ?? {};
  const needs: RunsOn = {
    os: a[`${ns}.os`] ?? '?',
    arch: a[`${ns}.arch`] ?? '?',
    libc: a[`${ns}.libc`] ?? '?',
    ...(a[`${ns}.glibc`] ? { glibc: a[`${ns}.glibc`] } : {}),
  };
  const mismatch = platformMismatch(needs, hostRunsOn());
  if (mismatch) return { refused: `${origin}: layer ${key.slice(0, 12)} cannot run here: ${mismatch}` };
  const temp = await store.tempDir('pull');
  try {
    const file = join(temp, 'layer.tar.gz');
    const pulled = await client.pullBlob(blob.digest, file, { expectedSize: blob.size });
    if (!pulled) return { missing: true };
    return { layer: await importLayerBlob(store, file, key, origin) };
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}

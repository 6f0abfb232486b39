import test from 'ava';
import { createHash } from 'node:crypto';
import { withDigest } from '../../../src/registry/blob-upload.js';
import {
  RegistryAuthError,
  RegistryDigestError,
  RegistryProtocolError,
  RegistryServerError,
  registryFailureLine,
} from '../../../src/registry/errors.js';
import { describeFailure, registryErrorDetail } from '../../../src/registry/failure.js';
import { artifactManifest, emptyConfig, encodeManifest, mediaTypes } from '../../../src/registry/manifest.js';
import { UsageError } from '../../../src/errors.js';

test("the empty config is the spec's: {} with its sha256", (t) => {
  t.is(emptyConfig.bytes.toString(), '{}');
  t.is(emptyConfig.descriptor.digest, `sha256:${createHash('sha256').update('{}').digest('hex')}`);
  t.is(emptyConfig.descriptor.size, 2);
  t.is(Buffer.from(emptyConfig.descriptor.data, 'base64').toString(), '{}');
});

test('artifact manifest: OCI media type, artifactType, empty config, layers, annotations; digest of the compact bytes', (t) => {
  const layer = {
    mediaType: mediaTypes.ociLayerGzip,
    digest: `sha256:${'b'.repeat(64)}`,
    size: 10,
    annotations: { 'org.opencontainers.image.title': 'httpd.tar.gz' },
  };
  const manifest = artifactManifest({ artifactType: 'application/vnd.wsgi-httpd.build.v1', layers: [layer], annotations: { component: 'httpd' } });
  t.deepEqual(manifest, {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType: 'application/vnd.wsgi-httpd.build.v1',
    config: emptyConfig.descriptor,
    layers: [layer],
    annotations: { component: 'httpd' },
  });
  const { bytes, digest } = encodeManifest(manifest);
  t.is(bytes.toString(), JSON.stringify(manifest));
  t.is(digest, `sha256:${createHash('sha256').update(bytes).digest('hex')}`);
  t.throws(() => artifactManifest({ layers: [layer] }), { message: /needs an artifactType/ });
  const withConfig = artifactManifest({
    layers: [],
    config: { mediaType: 'application/vnd.wsgi-httpd.config.v1+json', digest: layer.digest, size: 3 },
  });
  t.false('artifactType' in withConfig);
  t.false('annotations' in withConfig);
});

test("withDigest appends digest= and keeps the Location's query byte for byte", (t) => {
  const digest = `sha256:${'c'.repeat(64)}`;
  const state = '_state=ab%2Bc%3D%3D&x=1~2';
  t.is(
    withDigest(new URL(`https://r.io/v2/o/blobs/uploads/u?${state}`), digest).href,
    `https://r.io/v2/o/blobs/uploads/u?${state}&digest=sha256%3A${'c'.repeat(64)}`,
  );
  t.is(withDigest(new URL('http://127.0.0.1:5000/upload/u'), digest).search, `?digest=sha256%3A${'c'.repeat(64)}`);
});

test('registry error bodies are quoted shortly; statuses become typed errors', (t) => {
  const body = Buffer.from(
    JSON.stringify({ errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown\nto registry', detail: 'x' }, { code: 'DENIED' }] }),
  );
  t.deepEqual(registryErrorDetail(body), { codes: ['BLOB_UNKNOWN', 'DENIED'], text: 'BLOB_UNKNOWN: blob unknown to registry; DENIED' });
  t.deepEqual(registryErrorDetail(Buffer.from('<html>')), { codes: [], text: '' });
  const none = { codes: [], text: '' };
  t.true(describeFailure('r.io', 401, none, 'x') instanceof RegistryAuthError);
  const denied = describeFailure('r.io', 403, registryErrorDetail(Buffer.from('{"errors":[{"code":"DENIED","message":"no"}]}')), 'push of x');
  t.true(denied instanceof RegistryAuthError);
  t.is(denied.message, 'registry r.io denied push of x (403 DENIED: no)');
  t.true(describeFailure('r.io', 503, none, 'x') instanceof RegistryServerError);
  t.true(describeFailure('r.io', 429, none, 'x') instanceof RegistryServerError);
  t.true(describeFailure('r.io', 400, { codes: ['DIGEST_INVALID'], text: 'DIGEST_INVALID' }, 'x') instanceof RegistryDigestError);
  const unknown = describeFailure('r.io', 400, { codes: ['MANIFEST_BLOB_UNKNOWN'], text: 'MANIFEST_BLOB_UNKNOWN' }, 'push of manifest');
  t.true(unknown instanceof RegistryProtocolError);
  t.regex(unknown.hint, /push every layer and the config blob before the manifest/);
  t.is(describeFailure('r.io', 405, none, 'x').kind, 'protocol');
});

test('registryFailureLine: one line for any error', (t) => {
  t.is(registryFailureLine(new RegistryServerError('r.io', 500, 'registry r.io failed x\n(500)')), 'registry r.io failed x (500)');
  t.is(registryFailureLine(new UsageError('bad ref', 'fix it')), 'bad ref');
  t.is(registryFailureLine(Object.assign(new Error('ENOSPC: no space left\n  at write'), { name: 'Error' })), 'Error: ENOSPC: no space left');
  t.is(registryFailureLine('weird'), 'weird');
});

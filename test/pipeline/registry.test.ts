/**
 * The OCI registry client against real registries: Debian's docker-registry (distribution 2.8) with TLS from a
 * throwaway CA and htpasswd Basic auth, a plain-HTTP anonymous one (relative upload Locations), and one with token
 * auth against a loopback token service; small scripted HTTP servers for 500s and lying digests; skopeo as a second
 * client. Everything listens on 127.0.0.1 and stops by itself. Every log line, error text and tool output is kept in
 * `captured`, and the last test checks that no password or token is in it.
 *
 * Without docker-registry/htpasswd/openssl (or skopeo for its test) the tests are skipped with the reason, and fail
 * under CI=true.
 */
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { create as createTar } from 'tar';
import {
  artifactManifest,
  emptyConfig,
  encodeManifest,
  isLoopbackHost,
  mediaTypes,
  RegistryAuthError,
  RegistryClient,
  type RegistryClientOptions,
  RegistryDigestError,
  RegistryServerError,
  RegistryTlsError,
  RegistryUnreachableError,
  registryFailureLine,
  sha256Digest,
  sha256DigestOfFile,
} from '../../src/registry/index.js';
import { repoRoot, tsxImport } from '../helpers/cli.js';
import {
  blobDataFile,
  freePort,
  makeHtpasswd,
  makeTestPki,
  missingRegistryTools,
  startRegistry,
  type RegistryInstance,
  type TestPki,
} from '../helpers/registry.js';
import { startTokenServer, type TokenServer } from '../helpers/token-server.js';

const missing = missingRegistryTools();
const skopeo = '/usr/bin/skopeo';

/** Runs when the tools are there; otherwise fails under CI and is skipped (saying why) elsewhere. */
function registryTest(title: string, fn: (t: ExecutionContext) => Promise<void>, also: string[] = []): void {
  const absent = [...missing, ...also];
  if (absent.length === 0) test.serial(title, fn);
  else if (process.env.CI) test.serial(title, (t) => t.fail(`needs ${absent.join(', ')}`));
  else test.skip(`${title} (skipped: needs ${absent.join(', ')})`, () => {});
}

const user = 'wsgi-tester';
const password = `pw-${randomBytes(12).toString('hex')}`;
const tokenUser = 'token-tester';
const tokenPassword = `tpw-${randomBytes(12).toString('hex')}`;
const artifactType = 'application/vnd.wsgi-httpd.test.v1';

let work = '';
let emptyHome = '';
let pki: TestPki;
let secure: RegistryInstance;
let plain: RegistryInstance;
let tokens: TokenServer;
let tokenRegistry: RegistryInstance;
const stops: (() => Promise<void>)[] = [];

/** Every log line, error text and tool output this file produced: none may hold a password or token. */
const captured: string[] = [];
const log = (line: string) => captured.push(line);
function keep(error: unknown): unknown {
  const e = error as Error & { hint?: string };
  captured.push(String(e), e.message ?? '', e.hint ?? '', e.stack ?? '', inspect(e, { depth: 8, showHidden: true }), registryFailureLine(e));
  return error;
}

test.before(async () => {
  if (missing.length > 0) return;
  work = await mkdtemp(join(tmpdir(), 'wsgi-registry-'));
  emptyHome = join(work, 'empty-home');
  await mkdir(emptyHome);
  pki = await makeTestPki(join(work, 'pki'));
  const htpasswd = join(work, 'htpasswd');
  await makeHtpasswd(htpasswd, user, password);
  tokens = await startTokenServer({ dir: work, users: { [tokenUser]: tokenPassword } });
  stops.push(() => tokens.close());
  [secure, plain, tokenRegistry] = await Promise.all([
    startRegistry({ dir: join(work, 'secure'), tls: pki, htpasswd: { file: htpasswd } }),
    startRegistry({ dir: join(work, 'plain'), relativeUrls: true }),
    startRegistry({
      dir: join(work, 'token'),
      token: { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertBundle: tokens.certFile },
    }),
  ]);
  stops.push(
    () => secure.stop(),
    () => plain.stop(),
    () => tokenRegistry.stop(),
  );
});

test.after.always(async () => {
  await Promise.all(stops.map((stop) => stop()));
  if (work) await rm(work, { recursive: true, force: true });
});

/** An environment with no docker config and no proxies, plus `extra`. */
const bareEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ HOME: emptyHome, ...extra });
const credentialEnv = () => bareEnv({ WSGI_HTTPD_REGISTRY_USER: user, WSGI_HTTPD_REGISTRY_PASSWORD: password });
const quick: RegistryClientOptions = { retries: 1, backoffMs: 20, timeoutMs: 10_000, log };

/** A client of the TLS + htpasswd registry, trusting the test CA. */
const secureClient = (repository: string, options: RegistryClientOptions = {}) =>
  new RegistryClient(`${secure.host}/${repository}`, { ...quick, env: credentialEnv(), ca: pki.caPem, ...options });

interface Layer {
  file: string;
  digest: string;
  size: number;
}

/** A real layer: a tar.gz of one file of `bytes` random bytes (random, so gzip cannot shrink it). */
async function makeLayer(name: string, bytes: number): Promise<Layer> {
  const dir = join(work, 'layers', name);
  await mkdir(join(dir, 'tree'), { recursive: true });
  await writeFile(join(dir, 'tree', 'payload.bin'), randomBytes(bytes));
  const file = join(dir, `${name}.tar.gz`);
  await createTar({ file, cwd: join(dir, 'tree'), gzip: true, portable: true }, ['payload.bin']);
  return { file, ...(await sha256DigestOfFile(file)) };
}

function manifestOf(layers: { digest: string; size: number }[]) {
  return artifactManifest({
    artifactType,
    layers: layers.map((l) => ({ mediaType: mediaTypes.ociLayerGzip, digest: l.digest, size: l.size })),
    annotations: { 'org.opencontainers.image.title': 'test' },
  });
}

/** ava's deepEqual describes every byte of a differing Buffer: slow for megabytes, and unreadable. */
function sameBytes(t: ExecutionContext, actual: Buffer, expected: Buffer, message?: string): void {
  t.true(actual.equals(expected), message ?? `${actual.length} bytes differ from the ${expected.length} expected`);
}

function count(haystack: string, needle: string): number {
  return haystack.split(needle).length - 1;
}

async function leftovers(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => name.includes('.partial-'));
}

registryTest('push blobs (chunked and monolithic) and a manifest, then pull them back byte-identical', async (t) => {
  const client = secureClient('layers/roundtrip');
  const big = await makeLayer('big', 3_000_000);
  const small = randomBytes(70_000);
  const chunk = 1024 * 1024;

  const before = secure.output().length;
  const pushedBig = await client.pushBlob(big.file, { chunkSize: chunk });
  t.deepEqual(pushedBig, { digest: big.digest, size: big.size, outcome: 'uploaded' });
  const bigLog = secure.output().slice(before);
  t.is(count(bigLog, '"PATCH /v2/layers/roundtrip/blobs/uploads/'), Math.ceil(big.size / chunk), 'one PATCH per chunk');
  t.is(count(bigLog, `digest=${encodeURIComponent(big.digest)} HTTP/1.1" 201`), 1, 'closed by one PUT ?digest=');

  const middle = secure.output().length;
  const pushedSmall = await client.pushBlob(small);
  t.deepEqual(pushedSmall, { digest: sha256Digest(small), size: small.length, outcome: 'uploaded' });
  const smallLog = secure.output().slice(middle);
  t.is(count(smallLog, '"PATCH '), 0, 'monolithic: no PATCH');
  t.is(count(smallLog, '"POST /v2/layers/roundtrip/blobs/uploads/ HTTP/1.1" 202'), 1);
  t.regex(smallLog, /"PUT \/v2\/layers\/roundtrip\/blobs\/uploads\/[^ ]*\?_state=[^ ]*&digest=sha256%3A[0-9a-f]{64} HTTP\/1\.1" 201/);

  t.is((await client.pushBlob(emptyConfig.bytes)).digest, emptyConfig.descriptor.digest);
  for (const digest of [big.digest, pushedSmall.digest, emptyConfig.descriptor.digest]) t.true(await client.hasBlob(digest), digest);
  t.false(await client.hasBlob(sha256Digest(randomBytes(8))));
  t.is((await client.pushBlob(big.file)).outcome, 'exists', 'HEAD finds it: nothing sent again');

  const manifest = manifestOf([pushedBig, pushedSmall]);
  const encoded = encodeManifest(manifest);
  const digest = await client.putManifest('v1', manifest);
  t.is(digest, encoded.digest);
  const byTag = await client.getManifest('v1');
  t.truthy(byTag);
  t.deepEqual(byTag!.bytes, encoded.bytes);
  t.is(byTag!.digest, digest);
  t.is(byTag!.mediaType, mediaTypes.ociManifest);
  t.deepEqual(byTag!.json, manifest);
  t.deepEqual((await client.getManifest(digest))!.bytes, encoded.bytes);
  t.is(await client.getManifest('absent'), undefined);
  t.deepEqual(await client.listTags(), ['v1']);

  const pulled = join(work, 'pulled');
  t.deepEqual(await client.pullBlob(big.digest, join(pulled, 'big.tar.gz'), { expectedSize: big.size }), { digest: big.digest, size: big.size });
  sameBytes(t, await readFile(join(pulled, 'big.tar.gz')), await readFile(big.file));
  t.deepEqual(await client.pullBlob(pushedSmall.digest, join(pulled, 'small')), { digest: pushedSmall.digest, size: small.length });
  sameBytes(t, await readFile(join(pulled, 'small')), small);
  t.is(await client.pullBlob(sha256Digest(randomBytes(8)), join(pulled, 'absent')), undefined);
  t.false(existsSync(join(pulled, 'absent')));
  t.deepEqual(await leftovers(pulled), []);

  const elsewhere = secureClient('layers/mounted');
  t.is((await elsewhere.pushBlob(big.file, { mountFrom: 'layers/roundtrip' })).outcome, 'mounted');
  await elsewhere.pullBlob(big.digest, join(pulled, 'mounted.tar.gz'));
  sameBytes(t, await readFile(join(pulled, 'mounted.tar.gz')), await readFile(big.file));
});

registryTest('a loopback plain-HTTP registry: HTTPS is tried first, then HTTP; relative Locations; anonymous', async (t) => {
  const lines: string[] = [];
  for (const host of [plain.host, `localhost:${plain.port}`]) {
    const client = new RegistryClient(`${host}/plain/layers`, { ...quick, env: bareEnv(), log: (line) => (lines.push(line), log(line)) });
    const layer = randomBytes(300_000);
    const pushed = await client.pushBlob(layer, { chunkSize: 100_000 });
    await client.pushBlob(emptyConfig.bytes);
    const digest = await client.putManifest('v1', manifestOf([pushed]));
    t.is((await client.getManifest('v1'))!.digest, digest);
    const dest = join(work, 'plain-pulled', host.replace(':', '_'));
    await client.pullBlob(pushed.digest, dest);
    sameBytes(t, await readFile(dest), layer);
  }
  t.is(lines.filter((line) => line.endsWith('does not speak TLS; using plain HTTP')).length, 2, lines.join('\n'));
  t.regex(plain.output(), /"PATCH \/v2\/plain\/layers\/blobs\/uploads\//);
});

registryTest('a blob corrupted in the registry storage is refused: typed digest error, no file left', async (t) => {
  const client = secureClient('layers/corrupt');
  const layer = await makeLayer('corrupt', 200_000);
  await client.pushBlob(layer.file);
  const data = blobDataFile(secure.storageDir, layer.digest);
  const handle = await open(data, 'r+');
  try {
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, 1000);
    byte[0] = byte[0]! ^ 0xff;
    await handle.write(byte, 0, 1, 1000);
  } finally {
    await handle.close();
  }
  const dir = join(work, 'corrupt-pull');
  const dest = join(dir, 'layer.tar.gz');
  const error = await t.throwsAsync(client.pullBlob(layer.digest, dest, { expectedSize: layer.size }), { instanceOf: RegistryDigestError });
  keep(error);
  t.is(error!.kind, 'digest');
  t.is(error!.exitCode, 5);
  t.is(error!.expected, layer.digest);
  t.regex(error!.actual, /^sha256:[0-9a-f]{64}$/);
  t.not(error!.actual, layer.digest);
  t.regex(registryFailureLine(error), /^digest mismatch for blob sha256:[0-9a-f]{64} from 127\.0\.0\.1:\d+: expected sha256:/);
  t.false(existsSync(dest));
  t.deepEqual(await leftovers(dir), []);
});

registryTest('wrong or missing credentials: RegistryAuthError, one line, no secret', async (t) => {
  const wrong = `wrong-${randomBytes(8).toString('hex')}`;
  const client = secureClient('layers/auth', { credentials: { username: user, password: wrong } });
  const refused = await t.throwsAsync(client.ping(), { instanceOf: RegistryAuthError });
  keep(refused);
  t.is(refused!.message, `registry ${secure.host} refused the credentials of user "${user}" for GET /v2/`);
  t.regex(refused!.hint, /WSGI_HTTPD_REGISTRY_USER/);
  const pushRefused = await t.throwsAsync(client.pushBlob(randomBytes(10)), { instanceOf: RegistryAuthError });
  keep(pushRefused);
  for (const error of [refused!, pushRefused!]) {
    const text = `${error.message}\n${error.hint}\n${error.stack}\n${inspect(error, { depth: 8, showHidden: true })}`;
    t.false(text.includes(wrong), 'the wrong password is not shown');
    t.false(text.includes(Buffer.from(`${user}:${wrong}`).toString('base64')), 'nor its Basic encoding');
    t.false(error.message.includes('\n'));
  }

  const anonymous = secureClient('layers/auth', { credentials: null });
  const required = await t.throwsAsync(anonymous.hasBlob(sha256Digest('x')), { instanceOf: RegistryAuthError });
  keep(required);
  t.is(required!.message, `registry ${secure.host} requires credentials for HEAD of blob ${sha256Digest('x')} in layers/auth`);
});

registryTest('a registry that is down: RegistryUnreachableError at once, not retried', async (t) => {
  const port = await freePort();
  const lines: string[] = [];
  const client = new RegistryClient(`127.0.0.1:${port}/down`, { env: bareEnv(), retries: 2, log: (line) => (lines.push(line), log(line)) });
  const error = await t.throwsAsync(client.hasBlob(sha256Digest('x')), { instanceOf: RegistryUnreachableError });
  keep(error);
  t.is(error!.code, 'ECONNREFUSED');
  t.is(error!.kind, 'unreachable');
  t.is(registryFailureLine(error), `registry 127.0.0.1:${port} is unreachable (ECONNREFUSED)`);
  t.deepEqual(
    lines.filter((line) => line.includes('retrying')),
    [],
    'a refused connection is final',
  );
});

interface Scripted {
  host: string;
  /** "METHOD /path?query" of every request. */
  requests: string[];
  close(): Promise<void>;
}

/** A loopback HTTP server answering with `handler` (fault injection). */
async function scriptedServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Scripted> {
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => handler(req, res));
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const timer = setTimeout(() => void close(), 120_000);
  timer.unref();
  const close = () =>
    new Promise<void>((resolve) => {
      clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
  stops.push(close);
  return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, requests, close };
}

registryTest('5xx: GET/HEAD retried then RegistryServerError; a failed PUT restarts the whole upload once, never resent alone', async (t) => {
  const down = await scriptedServer((_req, res) =>
    res.writeHead(500, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNKNOWN","message":"boom"}]}'),
  );
  const client = new RegistryClient(`${down.host}/fake`, { ...quick, env: bareEnv(), retries: 2 });
  const error = await t.throwsAsync(client.ping(), { instanceOf: RegistryServerError });
  keep(error);
  t.is(error!.status, 500);
  t.is(error!.message, `registry ${down.host} failed GET /v2/ (500 UNKNOWN: boom)`);
  t.deepEqual(down.requests, ['GET /v2/', 'GET /v2/', 'GET /v2/'], 'the first try and two retries');

  const blob = randomBytes(100);
  const digest = sha256Digest(blob);
  let uploads = 0;
  const flaky = await scriptedServer((req, res) => {
    if (req.method === 'GET' && req.url === '/v2/') return void res.writeHead(200).end('{}');
    if (req.method === 'HEAD') return void res.writeHead(404).end();
    if (req.method === 'POST' && req.url === '/v2/fake/blobs/uploads/') {
      uploads++;
      return void res.writeHead(202, { location: `/upload/${uploads}?_state=s%2B${uploads}`, 'content-length': '0' }).end();
    }
    res.writeHead(503).end();
  });
  const pusher = new RegistryClient(`${flaky.host}/fake`, { ...quick, env: bareEnv(), retries: 2 });
  const failed = await t.throwsAsync(pusher.pushBlob(blob), { instanceOf: RegistryServerError });
  keep(failed);
  t.is(failed!.status, 503);
  const encoded = encodeURIComponent(digest);
  t.deepEqual(flaky.requests, [
    'GET /v2/',
    `HEAD /v2/fake/blobs/${digest}`,
    'POST /v2/fake/blobs/uploads/',
    `PUT /upload/1?_state=s%2B1&digest=${encoded}`,
    'POST /v2/fake/blobs/uploads/',
    `PUT /upload/2?_state=s%2B2&digest=${encoded}`,
  ]);
});

registryTest('a Docker-Content-Digest that is not the sha256 of the bytes is refused (manifest and blob)', async (t) => {
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: mediaTypes.ociManifest, layers: [] }));
  const blob = randomBytes(1000);
  const lie = sha256Digest('something else');
  const liar = await scriptedServer((req, res) => {
    if (req.url === '/v2/') return void res.writeHead(200).end('{}');
    if (req.url === '/v2/fake/manifests/v1')
      return void res.writeHead(200, { 'content-type': mediaTypes.ociManifest, 'docker-content-digest': lie }).end(manifest);
    if (req.url === `/v2/fake/manifests/${lie}`) return void res.writeHead(200, { 'content-type': mediaTypes.ociManifest }).end(manifest);
    if (req.url === `/v2/fake/blobs/${sha256Digest(blob)}`) return void res.writeHead(200, { 'docker-content-digest': lie }).end(blob);
    if (req.url === '/v2/fake/manifests/other' && req.method === 'PUT') return void res.writeHead(201, { 'docker-content-digest': lie }).end();
    res.writeHead(404).end();
  });
  const client = new RegistryClient(`${liar.host}/fake`, { ...quick, env: bareEnv() });
  const byTag = await t.throwsAsync(client.getManifest('v1'), { instanceOf: RegistryDigestError });
  t.is(byTag!.expected, sha256Digest(manifest));
  t.is(byTag!.actual, lie);
  const byDigest = await t.throwsAsync(client.getManifest(lie), { instanceOf: RegistryDigestError });
  t.is(byDigest!.expected, lie);
  t.is(byDigest!.actual, sha256Digest(manifest));
  const dir = join(work, 'liar');
  await t.throwsAsync(client.pullBlob(sha256Digest(blob), join(dir, 'blob')), { instanceOf: RegistryDigestError });
  t.false(existsSync(join(dir, 'blob')));
  t.deepEqual(await leftovers(dir), []);
  await t.throwsAsync(client.putManifest('other', manifest), { instanceOf: RegistryDigestError });
  for (const error of [byTag, byDigest]) keep(error);
});

registryTest('an error text that echoes the password is scrubbed before it leaves the client', async (t) => {
  const echo = await scriptedServer((req, res) => {
    if (req.url === '/v2/' && !req.headers.authorization) return void res.writeHead(401, { 'www-authenticate': 'Basic realm="echo"' }).end();
    const sent = Buffer.from(String(req.headers.authorization).replace(/^Basic /, ''), 'base64').toString();
    if (req.url === '/v2/') return void res.writeHead(200).end('{}');
    res
      .writeHead(403, { 'content-type': 'application/json' })
      .end(JSON.stringify({ errors: [{ code: 'DENIED', message: `no access for ${sent}` }] }));
  });
  const lines: string[] = [];
  const client = new RegistryClient(`${echo.host}/fake`, { ...quick, env: credentialEnv(), log: (line) => (lines.push(line), log(line)) });
  const error = await t.throwsAsync(client.getManifest('v1'), { instanceOf: RegistryAuthError });
  keep(error);
  t.is(error!.message, `registry ${echo.host} denied GET of manifest fake:v1 (403 DENIED: no access for ${user}:***)`);
  t.false(inspect(error, { depth: 8, showHidden: true }).includes(password));
});

registryTest('credentials go to the registry origin and the realm only: a blob redirected elsewhere is fetched without them', async (t) => {
  const blob = randomBytes(5000);
  const digest = sha256Digest(blob);
  const storageHeaders: (string | undefined)[] = [];
  const storage = await scriptedServer((req, res) => {
    storageHeaders.push(req.headers.authorization);
    res.writeHead(200, { 'content-length': String(blob.length) }).end(blob);
  });
  const front = await scriptedServer((req, res) => {
    if (!req.headers.authorization) return void res.writeHead(401, { 'www-authenticate': 'Basic realm="front"' }).end();
    if (req.url === '/v2/') return void res.writeHead(200).end('{}');
    if (req.url === `/v2/fake/blobs/${digest}`) return void res.writeHead(307, { location: `http://${storage.host}/data/${digest}?sig=abc` }).end();
    res.writeHead(404).end();
  });
  const client = new RegistryClient(`${front.host}/fake`, { ...quick, env: credentialEnv() });
  const dest = join(work, 'redirected', 'blob');
  t.deepEqual(await client.pullBlob(digest, dest), { digest, size: blob.length });
  sameBytes(t, await readFile(dest), blob);
  t.deepEqual(storageHeaders, [undefined], 'no Authorization to the storage host');
  t.deepEqual(front.requests, ['GET /v2/', `GET /v2/fake/blobs/${digest}`], 'the probe learnt Basic: the blob GET carried it at once');

  const closed = await freePort();
  const realmDown = await scriptedServer((_req, res) =>
    res.writeHead(401, { 'www-authenticate': `Bearer realm="http://127.0.0.1:${closed}/token",service="svc"` }).end(),
  );
  const error = await t.throwsAsync(new RegistryClient(`${realmDown.host}/fake`, { ...quick, env: credentialEnv() }).hasBlob(digest), {
    instanceOf: RegistryUnreachableError,
  });
  keep(error);
  t.is(error!.message, `registry 127.0.0.1:${closed} is unreachable (ECONNREFUSED)`, 'names the token service, not the registry');
});

registryTest('two concurrent pushes of the same blobs and manifest both succeed', async (t) => {
  const a = await makeLayer('race-a', 1_500_000);
  const b = randomBytes(50_000);
  const pushAll = async (client: RegistryClient) => {
    const [pushedA, pushedB] = await Promise.all([client.pushBlob(a.file, { chunkSize: 512 * 1024 }), client.pushBlob(b)]);
    await client.pushBlob(emptyConfig.bytes);
    return { outcomes: [pushedA.outcome, pushedB.outcome], digest: await client.putManifest('same', manifestOf([pushedA, pushedB])) };
  };
  const [one, two] = await Promise.all([pushAll(secureClient('race/layers')), pushAll(secureClient('race/layers'))]);
  t.log(`outcomes: ${one.outcomes.join(',')} / ${two.outcomes.join(',')}`);
  t.is(one.digest, two.digest);
  const reader = secureClient('race/layers');
  t.is((await reader.getManifest('same'))!.digest, one.digest);
  await reader.pullBlob(a.digest, join(work, 'race', 'a'));
  sameBytes(t, await readFile(join(work, 'race', 'a')), await readFile(a.file));
  await reader.pullBlob(sha256Digest(b), join(work, 'race', 'b'));
  sameBytes(t, await readFile(join(work, 'race', 'b')), b);
});

registryTest('Bearer tokens: realm, service and scope from the challenge, Basic credentials to the realm, one token per scope', async (t) => {
  const first = tokens.requests.length;
  const logBefore = tokenRegistry.output().length;
  const client = new RegistryClient(`${tokenRegistry.host}/bearer/layers`, {
    ...quick,
    env: bareEnv({ WSGI_HTTPD_REGISTRY_USER: tokenUser, WSGI_HTTPD_REGISTRY_PASSWORD: tokenPassword }),
  });
  await client.ping();
  const layer = await makeLayer('bearer', 600_000);
  const pushed = await client.pushBlob(layer.file, { chunkSize: 200_000 });
  const small = await client.pushBlob(randomBytes(1000));
  await client.pushBlob(emptyConfig.bytes);
  const digest = await client.putManifest('v1', manifestOf([pushed, small]));
  t.is((await client.getManifest('v1'))!.digest, digest);
  t.true(await client.hasBlob(pushed.digest));
  await client.pullBlob(pushed.digest, join(work, 'bearer', 'layer'));
  sameBytes(t, await readFile(join(work, 'bearer', 'layer')), await readFile(layer.file));

  const mine = tokens.requests.slice(first);
  t.is(mine.length, client.tokenRequests);
  t.deepEqual(
    mine.map((r) => r.scopes.join(' ')),
    ['', 'repository:bearer/layers:pull', 'repository:bearer/layers:pull,push'],
    'one token for the ping, one per scope after that, reused',
  );
  for (const request of mine) {
    t.is(request.status, 200);
    t.is(request.service, tokens.service);
    t.is(Buffer.from(String(request.authorization).replace(/^Basic /, ''), 'base64').toString(), `${tokenUser}:${tokenPassword}`);
  }
  const registryRequests = tokenRegistry
    .output()
    .slice(logBefore)
    .split('\n')
    .filter((line) => /"(GET|HEAD|POST|PATCH|PUT) \/v2\/bearer\/layers\//.test(line) && !/" 401 /.test(line)).length;
  t.true(registryRequests >= 12, `many authorized registry requests (${registryRequests}) on three tokens`);

  const wrong = new RegistryClient(`${tokenRegistry.host}/bearer/layers`, {
    ...quick,
    env: bareEnv({ WSGI_HTTPD_REGISTRY_USER: tokenUser, WSGI_HTTPD_REGISTRY_PASSWORD: 'not-the-password' }),
  });
  const refused = await t.throwsAsync(wrong.ping(), { instanceOf: RegistryAuthError });
  keep(refused);
  t.regex(
    refused!.message,
    new RegExp(
      `^token service 127\\.0\\.0\\.1:\\d+ \\(for registry ${tokenRegistry.host}\\) refused the credentials of user "${tokenUser}" \\(401\\)$`,
    ),
  );

  const anonymous = new RegistryClient(`${tokenRegistry.host}/bearer/layers`, { ...quick, env: bareEnv(), credentials: null });
  const denied = await t.throwsAsync(anonymous.hasBlob(pushed.digest), { instanceOf: RegistryAuthError });
  keep(denied);
  t.is(
    denied!.message,
    `registry ${tokenRegistry.host} refused anonymous access for HEAD of blob ${pushed.digest} in bearer/layers (insufficient_scope)`,
  );
});

registryTest('credentials from DOCKER_CONFIG/config.json and ~/.docker/config.json; the env variables win', async (t) => {
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  const dockerDir = join(work, 'docker-config');
  await mkdir(dockerDir, { recursive: true });
  await writeFile(
    join(dockerDir, 'config.json'),
    JSON.stringify({ auths: { [`https://${secure.host}/v1/`]: { auth: b64(`${user}:${password}`) } } }),
  );
  await t.notThrowsAsync(secureClient('layers/config', { env: bareEnv({ DOCKER_CONFIG: dockerDir }) }).ping(), 'auth from DOCKER_CONFIG');

  const home = join(work, 'home-with-docker');
  await mkdir(join(home, '.docker'), { recursive: true });
  await writeFile(join(home, '.docker', 'config.json'), JSON.stringify({ auths: { [secure.host]: { username: user, password } } }));
  await t.notThrowsAsync(secureClient('layers/config', { env: { HOME: home } }).ping(), 'username/password from ~/.docker');

  await writeFile(join(dockerDir, 'config.json'), JSON.stringify({ auths: { [secure.host]: { auth: b64(`${user}:stale-password`) } } }));
  await t.throwsAsync(secureClient('layers/config', { env: bareEnv({ DOCKER_CONFIG: dockerDir }) }).ping(), { instanceOf: RegistryAuthError });
  await t.notThrowsAsync(
    secureClient('layers/config', {
      env: bareEnv({ DOCKER_CONFIG: dockerDir, WSGI_HTTPD_REGISTRY_USER: user, WSGI_HTTPD_REGISTRY_PASSWORD: password }),
    }).ping(),
    'the env variables win over a stale config.json',
  );
});

registryTest('NODE_EXTRA_CA_CERTS: a process started with it trusts the registry; without it, a typed TLS error', async (t) => {
  const script = join(work, 'ping-child.mts');
  await writeFile(
    script,
    [
      `import { RegistryClient } from ${JSON.stringify(join(repoRoot, 'src', 'registry', 'index.ts'))};`,
      'const client = new RegistryClient(process.argv[2], { timeoutMs: 10000, log: (line) => console.log(`log: ${line}`) });',
      'try {',
      '  await client.ping();',
      "  console.log('ping ok');",
      '} catch (error) {',
      '  console.log(JSON.stringify({ name: error.name, kind: error.kind, code: error.code, message: error.message, hint: error.hint }));',
      '  process.exitCode = 1;',
      '}',
    ].join('\n'),
  );
  const { NODE_EXTRA_CA_CERTS: _ignored, ...parentEnv } = process.env;
  const noProxy = Object.fromEntries(['HTTPS_PROXY', 'HTTP_PROXY', 'ALL_PROXY', 'https_proxy', 'http_proxy', 'all_proxy'].map((name) => [name, '']));
  const childEnv = { ...parentEnv, ...credentialEnv(), ...noProxy };
  const ping = (env: NodeJS.ProcessEnv) => {
    const result = spawnSync(process.execPath, [tsxImport, script, `${secure.host}/layers/child`], {
      cwd: repoRoot,
      env,
      encoding: 'utf8',
      timeout: 60_000,
    });
    captured.push(result.stdout, result.stderr);
    return result;
  };
  const trusted = ping({ ...childEnv, NODE_EXTRA_CA_CERTS: pki.caFile });
  t.is(trusted.status, 0, trusted.stdout + trusted.stderr);
  t.regex(trusted.stdout, /^ping ok$/m);

  const untrusted = ping(childEnv);
  t.is(untrusted.status, 1, untrusted.stdout + untrusted.stderr);
  const failure = JSON.parse(untrusted.stdout.trim().split('\n').at(-1)!) as {
    name: string;
    kind: string;
    code: string;
    message: string;
    hint: string;
  };
  t.is(failure.name, 'RegistryTlsError');
  t.is(failure.kind, 'tls');
  t.is(failure.code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  t.regex(failure.hint, /NODE_EXTRA_CA_CERTS/);
});

registryTest('TLS: a certificate from an unknown CA is refused with a typed error; insecure skips the check', async (t) => {
  const untrusted = new RegistryClient(`${secure.host}/layers/tls`, { ...quick, env: credentialEnv() });
  const error = await t.throwsAsync(untrusted.ping(), { instanceOf: RegistryTlsError });
  keep(error);
  t.is(error!.message, `TLS with registry ${secure.host} failed (UNABLE_TO_VERIFY_LEAF_SIGNATURE: unable to verify the first certificate)`);
  await t.notThrowsAsync(new RegistryClient(`${secure.host}/layers/tls`, { ...quick, env: credentialEnv(), insecure: true }).ping());
});

registryTest('plain HTTP is refused for a non-loopback host name without insecure, used with it', async (t) => {
  const name = hostname().toLowerCase();
  const addresses = await lookup(name, { all: true }).catch(() => []);
  const loopbackOnly = addresses.length > 0 && addresses.every((a) => isLoopbackHost(a.address.includes(':') ? `[${a.address}]` : a.address));
  if (isLoopbackHost(name) || !loopbackOnly) {
    // This machine's name is the only non-loopback name that reaches the test registry without touching DNS.
    const why = `this machine's name ${name} does not resolve to loopback only (${addresses.map((a) => a.address).join(', ') || 'unresolved'})`;
    if (process.env.CI) t.fail(why);
    else t.log(`not checked: ${why}`);
    return;
  }
  const before = plain.output().length;
  const strict = new RegistryClient(`${name}:${plain.port}/plain/named`, { ...quick, env: bareEnv() });
  const refused = await t.throwsAsync(strict.ping(), { instanceOf: RegistryTlsError });
  keep(refused);
  t.regex(refused!.message, /wrong version number/);
  t.regex(refused!.hint, /--insecure-registry/);
  t.false(plain.output().slice(before).includes('"GET /v2/'), 'no HTTP request reached the registry');

  const lines: string[] = [];
  const insecure = new RegistryClient(`${name}:${plain.port}/plain/named`, {
    ...quick,
    env: bareEnv(),
    insecure: true,
    log: (line) => lines.push(line),
  });
  await insecure.ping();
  t.deepEqual(lines, [`registry ${name}:${plain.port}: does not speak TLS; using plain HTTP`]);

  // The same name on the TLS registry: trusted CA, but the certificate is for 127.0.0.1/localhost only.
  const wrongName = new RegistryClient(`${name}:${secure.port}/layers/named`, { ...quick, env: credentialEnv(), ca: pki.caPem });
  const mismatch = await t.throwsAsync(wrongName.ping(), { instanceOf: RegistryTlsError });
  keep(mismatch);
  t.is(mismatch!.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
});

registryTest(
  'skopeo reads the manifest we pushed, and its copy to another repository stays pullable by our client',
  async (t) => {
    const client = secureClient('skopeo/source');
    const layer = await makeLayer('skopeo', 250_000);
    const pushed = await client.pushBlob(layer.file);
    await client.pushBlob(emptyConfig.bytes);
    const manifest = encodeManifest(manifestOf([pushed]));
    await client.putManifest('v1', manifest.bytes);

    const certDir = join(work, 'skopeo-certs');
    await mkdir(certDir, { recursive: true });
    await copyFile(pki.caFile, join(certDir, 'ca.crt'));
    const authFile = join(work, 'skopeo-auth.json');
    await writeFile(authFile, JSON.stringify({ auths: { [secure.host]: { auth: Buffer.from(`${user}:${password}`).toString('base64') } } }), {
      mode: 0o600,
    });
    const env = { ...process.env, HOME: emptyHome };
    const run = (args: string[]) => {
      const result = spawnSync(skopeo, args, { env, encoding: 'utf8', timeout: 120_000 });
      captured.push(result.stdout, result.stderr);
      t.is(result.status, 0, `skopeo ${args[0]}: ${result.stderr}`);
      return result.stdout;
    };
    const raw = run(['inspect', '--raw', '--authfile', authFile, '--cert-dir', certDir, `docker://${secure.host}/skopeo/source:v1`]);
    t.is(raw.trim(), manifest.bytes.toString());

    run([
      '--insecure-policy',
      'copy',
      '--src-authfile',
      authFile,
      '--dest-authfile',
      authFile,
      '--src-cert-dir',
      certDir,
      '--dest-cert-dir',
      certDir,
      `docker://${secure.host}/skopeo/source:v1`,
      `docker://${secure.host}/skopeo/copy:v1`,
    ]);
    const copy = secureClient('skopeo/copy');
    const copied = await copy.getManifest('v1');
    t.truthy(copied);
    t.is(copied!.digest, manifest.digest, 'skopeo kept the manifest byte for byte');
    await copy.pullBlob(pushed.digest, join(work, 'skopeo-pulled', 'layer'), { expectedSize: pushed.size });
    sameBytes(t, await readFile(join(work, 'skopeo-pulled', 'layer')), await readFile(layer.file));
    t.true(await copy.hasBlob(emptyConfig.descriptor.digest));
  },
  existsSync(skopeo) ? [] : [`${skopeo} (apt-get install skopeo)`],
);

registryTest('no password, Basic encoding or token in anything captured (log lines, errors, tool output)', async (t) => {
  const secrets = [
    password,
    tokenPassword,
    Buffer.from(`${user}:${password}`).toString('base64'),
    Buffer.from(`${tokenUser}:${tokenPassword}`).toString('base64'),
    ...tokens.issued,
  ];
  t.true(tokens.issued.length >= 3, 'tokens were issued, so the check below means something');
  const text = captured.join('\n');
  t.true(text.includes(`credentials of user "${user}" from WSGI_HTTPD_REGISTRY_USER/WSGI_HTTPD_REGISTRY_PASSWORD`), 'log lines were captured');
  t.true(text.includes('RegistryAuthError'), 'errors were captured');
  for (const secret of secrets) t.false(text.includes(secret), `a secret (${secret.length} characters) appears in the captured output`);
});

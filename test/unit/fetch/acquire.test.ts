import test from 'ava';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ChecksumError, DownloadError, UsageError } from '../../../src/errors.js';
import { acquireArtifact, findLocal, missingFor, offlineError, type AcquireOptions } from '../../../src/fetch/acquire.js';
import { defaultCacheDir, downloadCachePath } from '../../../src/fetch/cache.js';
import { indexSourceDirs } from '../../../src/fetch/sources.js';
import { startLoopbackServer } from '../../helpers/loopback-server.js';
import { fast, filesUnder, makeFixture, sha256, type Fixture } from './fixtures.js';

const path = '/pkg/pkg-1.0.tar.gz';

function options(fx: Fixture, serverUrl: string, extra: Partial<AcquireOptions> = {}): AcquireOptions {
  return {
    component: 'pkg',
    version: '1.0',
    artifacts: [{ file: fx.file, sha256: fx.sha256, urls: [`${serverUrl}${path}`] }],
    mirrorPath: 'pkg/{file}',
    cacheDir: fx.cacheDir,
    download: fast,
    ...extra,
  };
}

const cached = (fx: Fixture) => join('downloads', fx.sha256, fx.file);

test('defaultCacheDir and downloadCachePath', (t) => {
  t.is(defaultCacheDir({ WSGI_HTTPD_CACHE_DIR: '/x/cache' }), '/x/cache');
  t.regex(defaultCacheDir({}), /wsgi-httpd$/);
  const sha = 'a'.repeat(64);
  t.is(downloadCachePath('/c', sha, 'httpd-2.4.68.tar.bz2'), `/c/downloads/${sha}/httpd-2.4.68.tar.bz2`);
  t.throws(() => downloadCachePath('/c', sha, '../x'));
  t.throws(() => downloadCachePath('/c', 'nothex', 'x'));
});

test('downloads into the content-addressed cache, then serves from the cache', async (t) => {
  const fx = makeFixture(t);
  const server = await startLoopbackServer({ root: fx.root });
  t.teardown(() => server.close());
  const first = await acquireArtifact(options(fx, server.url));
  t.is(first.origin, `${server.url}${path}`);
  t.is(first.path, downloadCachePath(fx.cacheDir, fx.sha256, fx.file));
  const second = await acquireArtifact(options(fx, server.url));
  t.is(second.origin, 'cache');
  t.is(server.requests.length, 1);
  t.deepEqual(filesUnder(fx.cacheDir), [cached(fx)]);
});

test('a corrupt cache file is deleted and fetched again', async (t) => {
  const fx = makeFixture(t);
  const server = await startLoopbackServer({ root: fx.root });
  t.teardown(() => server.close());
  const target = downloadCachePath(fx.cacheDir, fx.sha256, fx.file);
  mkdirSync(join(target, '..'), { recursive: true });
  writeFileSync(target, 'bit rot');
  const outcomes: string[] = [];
  const result = await acquireArtifact(options(fx, server.url, { onAttempt: (a) => outcomes.push(a.outcome) }));
  t.is(result.origin, `${server.url}${path}`);
  t.regex(outcomes[0]!, /corrupt cache file deleted/);
  t.true(readFileSync(target).equals(fx.body));
  t.deepEqual(filesUnder(fx.cacheDir), [cached(fx)]);
});

test('offline with an empty cache: lists the missing file and sha256, opens no connection', async (t) => {
  const fx = makeFixture(t);
  const server = await startLoopbackServer({ root: fx.root });
  t.teardown(() => server.close());
  const error = await t.throwsAsync(acquireArtifact(options(fx, server.url, { offline: true, mirrors: [server.url] })), {
    instanceOf: DownloadError,
  });
  t.true(error!.message.includes(fx.file));
  t.true(error!.message.includes(fx.sha256));
  t.regex(error!.message, /offline/);
  t.regex(error!.hint, /--sources DIR/);
  t.true(error!.hint.includes(downloadCachePath(fx.cacheDir, fx.sha256, fx.file)));
  t.is(server.requests.length, 0);
  t.deepEqual(filesUnder(fx.cacheDir), []);
});

test('offlineError lists every component at once; findLocal finds nothing without network', async (t) => {
  const fx = makeFixture(t);
  const other = {
    component: 'dep',
    version: '2.0',
    artifacts: [
      { file: 'dep-2.0.tar.bz2', sha256: 'b'.repeat(64), urls: [] },
      { file: 'dep-2.0.tar.gz', sha256: 'c'.repeat(64), urls: [] },
    ],
    cacheDir: fx.cacheDir,
  };
  t.is(await findLocal({ ...other, mirrorPath: 'dep/{file}' }), undefined);
  const error = offlineError([missingFor(options(fx, 'http://127.0.0.1:9')), missingFor(other)]);
  t.regex(error.message, /pkg 1\.0: pkg-1\.0\.tar\.gz \(sha256 [0-9a-f]{64}\)/);
  t.regex(error.message, /dep 2\.0: one of dep-2\.0\.tar\.bz2 \(sha256 b{64}\), dep-2\.0\.tar\.gz \(sha256 c{64}\)/);
});

test('--sources: a renamed file is found by sha256 and copied into the cache; no connection', async (t) => {
  const fx = makeFixture(t);
  const server = await startLoopbackServer({ root: fx.root });
  t.teardown(() => server.close());
  const sources = join(fx.dir, 'sources');
  mkdirSync(join(sources, 'deep', 'er'), { recursive: true });
  const renamed = join(sources, 'deep', 'er', 'pkg_1.0.orig.tar.gz');
  copyFileSync(join(fx.root, 'pkg', fx.file), renamed);
  writeFileSync(join(sources, 'README'), 'not an archive');
  const index = await indexSourceDirs([sources]);
  t.is(index.get(fx.sha256), renamed);
  t.is(index.size, 1);
  const result = await acquireArtifact(options(fx, server.url, { sourceIndex: index, offline: true }));
  t.is(result.origin, `sources:${renamed}`);
  t.true(readFileSync(result.path).equals(fx.body));
  t.is(server.requests.length, 0);
  t.deepEqual(filesUnder(fx.cacheDir), [cached(fx)]);
});

test('--sources: a missing directory is a UsageError', async (t) => {
  const fx = makeFixture(t);
  await t.throwsAsync(indexSourceDirs([join(fx.dir, 'nope')]), { instanceOf: UsageError, message: /does not exist/ });
});

test('--sources: any artifact of the release is accepted (the second one here)', async (t) => {
  const fx = makeFixture(t);
  const sources = join(fx.dir, 'sources');
  mkdirSync(sources);
  copyFileSync(join(fx.root, 'pkg', fx.file), join(sources, 'whatever'));
  const opts = options(fx, 'http://127.0.0.1:9', { offline: true, sourceIndex: await indexSourceDirs([sources]) });
  opts.artifacts = [{ file: 'pkg-1.0.tar.bz2', sha256: 'd'.repeat(64), urls: [] }, ...opts.artifacts];
  const result = await acquireArtifact(opts);
  t.is(result.artifact.file, fx.file);
  t.deepEqual(filesUnder(fx.cacheDir), [cached(fx)]);
});

test('file:// mirror with the upstream layout', async (t) => {
  const fx = makeFixture(t);
  const server = await startLoopbackServer({ root: fx.root });
  t.teardown(() => server.close());
  const mirror = pathToFileURL(fx.root).href; // <root>/pkg/<file> = mirrorPath "pkg/{file}"
  const result = await acquireArtifact(options(fx, server.url, { mirrors: [mirror], offline: true }));
  t.is(result.origin, `${mirror}/pkg/${fx.file}`);
  t.true(readFileSync(result.path).equals(fx.body));
  t.is(server.requests.length, 0);
  t.deepEqual(filesUnder(fx.cacheDir), [cached(fx)]);
});

test('http mirror first, upstream after it: a mirror 404 falls back to upstream', async (t) => {
  const fx = makeFixture(t);
  const mirror = await startLoopbackServer();
  const upstream = await startLoopbackServer({ root: fx.root });
  t.teardown(() => Promise.all([mirror.close(), upstream.close()]));
  const result = await acquireArtifact(options(fx, upstream.url, { mirrors: [`${mirror.url}/apache/`] }));
  t.deepEqual(mirror.requests, [`GET /apache/pkg/${fx.file}`]);
  t.is(result.origin, `${upstream.url}${path}`);
});

test('a tampered mirror and a good upstream: good bytes; all bad: ChecksumError and an empty cache', async (t) => {
  const fx = makeFixture(t);
  const bad = await startLoopbackServer({
    handlers: { [`/pkg/${fx.file}`]: (_req, res) => (res.writeHead(200, { 'content-length': 4 }).end('evil'), true) },
  });
  const good = await startLoopbackServer({ root: fx.root });
  t.teardown(() => Promise.all([bad.close(), good.close()]));
  const ok = await acquireArtifact(options(fx, good.url, { mirrors: [bad.url] }));
  t.is(ok.origin, `${good.url}${path}`);

  const fx2 = makeFixture(t);
  const error = await t.throwsAsync(acquireArtifact(options(fx2, bad.url, { mirrors: [bad.url] })), { instanceOf: ChecksumError });
  t.is(error!.actual, sha256(Buffer.from('evil')));
  t.true(error!.hint.includes(bad.url));
  t.deepEqual(filesUnder(fx2.cacheDir), []);
});

test('every source down: DownloadError naming each URL', async (t) => {
  const fx = makeFixture(t);
  const server = await startLoopbackServer({ handlers: { [path]: (_req, res) => (res.writeHead(502).end(), true) } });
  t.teardown(() => server.close());
  const opts = options(fx, server.url, { download: { ...fast, retries: 1 } });
  const error = await t.throwsAsync(acquireArtifact(opts), { instanceOf: DownloadError });
  t.true(error!.message.includes(`${server.url}${path}: 502, 502`), error!.message);
  t.regex(error!.hint, /wsgi-toolchain fetch/);
  t.deepEqual(filesUnder(fx.cacheDir), []);
});

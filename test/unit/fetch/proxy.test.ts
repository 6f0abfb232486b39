import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { DownloadError } from '../../../src/errors.js';
import { downloadVerified } from '../../../src/fetch/download.js';
import { isNoProxy, proxyForUrl } from '../../../src/fetch/proxy.js';
import { startLoopbackServer } from '../../helpers/loopback-server.js';
import { fast, filesUnder, makeFixture } from './fixtures.js';
import { startLoopbackProxy } from './proxy-server.js';
import { requiring } from '../../helpers/requires.js';

const path = '/pkg/pkg-1.0.tar.gz';

test('proxyForUrl: scheme, lower case first, ALL_PROXY, bare host:port', (t) => {
  t.is(proxyForUrl('https://a.example/x', { HTTPS_PROXY: 'http://p:3128' })?.href, 'http://p:3128/');
  t.is(proxyForUrl('https://a.example/x', { https_proxy: 'http://low:1', HTTPS_PROXY: 'http://up:2' })?.host, 'low:1');
  t.is(proxyForUrl('http://a.example/x', { HTTPS_PROXY: 'http://p:3128' }), undefined);
  t.is(proxyForUrl('http://a.example/x', { http_proxy: 'p:8080' })?.href, 'http://p:8080/');
  t.is(proxyForUrl('http://a.example/x', { ALL_PROXY: 'http://all:1' })?.host, 'all:1');
  t.is(proxyForUrl('http://a.example/x', { HTTP_PROXY: '' }), undefined);
  t.is(proxyForUrl('file:///x', { HTTP_PROXY: 'http://p:1' }), undefined);
  t.throws(() => proxyForUrl('http://a.example/x', { HTTP_PROXY: 'socks5://p:1' }), { message: /unsupported proxy scheme/ });
});

test('NO_PROXY: host, suffix, leading dot, wildcard, port, CIDR, IPv6', (t) => {
  const u = (s: string) => new URL(s);
  t.true(isNoProxy(u('https://archive.apache.org/x'), 'apache.org'));
  t.true(isNoProxy(u('https://apache.org/x'), 'apache.org'));
  t.false(isNoProxy(u('https://notapache.org/x'), 'apache.org'));
  t.true(isNoProxy(u('https://dlcdn.apache.org/x'), '.apache.org'));
  t.true(isNoProxy(u('https://dlcdn.apache.org/x'), '*.apache.org'));
  t.true(isNoProxy(u('https://ANY.host/x'), 'foo, *'));
  t.true(isNoProxy(u('http://mirror.local:8080/x'), 'mirror.local:8080'));
  t.false(isNoProxy(u('http://mirror.local:9090/x'), 'mirror.local:8080'));
  t.true(isNoProxy(u('https://mirror.local/x'), 'mirror.local:443'));
  t.true(isNoProxy(u('http://10.1.2.3/x'), '10.0.0.0/8'));
  t.false(isNoProxy(u('http://11.1.2.3/x'), '10.0.0.0/8'));
  t.true(isNoProxy(u('http://[::1]:8080/x'), '::1'));
  t.true(isNoProxy(u('http://[::1]:8080/x'), '[::1]:8080'));
  t.true(isNoProxy(u('http://Example.COM/x'), 'example.com'));
  t.false(isNoProxy(u('http://example.com/x'), ''));
  t.false(isNoProxy(u('http://example.com/x'), undefined));
});

test('http through a forward proxy (absolute URI)', async (t) => {
  const fx = makeFixture(t);
  const server = await startLoopbackServer({ root: fx.root });
  const proxy = await startLoopbackProxy();
  t.teardown(() => Promise.all([server.close(), proxy.close()]));
  const dest = join(fx.cacheDir, fx.file);
  await downloadVerified({ ...fast, env: { HTTP_PROXY: proxy.url }, urls: [`${server.url}${path}`], sha256: fx.sha256, dest });
  t.deepEqual(proxy.seen, [`GET ${server.url}${path}`]);
  t.deepEqual(server.requests, [`GET ${path}`]);
  t.true(readFileSync(dest).equals(fx.body));
});

test('NO_PROXY is honoured: direct connection, the proxy sees nothing', async (t) => {
  const fx = makeFixture(t);
  const server = await startLoopbackServer({ root: fx.root });
  const proxy = await startLoopbackProxy();
  t.teardown(() => Promise.all([server.close(), proxy.close()]));
  const dest = join(fx.cacheDir, fx.file);
  await downloadVerified({
    ...fast,
    env: { http_proxy: proxy.url, HTTPS_PROXY: proxy.url, no_proxy: 'localhost,127.0.0.1' },
    urls: [`${server.url}${path}`],
    sha256: fx.sha256,
    dest,
  });
  t.deepEqual(proxy.seen, []);
  t.deepEqual(server.requests, [`GET ${path}`]);
  t.true(readFileSync(dest).equals(fx.body));
});

test('a dead proxy is reported as a download failure (not a crash)', async (t) => {
  const fx = makeFixture(t);
  const proxy = await startLoopbackProxy();
  await proxy.close();
  const dest = join(fx.cacheDir, fx.file);
  const error = await t.throwsAsync(
    downloadVerified({ ...fast, retries: 0, env: { HTTPS_PROXY: proxy.url }, urls: ['https://127.0.0.1:9/x.tar.gz'], sha256: fx.sha256, dest }),
    { instanceOf: DownloadError },
  );
  t.regex(error!.message, /ECONNREFUSED/);
  t.regex(error!.hint, /HTTPS_PROXY/);
});

test('proxy credentials in the proxy URL: sent to the proxy as Basic Proxy-Authorization, not to the origin', async (t) => {
  const fx = makeFixture(t);
  const server = await startLoopbackServer({ root: fx.root });
  const proxy = await startLoopbackProxy({ auth: 'us er:p@ss' });
  t.teardown(() => Promise.all([server.close(), proxy.close()]));
  const withAuth = proxy.url.replace('http://', 'http://us%20er:p%40ss@');
  const dest = join(fx.cacheDir, fx.file);
  await downloadVerified({ ...fast, env: { HTTP_PROXY: withAuth }, urls: [`${server.url}${path}`], sha256: fx.sha256, dest });
  t.deepEqual(proxy.seen, [`GET ${server.url}${path}`]);
  t.is(server.requestHeaders[0]!['proxy-authorization'], undefined);
  t.true(readFileSync(dest).equals(fx.body));
});

test('CONNECT without the proxy credentials: a DownloadError naming the proxy, the target and the 407; with them the tunnel is opened', async (t) => {
  const fx = makeFixture(t);
  const proxy = await startLoopbackProxy({ auth: 'user:secret' });
  t.teardown(() => proxy.close());
  const dest = join(fx.cacheDir, fx.file);
  const error = await t.throwsAsync(
    downloadVerified({ ...fast, retries: 0, env: { HTTPS_PROXY: proxy.url }, urls: ['https://127.0.0.1:9/x.tar.gz'], sha256: fx.sha256, dest }),
    { instanceOf: DownloadError },
  );
  t.regex(error!.message, /proxy 127\.0\.0\.1:\d+ refused CONNECT 127\.0\.0\.1:9 with HTTP 407/);
  t.deepEqual(proxy.seen, ['CONNECT 127.0.0.1:9 407']);
  t.deepEqual(filesUnder(fx.cacheDir), []);

  // With the credentials the proxy accepts the CONNECT (port 9 has nothing behind it, so the download still fails).
  const withAuth = proxy.url.replace('http://', 'http://user:secret@');
  await t.throwsAsync(
    downloadVerified({ ...fast, retries: 0, env: { HTTPS_PROXY: withAuth }, urls: ['https://127.0.0.1:9/x.tar.gz'], sha256: fx.sha256, dest }),
    { instanceOf: DownloadError },
  );
  t.deepEqual(proxy.seen, ['CONNECT 127.0.0.1:9 407', 'CONNECT 127.0.0.1:9']);
});

test('a proxy that accepts the connection but never answers CONNECT is given up after the connect timeout', async (t) => {
  const fx = makeFixture(t);
  const held = new Set<Socket>();
  let connections = 0;
  const silent = createTcpServer((socket) => {
    connections++;
    held.add(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(async () => {
    for (const socket of held) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });
  const proxyUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
  const dest = join(fx.cacheDir, fx.file);
  const error = await t.throwsAsync(
    downloadVerified({
      ...fast,
      retries: 1,
      timeouts: { connect: 200, response: 60_000, idle: 60_000 },
      env: { HTTPS_PROXY: proxyUrl },
      urls: ['https://127.0.0.1:9/x.tar.gz'],
      sha256: fx.sha256,
      dest,
    }),
    { instanceOf: DownloadError },
  );
  t.regex(error!.message, /x\.tar\.gz: ETIMEDOUT, ETIMEDOUT/);
  // Both attempts reached the proxy (the server may see the second accept a moment after the client gave up).
  for (let i = 0; i < 100 && connections < 2; i++) await new Promise((resolve) => setTimeout(resolve, 20));
  t.is(connections, 2);
});

function selfSignedCert(dir: string): { key: Buffer; cert: Buffer } | undefined {
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
  } catch {
    return undefined;
  }
}

const opensslMissing = spawnSync('openssl', ['version']).status === 0 ? undefined : 'openssl is not installed (Debian: openssl)';

requiring(opensslMissing)('https through a CONNECT tunnel; TLS is still verified inside the tunnel', async (t) => {
  const fx = makeFixture(t);
  const tls = selfSignedCert(fx.dir);
  if (!tls) return t.fail('openssl could not make a self-signed certificate');
  let hits = 0;
  const origin = createHttpsServer({ key: tls.key, cert: tls.cert }, (_req, res) => {
    hits++;
    res.writeHead(200, { 'content-length': fx.body.length }).end(fx.body);
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  const proxy = await startLoopbackProxy();
  t.teardown(async () => {
    origin.closeAllConnections();
    await new Promise((resolve) => origin.close(resolve));
    await proxy.close();
  });
  const url = `https://127.0.0.1:${(origin.address() as AddressInfo).port}${path}`;
  const env = { HTTPS_PROXY: proxy.url };

  // Without trusting the test CA the tunnel works but the certificate is refused: verification is not bypassed.
  const untrusted = join(fx.cacheDir, 'untrusted', fx.file);
  const error = await t.throwsAsync(downloadVerified({ ...fast, retries: 0, env, urls: [url], sha256: fx.sha256, dest: untrusted }), {
    instanceOf: DownloadError,
  });
  t.regex(error!.message, /SELF_SIGNED|CERT|certificate/i);
  t.regex(error!.hint, /NODE_EXTRA_CA_CERTS/);
  t.is(hits, 0);

  const dest = join(fx.cacheDir, 'trusted', fx.file);
  await downloadVerified({ ...fast, env, ca: tls.cert, urls: [url], sha256: fx.sha256, dest });
  t.true(readFileSync(dest).equals(fx.body));
  t.is(hits, 1);
  t.deepEqual(proxy.seen, [
    `CONNECT 127.0.0.1:${(origin.address() as AddressInfo).port}`,
    `CONNECT 127.0.0.1:${(origin.address() as AddressInfo).port}`,
  ]);
  t.deepEqual(filesUnder(fx.cacheDir), [join('trusted', fx.file)]);
});

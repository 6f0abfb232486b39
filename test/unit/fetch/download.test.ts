import test from 'ava';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ChecksumError, DownloadError, ExitCode, FileSystemError } from '../../../src/errors.js';
import { downloadVerified, type DownloadAttempt } from '../../../src/fetch/download.js';
import { startLoopbackServer, type Handler } from '../../helpers/loopback-server.js';
import { privateMountsUnavailable, runWithTmpfs } from '../../helpers/private-mount.js';
import { requiring } from '../../helpers/requires.js';
import { fast, filesUnder, makeFixture } from './fixtures.js';
import { tsxImport } from '../../helpers/cli.js';

const path = '/pkg/pkg-1.0.tar.gz';

function destIn(cacheDir: string, sha: string, file: string) {
  return join(cacheDir, 'downloads', sha, file);
}

test('404 on the first URL falls back to the next one at once', async (t) => {
  const fx = makeFixture(t);
  const server = await startLoopbackServer({ root: fx.root });
  t.teardown(() => server.close());
  const attempts: DownloadAttempt[] = [];
  const dest = destIn(fx.cacheDir, fx.sha256, fx.file);
  const result = await downloadVerified({
    ...fast,
    urls: [`${server.url}/missing/${fx.file}`, `${server.url}${path}`],
    sha256: fx.sha256,
    dest,
    onAttempt: (a) => attempts.push(a),
  });
  t.is(result.url, `${server.url}${path}`);
  t.is(result.bytes, fx.body.length);
  t.deepEqual(
    attempts.map((a) => a.outcome),
    ['404', 'ok'],
  );
  t.deepEqual(server.requests, [`GET /missing/${fx.file}`, `GET ${path}`]);
  t.true(readFileSync(dest).equals(fx.body));
  t.deepEqual(filesUnder(fx.cacheDir), [join('downloads', fx.sha256, fx.file)]);
});

test('500, 500, then 200 succeeds after retries', async (t) => {
  const fx = makeFixture(t);
  const server = await startLoopbackServer({
    root: fx.root,
    handlers: { [path]: (_req, res, hit) => (hit <= 2 ? (res.writeHead(500).end('boom'), true) : false) },
  });
  t.teardown(() => server.close());
  const attempts: DownloadAttempt[] = [];
  const dest = destIn(fx.cacheDir, fx.sha256, fx.file);
  await downloadVerified({ ...fast, urls: [`${server.url}${path}`], sha256: fx.sha256, dest, onAttempt: (a) => attempts.push(a) });
  t.deepEqual(
    attempts.map((a) => a.outcome),
    ['500', '500', 'ok'],
  );
  t.true(readFileSync(dest).equals(fx.body));
  t.deepEqual(filesUnder(fx.cacheDir), [join('downloads', fx.sha256, fx.file)]);
});

test('persistent 503 gives a DownloadError listing every attempt, with a hint', async (t) => {
  const fx = makeFixture(t);
  const server = await startLoopbackServer({ handlers: { [path]: (_req, res) => (res.writeHead(503).end(), true) } });
  t.teardown(() => server.close());
  const dest = destIn(fx.cacheDir, fx.sha256, fx.file);
  const error = await t.throwsAsync(
    downloadVerified({ ...fast, retries: 2, urls: [`${server.url}${path}`, `${server.url}/gone`], sha256: fx.sha256, dest }),
    { instanceOf: DownloadError },
  );
  t.true(error!.message.includes(`${server.url}${path}: 503, 503, 503`), error!.message);
  t.true(error!.message.includes(`${server.url}/gone: 404`));
  t.regex(error!.hint, /--mirror/);
  t.regex(error!.hint, /--sources DIR/);
  t.is(server.requests.length, 4);
  t.deepEqual(filesUnder(fx.cacheDir), []);
});

function resumedFrom(range: string | undefined): number {
  const match = /^bytes=(\d+)-$/.exec(range ?? '');
  return match ? Number(match[1]) : -1;
}

/** Sends the headers and the first `bytes` of the body, then resets the connection. */
function resetAfter(body: Buffer, bytes: number): Handler {
  return (req, res, hit) => {
    if (hit > 1) return false;
    res.writeHead(200, { 'content-length': body.length });
    res.write(body.subarray(0, bytes), () => setTimeout(() => req.socket.resetAndDestroy(), 50));
    return true;
  };
}

test('connection reset mid-body: resumed with Range', async (t) => {
  const fx = makeFixture(t);
  const half = 40_000;
  const server = await startLoopbackServer({ root: fx.root, handlers: { [path]: resetAfter(fx.body, half) } });
  t.teardown(() => server.close());
  const attempts: DownloadAttempt[] = [];
  const dest = destIn(fx.cacheDir, fx.sha256, fx.file);
  const result = await downloadVerified({ ...fast, urls: [`${server.url}${path}`], sha256: fx.sha256, dest, onAttempt: (a) => attempts.push(a) });
  t.is(server.requests.length, 2);
  t.is(server.requestHeaders[0]!.range, undefined);
  // A reset may discard bytes still in the client's socket buffer, so the resume point is "what arrived".
  t.true(resumedFrom(server.requestHeaders[1]!.range) > 0 && resumedFrom(server.requestHeaders[1]!.range) <= half);
  t.is(attempts.at(-1)!.outcome, 'ok');
  t.is(result.bytes, fx.body.length);
  t.true(readFileSync(dest).equals(fx.body));
  t.deepEqual(filesUnder(fx.cacheDir), [join('downloads', fx.sha256, fx.file)]);
});

test('body shorter than Content-Length: an error, then resumed', async (t) => {
  const fx = makeFixture(t);
  const sent = 5000;
  const server = await startLoopbackServer({
    root: fx.root,
    handlers: {
      [path]: (req, _res, hit) => {
        if (hit > 1) return false;
        // Written by hand: a complete-looking response whose body stops early, then a clean close.
        req.socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${fx.body.length}\r\nconnection: close\r\n\r\n`);
        req.socket.end(fx.body.subarray(0, sent));
        return true;
      },
    },
  });
  t.teardown(() => server.close());
  const attempts: DownloadAttempt[] = [];
  const dest = destIn(fx.cacheDir, fx.sha256, fx.file);
  await downloadVerified({ ...fast, urls: [`${server.url}${path}`], sha256: fx.sha256, dest, onAttempt: (a) => attempts.push(a) });
  t.is(attempts.length, 2);
  t.not(attempts[0]!.outcome, 'ok');
  t.is(server.requestHeaders[1]!.range, `bytes=${sent}-`);
  t.true(readFileSync(dest).equals(fx.body));
  t.deepEqual(filesUnder(fx.cacheDir), [join('downloads', fx.sha256, fx.file)]);
});

test('a server that stalls mid-body hits the idle timeout, then the retry succeeds', async (t) => {
  const fx = makeFixture(t);
  const server = await startLoopbackServer({
    root: fx.root,
    handlers: {
      [path]: (_req, res, hit) => {
        if (hit > 1) return false;
        res.writeHead(200, { 'content-length': fx.body.length });
        res.write(fx.body.subarray(0, 1000)); // ...and nothing more
        return true;
      },
    },
  });
  t.teardown(() => server.close());
  const attempts: DownloadAttempt[] = [];
  const dest = destIn(fx.cacheDir, fx.sha256, fx.file);
  const started = Date.now();
  await downloadVerified({ ...fast, urls: [`${server.url}${path}`], sha256: fx.sha256, dest, onAttempt: (a) => attempts.push(a) });
  t.deepEqual(
    attempts.map((a) => a.outcome),
    ['idle timeout', 'ok'],
  );
  t.true(Date.now() - started < 5000);
  t.is(server.requestHeaders[1]!.range, 'bytes=1000-');
  t.true(readFileSync(dest).equals(fx.body));
});

test('a server that never answers hits the response timeout', async (t) => {
  const fx = makeFixture(t);
  const server = await startLoopbackServer({ handlers: { [path]: () => true /* never answers */ } });
  t.teardown(() => server.close());
  const dest = destIn(fx.cacheDir, fx.sha256, fx.file);
  const error = await t.throwsAsync(
    downloadVerified({ ...fast, retries: 1, timeouts: { response: 200 }, urls: [`${server.url}${path}`], sha256: fx.sha256, dest }),
    { instanceOf: DownloadError },
  );
  t.regex(error!.message, /timeout \(response\), timeout \(response\)/);
  t.deepEqual(filesUnder(fx.cacheDir), []);
});

test('wrong bytes: ChecksumError, next URL tried, nothing left in the cache', async (t) => {
  const fx = makeFixture(t);
  const wrong = Buffer.from(fx.body);
  wrong[wrong.length - 1] ^= 0xff;
  const server = await startLoopbackServer({
    handlers: {
      '/a': (_req, res) => (res.writeHead(200, { 'content-length': wrong.length }).end(wrong), true),
      '/b': (_req, res) => (res.writeHead(200, { 'content-length': wrong.length }).end(wrong), true),
    },
  });
  t.teardown(() => server.close());
  const attempts: DownloadAttempt[] = [];
  const dest = destIn(fx.cacheDir, fx.sha256, fx.file);
  const error = await t.throwsAsync(
    downloadVerified({ ...fast, urls: [`${server.url}/a`, `${server.url}/b`], sha256: fx.sha256, dest, onAttempt: (a) => attempts.push(a) }),
    { instanceOf: ChecksumError },
  );
  t.is(error!.expected, fx.sha256);
  t.not(error!.actual, fx.sha256);
  t.deepEqual(
    attempts.map((a) => a.outcome),
    ['checksum mismatch', 'checksum mismatch'],
  );
  t.true(error!.hint.includes(`${server.url}/a`));
  t.deepEqual(filesUnder(fx.cacheDir), []);
});

test('a bad mirror followed by a good URL: the good bytes win', async (t) => {
  const fx = makeFixture(t);
  const server = await startLoopbackServer({
    root: fx.root,
    handlers: { '/bad': (_req, res) => (res.writeHead(200, { 'content-length': 3 }).end('bad'), true) },
  });
  t.teardown(() => server.close());
  const dest = destIn(fx.cacheDir, fx.sha256, fx.file);
  const result = await downloadVerified({ ...fast, urls: [`${server.url}/bad`, `${server.url}${path}`], sha256: fx.sha256, dest });
  t.is(result.url, `${server.url}${path}`);
  t.true(readFileSync(dest).equals(fx.body));
  t.deepEqual(filesUnder(fx.cacheDir), [join('downloads', fx.sha256, fx.file)]);
});

test('a server that ignores Range (200 on resume): clean restart, right bytes', async (t) => {
  const fx = makeFixture(t);
  const half = 40_000;
  const server = await startLoopbackServer({
    handlers: {
      [path]: (req, res, hit) => {
        if (hit === 1) return resetAfter(fx.body, half)(req, res, hit);
        res.writeHead(200, { 'content-length': fx.body.length }).end(fx.body); // ignores Range
        return true;
      },
    },
  });
  t.teardown(() => server.close());
  const dest = destIn(fx.cacheDir, fx.sha256, fx.file);
  const result = await downloadVerified({ ...fast, urls: [`${server.url}${path}`], sha256: fx.sha256, dest });
  t.true(resumedFrom(server.requestHeaders[1]!.range) > 0 && resumedFrom(server.requestHeaders[1]!.range) <= half);
  t.is(result.bytes, fx.body.length);
  t.true(readFileSync(dest).equals(fx.body));
  t.deepEqual(filesUnder(fx.cacheDir), [join('downloads', fx.sha256, fx.file)]);
});

test('a stale partial with wrong bytes is discarded and the file fetched again from zero', async (t) => {
  const fx = makeFixture(t);
  const server = await startLoopbackServer({ root: fx.root });
  t.teardown(() => server.close());
  const dest = destIn(fx.cacheDir, fx.sha256, fx.file);
  const { mkdirSync, writeFileSync } = await import('node:fs');
  mkdirSync(join(fx.cacheDir, 'downloads', fx.sha256), { recursive: true });
  writeFileSync(`${dest}.partial`, Buffer.alloc(1000, 0x41)); // garbage prefix from "an earlier run"
  const attempts: DownloadAttempt[] = [];
  await downloadVerified({ ...fast, urls: [`${server.url}${path}`], sha256: fx.sha256, dest, onAttempt: (a) => attempts.push(a) });
  t.deepEqual(
    attempts.map((a) => a.outcome),
    ['checksum mismatch', 'ok'],
  );
  t.is(server.requestHeaders[0]!.range, 'bytes=1000-');
  t.is(server.requestHeaders[1]!.range, undefined);
  t.true(readFileSync(dest).equals(fx.body));
  t.deepEqual(filesUnder(fx.cacheDir), [join('downloads', fx.sha256, fx.file)]);
});

test('connection refused is retried, then reported', async (t) => {
  const fx = makeFixture(t);
  const server = await startLoopbackServer();
  const url = `${server.url}${path}`;
  await server.close(); // nothing listens there now
  const dest = destIn(fx.cacheDir, fx.sha256, fx.file);
  const error = await t.throwsAsync(downloadVerified({ ...fast, retries: 1, urls: [url], sha256: fx.sha256, dest }), {
    instanceOf: DownloadError,
  });
  t.true(error!.message.includes(`${url}: ECONNREFUSED, ECONNREFUSED`), error!.message);
});

test('abort signal stops the download', async (t) => {
  const fx = makeFixture(t);
  const server = await startLoopbackServer({ handlers: { [path]: (_req, res) => (res.writeHead(503).end(), true) } });
  t.teardown(() => server.close());
  const controller = new AbortController();
  const dest = destIn(fx.cacheDir, fx.sha256, fx.file);
  setTimeout(() => controller.abort(new Error('stop')), 100);
  await t.throwsAsync(
    downloadVerified({ ...fast, retries: 100, backoffMs: 50, urls: [`${server.url}${path}`], sha256: fx.sha256, dest, signal: controller.signal }),
    { message: 'stop' },
  );
});

test('redirects are followed (raw bytes hashed), progress is reported up to the total', async (t) => {
  const fx = makeFixture(t);
  const server = await startLoopbackServer({
    root: fx.root,
    handlers: { '/latest': (_req, res) => (res.writeHead(302, { location: path }).end(), true) },
  });
  t.teardown(() => server.close());
  const progress: { transferred: number; total?: number }[] = [];
  const dest = destIn(fx.cacheDir, fx.sha256, fx.file);
  const result = await downloadVerified({
    ...fast,
    urls: [`${server.url}/latest`],
    sha256: fx.sha256,
    dest,
    onProgress: (p) => progress.push({ transferred: p.transferred, total: p.total }),
  });
  t.is(result.url, `${server.url}/latest`);
  t.deepEqual(server.requests, ['GET /latest', `GET ${path}`]);
  t.is(server.requestHeaders[1]!['accept-encoding'], 'identity');
  t.true(progress.length > 0);
  t.deepEqual(progress.at(-1), { transferred: fx.body.length, total: fx.body.length });
  t.true(progress.every((p, i) => i === 0 || p.transferred >= progress[i - 1]!.transferred));
});

test('a cache directory that cannot be created (a file in the way) is a FileSystemError (exit 9), before any request', async (t) => {
  const fx = makeFixture(t);
  const server = await startLoopbackServer({ root: fx.root });
  t.teardown(() => server.close());
  writeFileSync(join(fx.cacheDir, 'downloads'), 'a file where a directory should be');
  const dest = destIn(fx.cacheDir, fx.sha256, fx.file);
  const error = await t.throwsAsync(downloadVerified({ ...fast, urls: [`${server.url}${path}`], sha256: fx.sha256, dest }), {
    instanceOf: FileSystemError,
  });
  t.is(error!.exitCode, ExitCode.filesystem);
  t.is(error!.code, 'ENOTDIR');
  t.regex(error!.message, /^cannot create \S+\/downloads\/[0-9a-f]{64}: a component of the path is a file, not a directory \(ENOTDIR\)$/);
  t.deepEqual(server.requests, []);
});

// Serial: it starts a second Node (tsx) whose start-up would otherwise compete for the CPU with this file's tests of
// 300 ms idle timeouts, which run concurrently after the serial ones.
requiring(privateMountsUnavailable()).serial(
  'disk full while downloading: a FileSystemError (exit 9) naming the partial file, no retry, no other URL',
  async (t) => {
    const fx = makeFixture(t, 1024 * 1024);
    const server = await startLoopbackServer({ root: fx.root });
    t.teardown(() => server.close());
    const mnt = join(fx.dir, 'mnt');
    mkdirSync(mnt);
    const dest = join(mnt, 'downloads', fx.file);
    const run = await runWithTmpfs(mnt, { size: '256k' }, [
      process.execPath,
      tsxImport,
      join(import.meta.dirname, 'fs-fault-runner.ts'),
      `${server.url}${path}`,
      fx.sha256,
      dest,
    ]);
    t.is(run.code, 0, run.stderr);
    const outcome = JSON.parse(run.stdout.trim().split('\n').pop()!) as {
      ok: boolean;
      name: string;
      exitCode: number;
      code: string;
      message: string;
      hint: string;
      attempts: DownloadAttempt[];
    };
    t.false(outcome.ok);
    t.is(outcome.name, 'FileSystemError');
    t.is(outcome.exitCode, ExitCode.filesystem);
    t.is(outcome.code, 'ENOSPC');
    t.is(outcome.message, `cannot write to ${dest}.partial: no space left on device (ENOSPC)`);
    t.regex(outcome.hint, /free space.*--cache-dir/);
    t.deepEqual(outcome.attempts, [{ url: `${server.url}${path}`, outcome: 'write failed' }]);
    t.deepEqual(server.requests, [`GET ${path}`]);
  },
);

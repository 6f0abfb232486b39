import test from 'ava';
import { formatBytes, formatProgress, progressReporter } from '../../../src/fetch/progress.js';

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

test('progress outside a TTY: a start line, about every 25 %, and an end line with bytes, total and speed', (t) => {
  const lines: string[] = [];
  const c = clock();
  const report = progressReporter('httpd-2.4.68.tar.bz2', (l) => lines.push(l), { now: c.now });
  const url = 'https://dlcdn.apache.org/httpd/httpd-2.4.68.tar.bz2';
  const total = 8 * 1024 * 1024;
  // 64 KiB chunks, 10 ms apart: 128 events, but only a handful of lines
  for (let sent = 64 * 1024; sent <= total; sent += 64 * 1024) {
    c.advance(10);
    report({ url, transferred: sent, total });
  }
  report.done(); // already printed at 100 %: no second end line
  t.is(lines.length, 5, lines.join('\n'));
  t.is(lines[0], 'httpd-2.4.68.tar.bz2: started (8.0 MiB) from dlcdn.apache.org');
  t.regex(lines[1]!, /^httpd-2\.4\.68\.tar\.bz2: 2\.0 MiB \/ 8\.0 MiB \(25 %\), 6\.\d MiB\/s$/);
  t.regex(lines[2]!, /: 4\.0 MiB \/ 8\.0 MiB \(50 %\)/);
  t.regex(lines[3]!, /: 6\.0 MiB \/ 8\.0 MiB \(75 %\)/);
  t.regex(lines[4]!, /^httpd-2\.4\.68\.tar\.bz2: done, 8\.0 MiB, 6\.\d MiB\/s$/);
});

test('progress: big chunks that jump several marks print one line; unknown size prints every 10 MB and done()', (t) => {
  const lines: string[] = [];
  const c = clock();
  const report = progressReporter('x', (l) => lines.push(l), { now: c.now });
  report({ url: 'http://127.0.0.1:1/x', transferred: 100, total: 1000 });
  c.advance(1000);
  report({ url: 'http://127.0.0.1:1/x', transferred: 800, total: 1000 }); // passes 25, 50 and 75 % at once
  t.deepEqual(lines.slice(1), ['x: 800 B / 1000 B (80 %), 700 B/s']);

  const unknown: string[] = [];
  const r2 = progressReporter('y', (l) => unknown.push(l), { now: c.now, unknownStepBytes: 1000 });
  for (let n = 100; n <= 3500; n += 100) r2({ url: 'http://h/y', transferred: n });
  c.advance(2000);
  r2.done();
  r2.done();
  t.is(unknown[0], 'y: started (size unknown) from h');
  t.is(unknown.length, 1 + 3 + 1, unknown.join('\n'));
  t.regex(unknown.at(-1)!, /^y: done, 3\.4 KiB, 1\.7 KiB\/s$/);
});

test('progress: a fallback URL starts a new series', (t) => {
  const lines: string[] = [];
  const c = clock();
  const report = progressReporter('z', (l) => lines.push(l), { now: c.now });
  report({ url: 'http://a/z', transferred: 600, total: 1000 });
  t.is(lines[0], 'z: started (1000 B) from a');
  report({ url: 'http://b/z', transferred: 10, total: 1000 });
  t.is(lines[1], 'z: started (1000 B) from b');
  c.advance(100);
  report({ url: 'http://b/z', transferred: 1000, total: 1000 });
  t.regex(lines.at(-1)!, /^z: done, 1000 B, 9\.7 KiB\/s$/);
  t.is(progressReporter('n', () => t.fail()).done(), undefined, 'done() before any event prints nothing');
});

test('formatBytes / formatProgress', (t) => {
  t.is(formatBytes(0), '0 B');
  t.is(formatBytes(1536), '1.5 KiB');
  t.is(formatBytes(10 * 1024 * 1024), '10.0 MiB');
  t.is(formatProgress(512 * 1024, 1024 * 1024, 1000), '512.0 KiB / 1.0 MiB (50 %), 512.0 KiB/s');
  t.is(formatProgress(2048, undefined), '2.0 KiB');
});

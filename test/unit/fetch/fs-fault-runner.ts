/**
 * Run by download.test.ts inside a private mount namespace (test/helpers/private-mount.ts): downloads argv[2] with
 * sha256 argv[3] into argv[4] and prints the outcome and the attempts as one line of JSON.
 */
import { downloadVerified, type DownloadAttempt } from '../../../src/fetch/download.js';

const [url, sha256, dest] = process.argv.slice(2) as [string, string, string];
const attempts: DownloadAttempt[] = [];
try {
  await downloadVerified({ urls: [url], sha256, dest, env: {}, retries: 2, backoffMs: 10, onAttempt: (a) => attempts.push(a) });
  console.log(JSON.stringify({ ok: true, attempts }));
} catch (error) {
  const e = error as Error & { exitCode?: number; code?: string; hint?: string };
  console.log(JSON.stringify({ ok: false, name: e.name, exitCode: e.exitCode, code: e.code, message: e.message, hint: e.hint, attempts }));
}

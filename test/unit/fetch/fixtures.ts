import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { DownloadOptions } from '../../../src/fetch/download.js';

export interface Fixture {
  dir: string;
  /** Served by the loopback server: <root>/pkg/pkg-1.0.tar.gz */
  root: string;
  cacheDir: string;
  file: string;
  body: Buffer;
  sha256: string;
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function makeFixture(t: { teardown(fn: () => void): void }, size = 256 * 1024): Fixture {
  const dir = mkdtempSync(join(tmpdir(), 'wsgi-fetch-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const root = join(dir, 'www');
  const cacheDir = join(dir, 'cache');
  mkdirSync(join(root, 'pkg'), { recursive: true });
  mkdirSync(cacheDir);
  // gzip magic first so that it also looks like an archive to indexSourceDirs
  const body = Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0x00]), randomBytes(size - 4)]);
  const file = 'pkg-1.0.tar.gz';
  writeFileSync(join(root, 'pkg', file), body);
  return { dir, root, cacheDir, file, body, sha256: sha256(body) };
}

/** Every regular file under dir, relative, sorted (to assert that nothing bad was left behind). */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

/** Small retries, backoff and timeouts so the suite stays fast; no proxy from the developer's environment. */
export const fast: Pick<DownloadOptions, 'retries' | 'backoffMs' | 'maxBackoffMs' | 'timeouts' | 'env'> = {
  retries: 3,
  backoffMs: 10,
  maxBackoffMs: 50,
  timeouts: { connect: 2000, response: 2000, idle: 300 },
  env: {},
};

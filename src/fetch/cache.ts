import { join } from 'node:path';
import envPaths from 'env-paths';

/**
 * Where downloads are kept between runs: `WSGI_HTTPD_CACHE_DIR` when set (and not empty), else the per-user cache
 * directory (`~/.cache/wsgi-httpd` on Linux, honouring XDG_CACHE_HOME).
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const override = env.WSGI_HTTPD_CACHE_DIR;
  if (override && override.trim() !== '') return override;
  return envPaths('wsgi-httpd', { suffix: '' }).cache;
}

/**
 * Content-addressed: `<cacheDir>/downloads/<sha256>/<file>`. The directory name is the hash the file must have, so a
 * file found there is still re-hashed before use, and two versions with the same file name never collide.
 */
export function downloadCachePath(cacheDir: string, sha256: string, file: string): string {
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new TypeError(`not a lower-case hex sha256: ${sha256}`);
  if (file === '' || file === '.' || file === '..' || /[/\\\0]/.test(file)) throw new TypeError(`not a plain file name: ${file}`);
  return join(cacheDir, 'downloads', sha256, file);
}

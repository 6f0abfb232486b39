/**
 * Gets one component's release file into the content-addressed cache, trying in order:
 *   (a) the cache itself (re-hashed; a corrupt file is deleted),
 *   (b) --sources directories (found by sha256, copied into the cache while hashing),
 *   (c) --mirror bases (file:// read directly; http(s):// downloaded), for every artifact,
 *   (d) the upstream URL chain of the first artifact, then of the others.
 * Offline, (c) is limited to file:// mirrors and (d) is skipped: no connection is ever opened.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { ChecksumError, DownloadError, fromSystemError } from '../errors.js';
import { downloadCachePath } from './cache.js';
import {
  CacheWriteError,
  downloadHint,
  downloadVerified,
  tlsHint,
  formatAttempts,
  type DownloadAttempt,
  type DownloadOptions,
  type DownloadProgress,
} from './download.js';
import { sha256File } from './hash.js';
import { isRegularFile, partialName } from '../util/fs.js';

export interface ArtifactRef {
  file: string;
  sha256: string;
  urls: string[];
}

export interface AcquireOptions {
  component: string;
  version: string;
  /** Preferred first. Any of them is accepted (they are the same release in different compressions). */
  artifacts: ArtifactRef[];
  /** Where the file sits under a mirror base, e.g. "httpd/{file}"; {version} and {component} are expanded too. */
  mirrorPath: string;
  /** http(s):// or file:// base URLs with the upstream layout: <mirror>/<mirrorPath>. */
  mirrors?: string[];
  /** From indexSourceDirs(): sha256 → path. */
  sourceIndex?: Map<string, string>;
  offline?: boolean;
  cacheDir: string;
  onAttempt?: (attempt: DownloadAttempt) => void;
  onProgress?: (progress: DownloadProgress) => void;
  signal?: AbortSignal;
  /** Passed to every downloadVerified call (retries, timeouts, backoff, proxy env). */
  download?: Pick<DownloadOptions, 'retries' | 'timeouts' | 'backoffMs' | 'maxBackoffMs' | 'env' | 'ca'>;
}

export interface AcquireResult {
  path: string;
  artifact: { file: string; sha256: string };
  /** "cache", "sources:<path>", a mirror's file:// or http(s) URL, or the upstream URL that served it. */
  origin: string;
}

/** What an offline build still lacks for one component: any one of the alternatives is enough. */
export interface MissingFile {
  component: string;
  version: string;
  alternatives: { file: string; sha256: string; cachePath: string }[];
}

export function expandMirrorPath(mirrorPath: string, values: { file: string; version: string; component: string }): string {
  return mirrorPath
    .replaceAll('{file}', values.file)
    .replaceAll('{version}', values.version)
    .replaceAll('{component}', values.component)
    .replace(/^\/+/, '');
}

export function mirrorUrl(mirror: string, relative: string): string {
  return `${mirror.replace(/\/+$/, '')}/${relative}`;
}

function isFileUrl(url: string): boolean {
  return /^file:/i.test(url);
}

/**
 * Copies src to dest through a fresh `<dest>.partial-<random>` while hashing; renames only when the hash matches.
 * Returns the actual hash on a mismatch (and leaves nothing behind), undefined on success.
 */
async function copyVerified(src: string, dest: string, sha256: string, signal?: AbortSignal): Promise<string | undefined> {
  const partial = partialName(dest);
  try {
    await mkdir(dirname(dest), { recursive: true });
  } catch (error) {
    throw fromSystemError(error) ?? error;
  }
  const hash = createHash('sha256');
  try {
    await pipeline(
      createReadStream(src, { signal }),
      new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          hash.update(chunk);
          callback(null, chunk);
        },
      }),
      createWriteStream(partial, { flags: 'wx' }),
    );
  } catch (error) {
    await rm(partial, { force: true });
    // Only a write has no path on its error (open, mkdir and rename name theirs): that write went to the partial.
    throw fromSystemError(error, (error as { path?: string }).path ? {} : { path: partial, action: 'write to' }) ?? error;
  }
  const actual = hash.digest('hex');
  if (actual !== sha256.toLowerCase()) {
    await rm(partial, { force: true });
    return actual;
  }
  try {
    await rename(partial, dest);
  } catch (error) {
    throw fromSystemError(error) ?? error;
  }
  return undefined;
}

/**
 * Whether a release file is available without the network (cache, --sources, file:// mirrors), looking only: nothing
 * is copied or hashed here (the --sources index was hashed when it was made). For the checks before a build.
 */
export async function hasLocalCopy(
  opts: Pick<AcquireOptions, 'component' | 'version' | 'artifacts' | 'mirrorPath' | 'mirrors' | 'sourceIndex' | 'cacheDir'>,
): Promise<boolean> {
  for (const artifact of opts.artifacts) {
    if (await isRegularFile(downloadCachePath(opts.cacheDir, artifact.sha256, artifact.file))) return true;
    if (opts.sourceIndex?.has(artifact.sha256.toLowerCase())) return true;
    for (const mirror of (opts.mirrors ?? []).filter(isFileUrl)) {
      try {
        const url = mirrorUrl(mirror, expandMirrorPath(opts.mirrorPath, { ...artifact, version: opts.version, component: opts.component }));
        if (await isRegularFile(fileURLToPath(url))) return true;
      } catch {
        /* not a local file URL */
      }
    }
  }
  return false;
}

/**
 * The steps that need no network: cache, --sources, file:// mirrors. Puts what it finds into the cache and returns
 * it, or undefined. The CLI can call it for every component first to list everything an offline build lacks at once
 * (see missingFor / offlineError).
 */
export async function findLocal(
  opts: Pick<AcquireOptions, 'component' | 'version' | 'artifacts' | 'mirrorPath' | 'mirrors' | 'sourceIndex' | 'cacheDir' | 'onAttempt' | 'signal'>,
): Promise<AcquireResult | undefined> {
  const report = (url: string, outcome: string) => opts.onAttempt?.({ url, outcome });
  // (a) cache
  for (const artifact of opts.artifacts) {
    const path = downloadCachePath(opts.cacheDir, artifact.sha256, artifact.file);
    if (!(await isRegularFile(path))) continue;
    const actual = await sha256File(path, { signal: opts.signal });
    if (actual === artifact.sha256.toLowerCase()) {
      return { path, artifact: { file: artifact.file, sha256: artifact.sha256 }, origin: 'cache' };
    }
    report(path, `checksum mismatch: expected ${artifact.sha256}, got ${actual} (corrupt cache file deleted)`);
    await rm(path, { force: true });
  }
  // (b) --sources, by content
  if (opts.sourceIndex) {
    for (const artifact of opts.artifacts) {
      const source = opts.sourceIndex.get(artifact.sha256.toLowerCase());
      if (!source) continue;
      const dest = downloadCachePath(opts.cacheDir, artifact.sha256, artifact.file);
      let mismatch: string | undefined;
      try {
        mismatch = await copyVerified(source, dest, artifact.sha256, opts.signal);
      } catch (error) {
        report(source, `unreadable: ${(error as Error).message}`);
        continue;
      }
      if (mismatch) {
        report(source, 'checksum mismatch (the file changed after it was indexed)');
        continue;
      }
      report(source, 'ok');
      return { path: dest, artifact: { file: artifact.file, sha256: artifact.sha256 }, origin: `sources:${source}` };
    }
  }
  // (c) file:// mirrors
  for (const mirror of (opts.mirrors ?? []).filter(isFileUrl)) {
    for (const artifact of opts.artifacts) {
      const url = mirrorUrl(mirror, expandMirrorPath(opts.mirrorPath, { ...artifact, version: opts.version, component: opts.component }));
      let path: string;
      try {
        path = fileURLToPath(url);
      } catch {
        report(url, 'not a local file URL');
        continue;
      }
      if (!(await isRegularFile(path))) {
        report(url, 'not found');
        continue;
      }
      const dest = downloadCachePath(opts.cacheDir, artifact.sha256, artifact.file);
      let mismatch: string | undefined;
      try {
        mismatch = await copyVerified(path, dest, artifact.sha256, opts.signal);
      } catch (error) {
        report(url, `unreadable: ${(error as Error).message}`);
        continue;
      }
      if (mismatch) {
        report(url, 'checksum mismatch');
        continue;
      }
      report(url, 'ok');
      return { path: dest, artifact: { file: artifact.file, sha256: artifact.sha256 }, origin: url };
    }
  }
  return undefined;
}

/** The files (any one per component) an offline build would need, with the cache path each may be copied to. */
export function missingFor(opts: Pick<AcquireOptions, 'component' | 'version' | 'artifacts' | 'cacheDir'>): MissingFile {
  return {
    component: opts.component,
    version: opts.version,
    alternatives: opts.artifacts.map((a) => ({
      file: a.file,
      sha256: a.sha256,
      cachePath: downloadCachePath(opts.cacheDir, a.sha256, a.file),
    })),
  };
}

/** One error for everything an offline build lacks (the CLI collects MissingFile for all components first). */
export function offlineError(missing: MissingFile[]): DownloadError {
  const lines = missing.map((m) => {
    const files = m.alternatives.map((a) => `${a.file} (sha256 ${a.sha256})`);
    return `  ${m.component} ${m.version}: ${files.length > 1 ? `one of ${files.join(', ')}` : files[0]}`;
  });
  const paths = missing.flatMap((m) => m.alternatives.slice(0, 1).map((a) => `  ${a.cachePath}`));
  return new DownloadError(
    `offline, and ${missing.length === 1 ? 'this file is' : 'these files are'} not available locally:\n${lines.join('\n')}`,
    'put the files (any names: they are found by sha256) in a directory and pass --sources DIR, ' +
      `or copy each to its cache path:\n${paths.join('\n')}\n` +
      'To get them, run `wsgi-toolchain fetch` on a machine with network access, or drop --offline',
  );
}

export async function acquireArtifact(opts: AcquireOptions): Promise<AcquireResult> {
  if (opts.artifacts.length === 0) {
    throw new DownloadError(`${opts.component} ${opts.version} lists no release file`, 'fix the recipe: every version needs at least one artifact');
  }
  const attempts: DownloadAttempt[] = [];
  const onAttempt = (attempt: DownloadAttempt) => {
    attempts.push(attempt);
    opts.onAttempt?.(attempt);
  };

  const local = await findLocal({ ...opts, onAttempt });
  if (local) return local;
  if (opts.offline) throw offlineError([missingFor(opts)]);

  const httpMirrors = (opts.mirrors ?? []).filter((m) => !isFileUrl(m));
  const plan: { artifact: ArtifactRef; urls: string[] }[] = [];
  for (const artifact of opts.artifacts) {
    const urls = httpMirrors.map((m) =>
      mirrorUrl(m, expandMirrorPath(opts.mirrorPath, { ...artifact, version: opts.version, component: opts.component })),
    );
    if (urls.length) plan.push({ artifact, urls });
  }
  for (const artifact of opts.artifacts) {
    if (artifact.urls.length) plan.push({ artifact, urls: artifact.urls });
  }

  let mismatch: { error: ChecksumError; file: string } | undefined;
  let certificateRefused = false;
  for (const { artifact, urls } of plan) {
    const dest = downloadCachePath(opts.cacheDir, artifact.sha256, artifact.file);
    try {
      const result = await downloadVerified({
        ...opts.download,
        urls,
        sha256: artifact.sha256,
        dest,
        onAttempt,
        onProgress: opts.onProgress,
        signal: opts.signal,
      });
      return { path: dest, artifact: { file: artifact.file, sha256: artifact.sha256 }, origin: result.url };
    } catch (error) {
      if (error instanceof CacheWriteError) throw error;
      if (error instanceof ChecksumError) mismatch ??= { error, file: artifact.file };
      else if (!(error instanceof DownloadError))
        throw error; // aborted, or a bug
      else if (error.hint.startsWith(tlsHint)) certificateRefused = true;
    }
  }

  const tried = attempts.length ? formatAttempts(attempts) : '  (no URL: the recipe lists none and no --mirror was given)';
  const files = opts.artifacts.map((a) => a.file).join(' or ');
  if (mismatch) {
    throw new ChecksumError(
      mismatch.file,
      mismatch.error.expected,
      mismatch.error.actual,
      `no source served the published ${files}; nothing was kept. Sources tried:\n${tried}\n` +
        'A mirror may be stale or tampered with: try another --mirror, or fetch the file yourself, check it, and pass --sources DIR',
    );
  }
  throw new DownloadError(
    `could not get ${opts.component} ${opts.version} (${files}); every source failed:\n${tried}`,
    certificateRefused ? `${tlsHint}; ${downloadHint}` : downloadHint,
  );
}

/** A component as the build and `fetch` know it: enough to look for its release file locally. */
export interface LocalCandidate {
  name: string;
  version: string;
  locked: { artifacts: ArtifactRef[]; mirrorPath: string };
}

/** What names a component's release file wherever it is looked for: the component, its version, files and mirror path. */
export function sourceOf(c: LocalCandidate): Pick<AcquireOptions, 'component' | 'version' | 'artifacts' | 'mirrorPath'> {
  return { component: c.name, version: c.version, artifacts: c.locked.artifacts, mirrorPath: c.locked.mirrorPath };
}

/**
 * Offline: every component's file must already be local (cache, --sources, file:// mirrors). Checking all of them first
 * gives one list of every missing file instead of one failure at a time; a cached file that no longer matches its
 * sha256 is reported as what it is, a checksum error.
 */
export async function collectLocal(
  components: readonly LocalCandidate[],
  opts: { cacheDir: string; mirrors?: string[]; sourceIndex?: Map<string, string>; log?: (line: string) => void },
): Promise<Map<string, AcquireResult>> {
  const missing: MissingFile[] = [];
  const found = new Map<string, AcquireResult>();
  for (const c of components) {
    let corrupt: { path: string; expected: string; actual: string } | undefined;
    const local = await findLocal({
      ...sourceOf(c),
      mirrors: opts.mirrors,
      sourceIndex: opts.sourceIndex,
      cacheDir: opts.cacheDir,
      onAttempt: (a) => {
        opts.log?.(`offline ${c.name}: ${a.url}: ${a.outcome}`);
        const m = /^checksum mismatch: expected ([0-9a-f]{64}), got ([0-9a-f]{64})/.exec(a.outcome);
        if (m) corrupt ??= { path: a.url, expected: m[1]!, actual: m[2]! };
      },
    });
    if (local) {
      found.set(c.name, local);
      continue;
    }
    if (corrupt)
      throw new ChecksumError(
        corrupt.path,
        corrupt.expected,
        corrupt.actual,
        'the cached copy is corrupt and was deleted; nothing was extracted. Run again with network access, or pass --sources DIR holding the published file',
      );
    missing.push(missingFor({ ...sourceOf(c), cacheDir: opts.cacheDir }));
  }
  if (missing.length > 0) throw offlineError(missing);
  return found;
}

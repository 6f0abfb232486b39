/**
 * The work of `wsgi-toolchain fetch --dest DIR [--lock FILE | version flags]`: resolves the set a build with the same options would
 * build, downloads and verifies every source of it (through the cache, so nothing is fetched twice) and writes each into
 * DIR in the mirror layout, `DIR/<recipe mirrorPath>` (e.g. DIR/httpd/httpd-2.4.68.tar.gz). DIR then works as
 * `build --mirror file://DIR --offline` and as `build --sources DIR --offline`, on this machine or a copy of it on one
 * without network. With --verify-signatures the checked `.asc` files are written beside the tarballs too; with
 * --offline nothing is downloaded: the files come from the cache, --sources and file:// mirrors only.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve as resolvePath } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { prepareBuild } from '../pipeline/prepare.js';
import { ChecksumError, ExitCode, ToolchainError, UsageError } from '../errors.js';
import { acquireArtifact, collectLocal, expandMirrorPath, sourceOf, type AcquireResult } from '../fetch/acquire.js';
import { sha256File } from '../fetch/hash.js';
import type { DownloadProgress } from '../fetch/download.js';
import { formatBytes, formatProgress, type ProgressReporter, progressReporter } from '../fetch/progress.js';
import { Listr, ListrLogger, ProcessOutput } from 'listr2';
import { checkSignature, keysFor, loadSigningKeys, type SigningKeys } from '../fetch/signature.js';
import type { PlannedComponent } from '../pipeline/plan.js';
import { type BuildValues, buildOptionsFrom, defaultPrefix } from './build-options.js';
import type { ComponentRequest } from './command.js';
import { partialName } from '../util/fs.js';

const out = (text: string) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);

export interface FetchedFile {
  component: string;
  version: string;
  file: string;
  sha256: string;
  bytes: number;
  /** Absolute path written under --dest. */
  path: string;
  /** "written", or "unchanged" when DIR already held the verified file. */
  status: 'written' | 'unchanged';
  /** Where the bytes came from: "cache", "sources:<path>", a mirror or upstream URL. */
  origin: string;
  signature?: { path: string; fingerprint: string; uid: string; date: string; origin: string };
}

export interface FetchReport {
  dest: string;
  offline: boolean;
  files: FetchedFile[];
}

/** Copies src to dest through a fresh dest.partial-<random> while hashing; keeps it only when the sha256 matches. */
async function copyChecked(src: string, dest: string, sha256: string): Promise<void> {
  await mkdir(dirname(dest), { recursive: true });
  const partial = partialName(dest);
  const hash = createHash('sha256');
  try {
    await pipeline(
      createReadStream(src),
      new Transform({
        transform(chunk: Buffer, _e, cb) {
          hash.update(chunk);
          cb(null, chunk);
        },
      }),
      createWriteStream(partial, { flags: 'wx' }),
    );
  } catch (error) {
    await rm(partial, { force: true });
    throw new ToolchainError(`cannot write ${dest}: ${(error as Error).message}`, 'check that --dest is writable and has free space');
  }
  const actual = hash.digest('hex');
  if (actual !== sha256) {
    await rm(partial, { force: true });
    throw new ChecksumError(src, sha256, actual, 'the cached file changed while it was copied; run the command again');
  }
  await rename(partial, dest);
}

async function sameFile(path: string, sha256: string): Promise<boolean> {
  try {
    if (!(await stat(path)).isFile()) return false;
    return (await sha256File(path)) === sha256;
  } catch {
    return false;
  }
}

/** Progress as the output line under a task: bytes, total and speed, replaced on every chunk. */
function liveProgress(task: { output: string }): ProgressReporter {
  const started = Date.now();
  return Object.assign((p: DownloadProgress) => (task.output = formatProgress(p.transferred, p.total, Date.now() - started)), { done() {} });
}

export async function fetchSources(values: BuildValues & { dest: string }, requests: ComponentRequest[]): Promise<number> {
  const dest = resolvePath(values.dest);
  const options = buildOptionsFrom(values, requests, process.env, false);
  // The prefix only matters to a build; without one, resolve as for a fresh prefix that does not exist.
  options.prefix = values.prefix ?? defaultPrefix(process.env) ?? join(dest, '.no-prefix');
  const quiet = Boolean(values.quiet || values.json);
  const note = (line: string) => {
    if (!quiet) process.stderr.write(`${line}\n`);
  };

  const prepared = await prepareBuild(options);
  const { plan } = prepared;
  const components = plan.components;
  const sourceIndex = await prepared.sourceIndex();
  const keySets: SigningKeys[] = options.verifySignatures ? await loadSigningKeys(options.recipesDirs) : [];
  // Offline, every missing file is listed at once (exit 4) before anything is written.
  const local = options.offline ? await collectLocal(components, { cacheDir: plan.cacheDir, mirrors: options.mirrors, sourceIndex }) : undefined;

  // listr2 draws only when stdout is a terminal too (it checks that), and measures lines by process.stdout.columns,
  // which a pseudo-terminal nobody sized reports as 0: then the width of stderr, $COLUMNS, 80.
  const live = !quiet && !values.plain && !process.env.CI && Boolean(process.stderr.isTTY && process.stdout.isTTY);
  if (live && !process.stdout.columns)
    Object.defineProperty(process.stdout, 'columns', { value: process.stderr.columns || Number(process.env.COLUMNS) || 80, configurable: true });
  const files: FetchedFile[] = [];
  const failures: { component: PlannedComponent; error: unknown }[] = [];
  // One task per component, all at once: download (or take from the cache), check the signature, copy into DEST.
  // In a terminal listr2 draws them as a live list on stderr; elsewhere the progress lines are printed as they come.
  const tasks = new Listr(
    components.map((c, index) => ({
      title: `${c.name} ${c.version}`,
      task: async (_ctx: unknown, task: { title: string; output: string }) => {
        try {
          const result = local?.get(c.name) ?? (await download(c, live ? liveProgress(task) : progressReporter(c.locked.artifacts[0]!.file, note)));
          const file = await writeOne(c, result, dest, { options, sourceIndex, keySets });
          files[index] = file;
          task.title = `${c.name} ${c.version}: ${file.status === 'written' ? 'wrote' : 'kept'} ${formatBytes(file.bytes)} from ${file.origin}`;
        } catch (error) {
          failures.push({ component: c, error });
          throw error;
        }
      },
    })),
    {
      concurrent: true,
      exitOnError: false,
      registerSignalListeners: false,
      renderer: 'default',
      rendererOptions: {
        formatOutput: 'truncate',
        collapseErrors: false,
        logger: new ListrLogger({ processOutput: new ProcessOutput(process.stderr, process.stderr) }),
      },
      fallbackRendererCondition: false,
      silentRendererCondition: !live,
    },
  );

  const download = async (c: PlannedComponent, progress: ProgressReporter): Promise<AcquireResult> => {
    const result = await acquireArtifact({
      download: { env: options.env },
      ...sourceOf(c),
      mirrors: options.mirrors,
      sourceIndex,
      cacheDir: plan.cacheDir,
      onProgress: progress,
    });
    progress.done();
    return result;
  };

  await tasks.run();
  if (failures.length > 0) {
    failures.sort((a, b) => components.indexOf(a.component) - components.indexOf(b.component));
    if (!live) for (const f of failures.slice(1)) note(`${f.component.name} ${f.component.version}: ${(f.error as Error).message}`);
    throw failures[0]!.error;
  }

  const report: FetchReport = { dest, offline: options.offline, files };
  if (values.json) {
    out(JSON.stringify(report, null, 2));
    return ExitCode.ok;
  }
  for (const f of files) {
    const sig = f.signature ? `, signature ok (${f.signature.uid})` : '';
    out(
      `${f.status === 'written' ? 'wrote' : 'kept '} ${f.path} (${formatBytes(f.bytes)}, sha256 ${f.sha256.slice(0, 12)}…, from ${f.origin}${sig})`,
    );
  }
  const written = files.filter((f) => f.status === 'written').length;
  out(`\n${files.length} source${files.length === 1 ? '' : 's'} in ${dest} (${written} written, ${files.length - written} already there).`);
  out(
    `Build from them without network:\n  wsgi-toolchain build --prefix DIR --sources ${dest} --offline\n  wsgi-toolchain build --prefix DIR --mirror file://${dest} --offline`,
  );
  return ExitCode.ok;
}

async function writeOne(
  c: PlannedComponent,
  result: AcquireResult,
  dest: string,
  ctx: { options: ReturnType<typeof buildOptionsFrom>; sourceIndex?: Map<string, string>; keySets: SigningKeys[] },
): Promise<FetchedFile> {
  const { options } = ctx;
  const sha256 = result.artifact.sha256.toLowerCase();
  const rel = expandMirrorPath(c.locked.mirrorPath, { file: result.artifact.file, version: c.version, component: c.name });
  const target = resolvePath(dest, rel);
  if (relative(dest, target).startsWith('..')) {
    throw new UsageError(
      `the mirror path ${c.locked.mirrorPath} of ${c.name} leads outside --dest`,
      'fix the recipe: mirrorPath must be relative, like "httpd/{file}"',
    );
  }
  let signature: FetchedFile['signature'];
  const keys = options.verifySignatures ? keysFor(c.name, ctx.keySets) : undefined;
  if (keys) {
    const checked = await checkSignature({
      ...sourceOf(c),
      acquired: result,
      mirrors: options.mirrors,
      sourceIndex: ctx.sourceIndex,
      offline: options.offline,
      env: options.env,
      keys,
    });
    signature = { path: `${target}.asc`, fingerprint: checked.fingerprint, uid: checked.uid, date: checked.date, origin: checked.origin };
  }
  const unchanged = await sameFile(target, sha256);
  if (!unchanged) await copyChecked(result.path, target, sha256);
  if (signature) {
    await mkdir(dirname(target), { recursive: true });
    await copyFile(`${result.path}.asc`, `${target}.asc.partial`);
    await rename(`${target}.asc.partial`, `${target}.asc`);
  }
  return {
    component: c.name,
    version: c.version,
    file: result.artifact.file,
    sha256,
    bytes: (await stat(target)).size,
    path: target,
    status: unchanged ? 'unchanged' : 'written',
    origin: result.origin,
    ...(signature ? { signature } : {}),
  };
}

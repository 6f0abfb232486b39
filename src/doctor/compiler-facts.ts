/**
 * What the C compiler says about itself and the headers it finds: its version line, and whether expat, OpenSSL and
 * zlib headers are there (which decide the build's features, so every layer key). Probing takes five compiler runs,
 * a fifth of a warm build's time, so a build keeps the answers in the store, keyed by the compiler command, its
 * binary and the flags that move the include path, and trusts them only while every directory of that include path
 * (and its openssl/ directory) is unchanged: installing or upgrading a -dev package changes one of them. The
 * `doctor` command always probes.
 */
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { which } from '../python/which.js';
import { hashOf } from '../util/hash-of.js';
import { type FactsCache, fileStamp, recall, remember } from '../util/remembered.js';
import { run } from '../util/run.js';

export interface CompilerFacts {
  ccVersion: string | null;
  hasExpatHeaders: boolean;
  hasOpensslHeaders: boolean;
  hasZlibHeaders: boolean;
  opensslVersion?: string;
}

interface Remembered {
  includeDirs: string[];
  /** mtime (ms) of each watched directory, or null where it does not exist. */
  watched: Record<string, number | null>;
  facts: CompilerFacts;
}

const cppflagsOf = (env: NodeJS.ProcessEnv) => (env.CPPFLAGS ?? '').split(/\s+/).filter(Boolean);

/** The environment that moves what the compiler finds. */
const inputs = ['CC', 'CPPFLAGS', 'CPATH', 'C_INCLUDE_PATH', 'GCC_EXEC_PREFIX', 'COMPILER_PATH'];

export async function compilerFacts(command: string[], env: NodeJS.ProcessEnv, cache?: FactsCache): Promise<CompilerFacts> {
  if (!cache) return probeCompiler(command, env);
  const key = await rememberKey(command, env).catch(() => undefined);
  if (!key) return probeCompiler(command, env);
  const saved = await recall<Remembered>(cache, 'compiler', key);
  if (saved && sameStamps(saved.watched, await stamps(watchedDirs(saved.includeDirs)))) return saved.facts;
  const [facts, includeDirs] = await Promise.all([probeCompiler(command, env), includePath(command, env)]);
  if (includeDirs.length > 0) await remember(cache, 'compiler', key, { includeDirs, watched: await stamps(watchedDirs(includeDirs)), facts });
  return facts;
}

/** The five compiler runs. */
export async function probeCompiler(command: string[], env: NodeJS.ProcessEnv): Promise<CompilerFacts> {
  const cppflags = cppflagsOf(env);
  const compile = async (source: string, args: string[]) => {
    try {
      return await run([...command, ...cppflags, ...args, '-x', 'c', '-'], { env, input: source, signal: AbortSignal.timeout(60_000) });
    } catch {
      return undefined;
    }
  };
  const hasHeader = async (header: string) => (await compile(`#include <${header}>\n`, ['-fsyntax-only']))?.code === 0;
  const [version, expat, openssl, zlib, opensslText] = await Promise.all([
    run([...command, '--version'], { env, signal: AbortSignal.timeout(60_000) }).catch(() => undefined),
    hasHeader('expat.h'),
    hasHeader('openssl/ssl.h'),
    hasHeader('zlib.h'),
    compile('#include <openssl/opensslv.h>\nwsgi_httpd_openssl OPENSSL_VERSION_TEXT\n', ['-E', '-P']),
  ]);
  const facts: CompilerFacts = {
    ccVersion: version?.code === 0 ? version.stdout.split('\n')[0]?.trim() || null : null,
    hasExpatHeaders: expat,
    hasOpensslHeaders: openssl,
    hasZlibHeaders: zlib,
  };
  const text = opensslText?.code === 0 ? /wsgi_httpd_openssl\s+((?:"[^"]*"\s*)+)/.exec(opensslText.stdout)?.[1] : undefined;
  if (openssl && text) facts.opensslVersion = text.replace(/"\s*"/g, '').replace(/"/g, '').trim();
  return facts;
}

/** The directories `#include <…>` searches, in order, as the compiler lists them with -v. */
export async function includePath(command: string[], env: NodeJS.ProcessEnv): Promise<string[]> {
  const cppflags = cppflagsOf(env);
  const listed = await run([...command, ...cppflags, '-E', '-v', '-x', 'c', '-'], { env, input: '', signal: AbortSignal.timeout(60_000) }).catch(
    () => undefined,
  );
  if (listed?.code !== 0) return [];
  const lines = listed.stderr.split('\n');
  const start = lines.findIndex((l) => l.startsWith('#include <...> search starts here'));
  const end = lines.findIndex((l, i) => i > start && l.startsWith('End of search list'));
  if (start < 0 || end < 0) return [];
  return lines
    .slice(start + 1, end)
    .map((l) => l.trim().replace(/ \(framework directory\)$/, ''))
    .filter((l) => l.startsWith('/'))
    .map((d) => path.normalize(d));
}

function watchedDirs(includeDirs: string[]): string[] {
  return includeDirs.flatMap((d) => [d, path.join(d, 'openssl')]);
}

async function stamps(dirs: string[]): Promise<Record<string, number | null>> {
  const entries = await Promise.all(dirs.map(async (d) => [d, (await stat(d).catch(() => undefined))?.mtimeMs ?? null] as const));
  return Object.fromEntries(entries);
}

function sameStamps(a: Record<string, number | null>, b: Record<string, number | null>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

/**
 * The compiler command, the binary of each of its words that is a program (an upgrade replaces it; with a launcher,
 * "ccache gcc", that is gcc's too) and the flags that move it.
 */
async function rememberKey(command: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const binaries = await Promise.all(
    command.map(async (word) => {
      const found = word.startsWith('-') ? undefined : await which(word, env);
      const binary = found ? await realpath(found) : undefined;
      return binary ? { binary, stamp: await fileStamp(binary) } : null;
    }),
  );
  return hashOf({ command, binaries, env: inputs.map((k) => env[k] ?? null) });
}

/**
 * `--verify-signatures`: the Apache projects publish a detached OpenPGP signature beside each tarball
 * (`httpd-2.4.68.tar.bz2.asc`). This checks it against release-manager keys pinned in the repository
 * (recipes/keys/*.json: fingerprints plus the armored public keys, each with where it came from), using the system
 * `gpgv` (or `gpg`) with a throwaway keyring made from exactly the pinned keys: the user's own keyring and trust
 * settings are never read or changed, and no key server is ever asked.
 *
 * The sha256 pin stays the primary check; the signature adds "made by a release manager" for releases whose sha256
 * came from a third party, and for overlay recipes (--recipes) that add versions.
 */
import { constants, createWriteStream } from 'node:fs';
import { access, chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { fileURLToPath } from 'node:url';
import got from 'got';
import { DownloadError, fromSystemError, PrerequisiteError, RecipeError, SignatureError } from '../errors.js';
import { builtinRecipesDir } from '../recipe/load.js';
import { run } from '../util/run.js';
import { expandMirrorPath, mirrorUrl, type AcquireResult, type ArtifactRef } from './acquire.js';
import { agentsFor, proxyRequest } from './proxy.js';
import { isRegularFile, partialName } from '../util/fs.js';

export interface PinnedKey {
  fingerprint: string;
  uid: string;
  algorithm?: string;
  created?: string;
  expires?: string;
}

/** One recipes/keys/<name>.json. */
export interface SigningKeys {
  name: string;
  description?: string;
  /** The components whose tarballs these keys sign. */
  components: string[];
  /** Where the fingerprints were taken from (a public file anyone can check). */
  fingerprintsSource: string;
  /** Where the armored keys were taken from. */
  keysSource: string;
  keys: PinnedKey[];
  /** The public keys, ASCII-armored. Only keys whose fingerprint is listed in `keys` are ever used. */
  armored: string;
  /** The file it was read from. */
  origin?: string;
}

export interface VerifiedSignature {
  /** Primary key fingerprint of the signer. */
  fingerprint: string;
  uid: string;
  /** Signature creation date, YYYY-MM-DD. */
  date: string;
}

const fingerprintPattern = /^[0-9A-F]{40}$/;

function validateKeys(value: unknown, file: string): SigningKeys {
  const v = value as Partial<SigningKeys>;
  const fail = (why: string) => new RecipeError(`${file}: ${why}`, 'fix the signing-key file named above (see README: "Signatures")');
  if (typeof v !== 'object' || v === null) throw fail('a signing-key file must be a JSON object');
  if (typeof v.name !== 'string' || !v.name) throw fail('"name" must be a non-empty string');
  if (!Array.isArray(v.components) || !v.components.every((c) => typeof c === 'string')) throw fail('"components" must be a list of component names');
  for (const field of ['fingerprintsSource', 'keysSource'] as const) {
    if (typeof v[field] !== 'string' || !v[field]) throw fail(`"${field}" must say where the keys came from`);
  }
  if (!Array.isArray(v.keys) || v.keys.length === 0) throw fail('"keys" must list at least one {fingerprint, uid}');
  const keys = v.keys.map((k, i) => {
    const fingerprint = String((k as PinnedKey)?.fingerprint ?? '')
      .replace(/\s+/g, '')
      .toUpperCase();
    if (!fingerprintPattern.test(fingerprint)) throw fail(`keys[${i}].fingerprint must be a 40-hex-digit OpenPGP v4 fingerprint`);
    return { ...(k as PinnedKey), fingerprint };
  });
  if (typeof v.armored !== 'string' || !v.armored.includes('-----BEGIN PGP PUBLIC KEY BLOCK-----'))
    throw fail('"armored" must hold the ASCII-armored public keys');
  return { ...(v as SigningKeys), keys, origin: file };
}

/** Built-in recipes/keys/*.json, then <dir>/keys/*.json of each --recipes overlay (same name replaces). */
export async function loadSigningKeys(overlayDirs: string[] = []): Promise<SigningKeys[]> {
  const byName = new Map<string, SigningKeys>();
  for (const dir of [builtinRecipesDir, ...overlayDirs.map((d) => resolvePath(d))]) {
    const keysDir = join(dir, 'keys');
    let names: string[];
    try {
      names = (await readdir(keysDir)).filter((n) => n.endsWith('.json')).sort();
    } catch {
      continue;
    }
    for (const name of names) {
      const file = join(keysDir, name);
      let value: unknown;
      try {
        value = JSON.parse(await readFile(file, 'utf8'));
      } catch (error) {
        throw new RecipeError(`${file}: not valid JSON (${(error as Error).message})`);
      }
      const keys = validateKeys(value, file);
      byName.set(keys.name, keys);
    }
  }
  return [...byName.values()];
}

/** The key set that signs this component (the last one listing it wins), or undefined: no signature is checked. */
export function keysFor(component: string, sets: readonly SigningKeys[]): SigningKeys | undefined {
  return sets.filter((s) => s.components.includes(component)).at(-1);
}

const gpgHint =
  'install GnuPG: apt-get install gpgv (Debian/Ubuntu), dnf install gnupg2 (RHEL/Fedora), brew install gnupg (macOS); or drop --verify-signatures';

/** Finds gpgv (preferred: it only verifies) or gpg on PATH. */
async function findTool(env: NodeJS.ProcessEnv): Promise<{ kind: 'gpgv' | 'gpg'; path: string }> {
  const dirs = (env.PATH ?? '').split(':').filter(Boolean);
  for (const kind of ['gpgv', 'gpg'] as const) {
    for (const dir of dirs) {
      const path = join(dir, kind);
      try {
        await access(path, 1 /* X_OK */);
        return { kind, path };
      } catch {
        /* not here */
      }
    }
  }
  throw new PrerequisiteError('--verify-signatures needs gpgv or gpg, and neither is on PATH', gpgHint);
}

/**
 * ASCII armor → binary OpenPGP packets (RFC 4880 §6), for a machine that has gpgv but not gpg: every PUBLIC KEY BLOCK
 * is decoded and concatenated into one keyring gpgv can read. The signer is then still checked against the pinned
 * fingerprints (VALIDSIG), so an extra key in the block cannot sign for a release.
 */
export function dearmorKeys(armored: string): Buffer {
  const blocks = armored.match(/-----BEGIN PGP PUBLIC KEY BLOCK-----[\s\S]*?-----END PGP PUBLIC KEY BLOCK-----/g) ?? [];
  const parts = blocks.map((block) => {
    const lines = block.split(/\r?\n/).slice(1, -1);
    const blank = lines.findIndex((l) => l.trim() === '');
    const body = (blank >= 0 ? lines.slice(blank + 1) : lines).map((l) => l.trim()).filter((l) => l && !/^=[A-Za-z0-9+/]{4}$/.test(l));
    return Buffer.from(body.join(''), 'base64');
  });
  return Buffer.concat(parts);
}

function statusLines(stdout: string): string[][] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('[GNUPG:] '))
    .map((l) => l.slice(9).split(' '));
}

/**
 * Verifies `signature` (a detached .asc or binary .sig) over `file` with only the pinned keys of `keys`. Returns the
 * signer; throws SignatureError (exit 5) for a bad signature, an unpinned signer or a file that is not a signature.
 */
export async function verifySignature(opts: {
  file: string;
  signature: string;
  keys: SigningKeys;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}): Promise<VerifiedSignature> {
  const env = opts.env ?? process.env;
  const tool = await findTool(env);
  const gpg = tool.kind === 'gpg' ? tool.path : join(dirname(tool.path), 'gpg');
  const pinned = new Map(opts.keys.keys.map((k) => [k.fingerprint, k]));
  const work = await mkdtemp(join(tmpdir(), 'wsgi-httpd-gpg-'));
  const home = join(work, 'home');
  const keyring = join(work, 'pinned.gpg');
  const childEnv = { ...env, GNUPGHOME: home, LC_ALL: 'C', LANGUAGE: 'C' };
  const signal = opts.signal ?? AbortSignal.timeout(120_000);
  try {
    await mkdir(home, { mode: 0o700 });
    await chmod(home, 0o700);
    const armoredFile = join(work, 'keys.asc');
    await writeFile(armoredFile, opts.keys.armored);
    // A keyring of exactly the pinned keys: import the armored block into the throwaway home, export only the listed
    // fingerprints, so a key in the armored block whose fingerprint is not listed never reaches the keyring. With
    // gpgv alone (Debian's minimal images have gpgv, not gpg) the armor is decoded here instead; the VALIDSIG check
    // below still accepts only the listed fingerprints.
    const base = [gpg, '--batch', '--no-tty', '--no-options', '--homedir', home, '--no-auto-key-locate', '--no-auto-key-retrieve'];
    if (await isRegularFile(gpg)) {
      const imported = await run([...base, '--import', armoredFile], { env: childEnv, signal });
      if (imported.code !== 0) {
        throw new SignatureError(
          `the pinned keys in ${opts.keys.origin ?? opts.keys.name} could not be read by gpg: ${imported.stderr.trim().split('\n').at(-1)}`,
          'restore the signing-key file from the package',
        );
      }
      const toFile = await run([...base, '--output', keyring, '--export', ...pinned.keys()], { env: childEnv, signal });
      if (toFile.code !== 0 || !(await isRegularFile(keyring))) {
        throw new SignatureError(
          `none of the pinned fingerprints of ${opts.keys.name} has a key in ${opts.keys.origin ?? 'its file'}`,
          'restore the signing-key file from the package',
        );
      }
    } else {
      await writeFile(keyring, dearmorKeys(opts.keys.armored));
    }
    const argv =
      tool.kind === 'gpgv'
        ? [tool.path, '--homedir', home, '--status-fd', '1', '--keyring', keyring, opts.signature, opts.file]
        : [
            ...base,
            '--no-default-keyring',
            '--keyring',
            keyring,
            '--trust-model',
            'always',
            '--status-fd',
            '1',
            '--verify',
            opts.signature,
            opts.file,
          ];
    const result = await run(argv, { env: childEnv, signal });
    const status = statusLines(result.stdout);
    const valid = status.find((s) => s[0] === 'VALIDSIG');
    const name = opts.file.split('/').at(-1);
    const signatureName = opts.signature.split('/').at(-1);
    if (result.code === 0 && valid) {
      const primary = (valid[10] ?? valid[1] ?? '').toUpperCase();
      const key = pinned.get(primary);
      if (!key) {
        throw new SignatureError(
          `${signatureName} was made by key ${primary}, which is not pinned for ${opts.keys.components.join('/')}`,
          `only the keys in ${opts.keys.origin} are accepted`,
        );
      }
      const date = /^\d{4}-\d\d-\d\d$/.test(valid[2] ?? '') ? valid[2]! : new Date(Number(valid[3]) * 1000).toISOString().slice(0, 10);
      return { fingerprint: primary, uid: key.uid, date };
    }
    const bad = status.find((s) => s[0] === 'BADSIG');
    if (bad) {
      throw new SignatureError(
        `BAD signature: ${signatureName} does not match ${name} (signed by ${bad.slice(2).join(' ')}, key ${bad[1]})`,
        'the file or its signature was altered after it was signed; delete both and fetch them again from another mirror, and do not build from them',
      );
    }
    const err = status.find((s) => s[0] === 'ERRSIG');
    const noKey = status.find((s) => s[0] === 'NO_PUBKEY');
    if (err || noKey) {
      const keyId = (noKey?.[1] ?? err?.[1] ?? '?').toUpperCase();
      const fpr = err?.[7] && /^[0-9A-F]{40}$/i.test(err[7]) ? ` (fingerprint ${err[7].toUpperCase()})` : '';
      throw new SignatureError(
        `${signatureName} was made by key ${keyId}${fpr}, which is not one of the ${pinned.size} pinned release-manager keys for ${opts.keys.components.join('/')}`,
        `the signer is unknown: if it is a new Apache release manager, add their key (from the project's KEYS file) to ${opts.keys.origin}; otherwise do not trust this file`,
      );
    }
    if (status.some((s) => s[0] === 'NODATA') || status.length === 0) {
      throw new SignatureError(
        `${signatureName} is not an OpenPGP signature (${result.stderr.trim().split('\n').at(-1) ?? 'no data'})`,
        'delete it and fetch the real .asc file',
      );
    }
    throw new SignatureError(
      `the signature ${signatureName} of ${name} did not verify (${status.map((s) => s[0]).join(', ')}; ${result.stderr.trim().split('\n').at(-1) ?? ''})`,
      'delete the file and its signature and fetch them again',
    );
  } finally {
    // gpg may have started an agent for the throwaway home: stop it (only that home's), then remove everything
    await run(['gpgconf', '--homedir', home, '--kill', 'all'], { env: childEnv }).catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  }
}

/** `<cache path>.asc`: the signature is kept beside its tarball in the content-addressed cache. */
export function signatureCachePath(archivePath: string): string {
  return `${archivePath}.asc`;
}

const maxSignatureBytes = 256 * 1024;

async function downloadSmall(url: string, dest: string, env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<string> {
  const partial = partialName(dest);
  await mkdir(dirname(dest), { recursive: true });
  const stream = got.stream(url, {
    throwHttpErrors: false,
    retry: { limit: 1 },
    timeout: { connect: 30_000, response: 60_000, socket: 60_000 },
    headers: { 'user-agent': 'wsgi-httpd (+https://www.npmjs.com/package/wsgi-httpd)' },
    agent: agentsFor(url, env, { connectTimeout: 30_000 }) ?? {},
    request: proxyRequest(env),
    signal,
  });
  stream.on('error', () => {});
  const status = await new Promise<number>((resolve, reject) => {
    stream.once('response', (r: { statusCode?: number }) => resolve(r.statusCode ?? 0));
    stream.once('error', reject);
  }).catch((error: Error & { code?: string }) => {
    stream.destroy();
    return error.code ?? error.message;
  });
  if (status !== 200) {
    stream.destroy();
    return String(status);
  }
  let size = 0;
  const out = createWriteStream(partial, { flags: 'wx' });
  let writeFailed: Error | undefined;
  out.on('error', (error) => (writeFailed = error));
  try {
    await pipeline(
      stream,
      new Transform({
        transform(chunk: Buffer, _e, cb) {
          size += chunk.length;
          cb(size > maxSignatureBytes ? new Error(`larger than ${maxSignatureBytes} bytes: not a signature`) : null, chunk);
        },
      }),
      out,
    );
  } catch (error) {
    await rm(partial, { force: true });
    // A full or read-only cache is not this URL's fault: another URL would fail the same way.
    const known = writeFailed && fromSystemError(writeFailed, { path: partial, action: 'write to' });
    if (known) throw known;
    return (error as { code?: string }).code ?? (error as Error).message;
  }
  await rename(partial, dest);
  return 'ok';
}

/**
 * Puts the signature of an acquired tarball into the cache beside it, and returns where it is and where it came from.
 * Order: the cache; `<file>.asc` next to a --sources file (the one used, or any with the same sha256); the file://
 * mirror layout; then (not offline) the URL that served the tarball + ".asc", the http mirrors and the upstream URLs.
 */
export async function acquireSignature(opts: {
  component: string;
  version: string;
  acquired: AcquireResult;
  artifacts: ArtifactRef[];
  mirrorPath: string;
  mirrors?: string[];
  sourceIndex?: Map<string, string>;
  offline?: boolean;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}): Promise<{ path: string; origin: string }> {
  const dest = signatureCachePath(opts.acquired.path);
  if (await isRegularFile(dest)) return { path: dest, origin: 'cache' };
  const tried: string[] = [];
  const copyFrom = async (path: string, origin: string) => {
    if (!(await isRegularFile(path))) {
      tried.push(`${path}: not found`);
      return undefined;
    }
    const info = await stat(path);
    if (info.size > maxSignatureBytes) {
      tried.push(`${path}: too large for a signature`);
      return undefined;
    }
    const partial = partialName(dest);
    await copyFile(path, partial, constants.COPYFILE_EXCL);
    await rename(partial, dest);
    return { path: dest, origin };
  };
  const local: string[] = [];
  if (opts.acquired.origin.startsWith('sources:')) local.push(opts.acquired.origin.slice('sources:'.length));
  const indexed = opts.sourceIndex?.get(opts.acquired.artifact.sha256.toLowerCase());
  if (indexed) local.push(indexed);
  if (/^file:/i.test(opts.acquired.origin)) local.push(fileURLToPath(opts.acquired.origin));
  const relative = expandMirrorPath(opts.mirrorPath, { file: opts.acquired.artifact.file, version: opts.version, component: opts.component });
  for (const mirror of (opts.mirrors ?? []).filter((m) => /^file:/i.test(m))) {
    try {
      local.push(fileURLToPath(mirrorUrl(mirror, relative)));
    } catch {
      /* not a local URL */
    }
  }
  for (const path of [...new Set(local)]) {
    const found = await copyFrom(`${path}.asc`, `${path}.asc`);
    if (found) return found;
  }
  if (!opts.offline) {
    const urls: string[] = [];
    if (/^https?:/i.test(opts.acquired.origin)) urls.push(opts.acquired.origin);
    for (const m of (opts.mirrors ?? []).filter((m) => /^https?:/i.test(m))) urls.push(mirrorUrl(m, relative));
    const artifact = opts.artifacts.find((a) => a.sha256.toLowerCase() === opts.acquired.artifact.sha256.toLowerCase());
    urls.push(...(artifact?.urls ?? []));
    for (const url of [...new Set(urls)]) {
      const outcome = await downloadSmall(`${url}.asc`, dest, opts.env ?? process.env, opts.signal);
      if (outcome === 'ok') return { path: dest, origin: `${url}.asc` };
      tried.push(`${url}.asc: ${outcome}`);
    }
  }
  const file = opts.acquired.artifact.file;
  throw new DownloadError(
    `no signature found for ${opts.component} ${opts.version} (${file}.asc)${tried.length ? `; tried:\n${tried.map((t) => `  ${t}`).join('\n')}` : ''}`,
    opts.offline
      ? `put the signature beside the tarball as <its file name>.asc (in the --sources directory or the --mirror tree), or drop --verify-signatures`
      : `check the network, pass a --mirror that also has the .asc files, or drop --verify-signatures`,
  );
}

/** Acquire + verify; a signature that fails is removed from the cache so the next run fetches it again. */
export async function checkSignature(
  opts: Parameters<typeof acquireSignature>[0] & { keys: SigningKeys },
): Promise<VerifiedSignature & { signature: string; origin: string }> {
  const sig = await acquireSignature(opts);
  try {
    const verified = await verifySignature({ file: opts.acquired.path, signature: sig.path, keys: opts.keys, env: opts.env, signal: opts.signal });
    return { ...verified, signature: sig.path, origin: sig.origin };
  } catch (error) {
    if (error instanceof SignatureError) await rm(sig.path, { force: true });
    throw error;
  }
}

/**
 * A real OCI registry for tests: Debian's `docker-registry` (distribution 2.8) started on a free 127.0.0.1 port with a
 * config of its own (JSON, which its YAML parser reads): filesystem storage in a temp dir, and optionally TLS from a
 * throwaway CA made with openssl, htpasswd Basic auth (bcrypt, apache2-utils), or token auth against a realm the test
 * runs. Each process runs under `timeout`, so it ends by itself even if the test runner dies; stop() ends it sooner.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import https from 'node:https';
import http from 'node:http';
import { randomBytes } from 'node:crypto';

export const registryBinary = '/usr/bin/docker-registry';
const requiredTools: Record<string, string> = {
  [registryBinary]: 'docker-registry',
  '/usr/bin/htpasswd': 'apache2-utils',
  '/usr/bin/openssl': 'openssl',
  '/usr/bin/timeout': 'coreutils',
};

/** Tools the registry tests need that are not installed, as "path (Debian package)". */
export function missingRegistryTools(): string[] {
  return Object.entries(requiredTools)
    .filter(([path]) => !existsSync(path))
    .map(([path, pkg]) => `${path} (apt-get install ${pkg})`);
}

export interface TestPki {
  dir: string;
  /** The CA certificate (PEM file) that signed the server certificate. */
  caFile: string;
  caPem: string;
  /** Server certificate for 127.0.0.1, ::1 and localhost, and its key. */
  certFile: string;
  keyFile: string;
}

function run(command: string, args: string[], input?: string): string {
  const result = spawnSync(command, args, { input, encoding: 'utf8', timeout: 30_000 });
  if (result.status !== 0) throw new Error(`${command} ${args[0]} failed (${result.status ?? result.signal}): ${result.stderr}`);
  return result.stdout;
}

/** A throwaway CA and a server certificate signed by it (SAN: IP 127.0.0.1, IP ::1, DNS localhost). */
export async function makeTestPki(dir: string): Promise<TestPki> {
  await mkdir(dir, { recursive: true });
  const caKey = join(dir, 'ca.key');
  const caFile = join(dir, 'ca.crt');
  const keyFile = join(dir, 'server.key');
  const csr = join(dir, 'server.csr');
  const certFile = join(dir, 'server.crt');
  const ext = join(dir, 'server.ext');
  run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    caKey,
    '-out',
    caFile,
    '-days',
    '2',
    '-subj',
    '/CN=wsgi-httpd test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  run('openssl', [
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    csr,
    '-subj',
    '/CN=127.0.0.1',
  ]);
  await writeFile(
    ext,
    'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n',
  );
  run('openssl', [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    caFile,
    '-CAkey',
    caKey,
    '-set_serial',
    `0x${randomBytes(8).toString('hex')}`,
    '-days',
    '2',
    '-out',
    certFile,
    '-extfile',
    ext,
  ]);
  return { dir, caFile, caPem: await readFile(caFile, 'utf8'), certFile, keyFile };
}

/** A bcrypt htpasswd file for one user (the password goes through stdin, not the command line). */
export async function makeHtpasswd(file: string, user: string, password: string): Promise<void> {
  await writeFile(file, run('htpasswd', ['-niB', user], password));
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface RegistryOptions {
  /** Work directory: config, storage (`<dir>/storage`) and log go there. */
  dir: string;
  tls?: TestPki;
  htpasswd?: { file: string };
  token?: { realm: string; service: string; issuer: string; rootCertBundle: string };
  /** Send upload Locations as paths instead of absolute URLs (distribution's http.relativeurls). */
  relativeUrls?: boolean;
  /** Longest life of the process, seconds (default 900). */
  lifetimeS?: number;
}

export interface RegistryInstance {
  /** `127.0.0.1:PORT` */
  host: string;
  port: number;
  url: string;
  /** Filesystem driver root: blobs are under docker/registry/v2/blobs/sha256/xx/<hex>/data. */
  storageDir: string;
  /** What the process wrote so far (stdout and stderr). */
  output(): string;
  stop(): Promise<void>;
}

export async function startRegistry(options: RegistryOptions): Promise<RegistryInstance> {
  await mkdir(options.dir, { recursive: true });
  const storageDir = join(options.dir, 'storage');
  await mkdir(storageDir, { recursive: true });
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    try {
      return await launch(options, storageDir, port);
    } catch (error) {
      lastError = error; // most likely the port was taken in between: try another
    }
  }
  throw lastError;
}

async function launch(options: RegistryOptions, storageDir: string, port: number): Promise<RegistryInstance> {
  const auth = options.htpasswd
    ? { htpasswd: { realm: 'wsgi-httpd-test', path: options.htpasswd.file } }
    : options.token
      ? {
          token: {
            realm: options.token.realm,
            service: options.token.service,
            issuer: options.token.issuer,
            rootcertbundle: options.token.rootCertBundle,
          },
        }
      : undefined;
  const config = {
    version: 0.1,
    // The access log (combined format, on stdout) lets tests see the requests a client made.
    log: { level: 'warn', formatter: 'text', accesslog: { disabled: false } },
    storage: { filesystem: { rootdirectory: storageDir }, delete: { enabled: true }, maintenance: { uploadpurging: { enabled: false } } },
    http: {
      addr: `127.0.0.1:${port}`,
      secret: randomBytes(16).toString('hex'),
      headers: { 'X-Content-Type-Options': ['nosniff'] },
      relativeurls: options.relativeUrls ?? false,
      ...(options.tls ? { tls: { certificate: options.tls.certFile, key: options.tls.keyFile } } : {}),
    },
    ...(auth ? { auth } : {}),
  };
  const configFile = join(options.dir, `config-${port}.yml`);
  await writeFile(configFile, JSON.stringify(config, null, 2));
  const child: ChildProcess = spawn('timeout', ['--kill-after=5', String(options.lifetimeS ?? 900), registryBinary, 'serve', configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.on('exit', () => {
      exited = true;
      resolve();
    }),
  );
  const stop = async () => {
    if (exited) return;
    child.kill('SIGTERM');
    await Promise.race([exit, sleep(5_000)]);
    if (!exited) child.kill('SIGKILL');
    await exit;
  };
  const scheme = options.tls ? 'https' : 'http';
  const url = `${scheme}://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (exited) throw new Error(`docker-registry exited at start: ${output.trim()}`);
    if (await answers(`${url}/v2/`, options.tls?.caPem)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`docker-registry did not answer on ${url}/v2/ within 15 s: ${output.trim()}`);
    }
    await sleep(100);
  }
  return { host: `127.0.0.1:${port}`, port, url, storageDir, output: () => output, stop };
}

/** Any HTTP answer (200 or 401) means the server is up. */
function answers(url: string, ca?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const get = url.startsWith('https:') ? https.get : http.get;
    const request = get(url, { timeout: 1_000, ...(ca ? { ca } : {}) }, (response) => {
      response.resume();
      resolve(true);
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(false));
  });
}

/** `<storage>/docker/registry/v2/blobs/sha256/<first two hex>/<hex>/data`: where the filesystem driver keeps a blob. */
export function blobDataFile(storageDir: string, digest: string): string {
  const hex = digest.replace(/^sha256:/, '');
  return join(storageDir, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
}

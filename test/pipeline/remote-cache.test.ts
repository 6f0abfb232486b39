/**
 * Sharing built stacks through a real OCI registry (Debian's docker-registry, the CNCF Distribution registry, on
 * loopback with TLS from a test CA and htpasswd Basic auth): `push` and `--cache-to` upload layers once, a build with
 * an empty store and `--cache-from` compiles nothing, a second Python uploads only its mod_wsgi layer, skopeo reads
 * what we push, a corrupted blob is refused and built locally, and a registry that refuses, fails or is down costs one
 * warning line and a local build. The password never appears in any output or log.
 */
import test, { type ExecutionContext } from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { type CliResult, compiledComponents as compiled, runCli } from '../helpers/cli.js';
import { closeFixtureWorld, type FixtureWorld, openFixtureWorld } from '../helpers/fixture-world.js';
import {
  blobDataFile,
  freePort,
  makeHtpasswd,
  makeTestPki,
  missingRegistryTools,
  type RegistryInstance,
  startRegistry,
  type TestPki,
} from '../helpers/registry.js';

const missing = missingRegistryTools();
const skopeo = '/usr/bin/skopeo';
function registryTest(title: string, fn: (t: ExecutionContext) => Promise<void>, also: string[] = []): void {
  const absent = [...missing, ...also];
  if (absent.length === 0) test.serial(title, fn);
  else if (process.env.CI) test.serial(title, (t) => t.fail(`needs ${absent.join(', ')}`));
  else test.skip(`${title} (skipped: needs ${absent.join(', ')})`, () => {});
}

const user = 'wsgi-pusher';
const password = `pw-${randomBytes(12).toString('hex')}`;
let world: FixtureWorld;
let pki: TestPki;
let registry: RegistryInstance;
let failing: Server;
let failingPort = 0;
/** Everything the CLI printed in this file, checked for the password at the end. */
const outputs: string[] = [];

test.before(async () => {
  world = await openFixtureWorld('remote');
  if (missing.length > 0) return;
  pki = await makeTestPki(join(world.work, 'pki'));
  const htpasswd = join(world.work, 'htpasswd');
  await makeHtpasswd(htpasswd, user, password);
  registry = await startRegistry({ dir: join(world.work, 'registry'), tls: pki, htpasswd: { file: htpasswd } });
  failing = createServer((_req, res) => res.writeHead(500, { 'content-type': 'text/plain' }).end('boom'));
  failingPort = await freePort();
  await new Promise<void>((r) => failing.listen(failingPort, '127.0.0.1', r));
});
test.after.always(async () => {
  await registry?.stop();
  await new Promise<void>((r) => (failing ? failing.close(() => r()) : r()));
  await closeFixtureWorld(world);
});

const ref = (repo: string, tag = 'ci') => `${registry.host}/${repo}:${tag}`;
const env = (store: string, extra: NodeJS.ProcessEnv = {}) => ({
  WSGI_HTTPD_CACHE_DIR: join(world.work, store),
  WSGI_HTTPD_PREFIX: '',
  VIRTUAL_ENV: '',
  NODE_EXTRA_CA_CERTS: pki.caFile,
  WSGI_HTTPD_REGISTRY_USER: user,
  WSGI_HTTPD_REGISTRY_PASSWORD: password,
  DOCKER_CONFIG: join(world.work, 'no-docker-config'),
  ...extra,
});
async function cli(args: string[], environment: NodeJS.ProcessEnv): Promise<CliResult> {
  const result = await runCli(args, { env: environment });
  outputs.push(result.stdout, result.stderr);
  return result;
}
const build = (prefix: string, store: string, extra: string[] = [], environment: NodeJS.ProcessEnv = {}, python = '/usr/bin/python3') =>
  cli(
    ['build', '--prefix', join(world.work, prefix), '--recipes', world.fixtures.recipesDir, '--python', python, '--no-verify', '--plain', ...extra],
    env(store, environment),
  );
const warnings = (r: CliResult) => (r.stdout + r.stderr).split('\n').filter((l) => /warning: /.test(l));

/** Another Python than /usr/bin/python3 (a second identity), when this machine has one. */
const otherPython = (() => {
  for (const root of ['/root/.pyenv/versions']) {
    try {
      const version = readdirSync(root)
        .filter((v) => /^3\.(1[0-9]|9)\./.test(v))
        .sort()
        .at(-1);
      if (version) return join(root, version, 'bin', 'python');
    } catch {
      /* none */
    }
  }
  return undefined;
})();

registryTest('--cache-to pushes every layer; a fresh prefix with an empty store and --cache-from compiles and downloads nothing', async (t) => {
  const first = await build('p1', 'store-1', ['--cache-to', ref('stacks')]);
  t.is(first.code, 0, first.stderr + first.stdout);
  t.deepEqual(compiled(first.stdout), ['pcre2', 'apr', 'apr-util', 'httpd', 'mod_wsgi']);
  t.regex(first.stdout, /pushed to 127\.0\.0\.1:\d+\/stacks:ci: 5 of 5 layers uploaded/);

  const requests = world.server.requests.length;
  const second = await build('p2', 'store-2', ['--cache-from', ref('stacks')]);
  t.is(second.code, 0, second.stderr + second.stdout);
  t.deepEqual(compiled(second.stdout), [], 'nothing compiled');
  t.is(world.server.requests.length, requests, 'no source downloaded');
  t.is((second.stdout.match(/pulled from 127\.0\.0\.1:\d+\/stacks:ci, every file checked, nothing to build/g) ?? []).length, 5);
  t.regex(execFileSync(join(world.work, 'p2', 'httpd', 'bin', 'httpd'), ['-V'], { env: { PATH: process.env.PATH } }).toString(), /Apache\/2\.4\.99/);
  t.deepEqual(warnings(second), []);
});

registryTest(
  'a second Python compiles only mod_wsgi, and its push uploads exactly one new layer',
  async (t) => {
    const built = await build('p-second-python', 'store-1', [], {}, otherPython!);
    t.is(built.code, 0, built.stderr + built.stdout);
    t.deepEqual(compiled(built.stdout), ['mod_wsgi']);
    const pushed = await cli(['push', '--prefix', join(world.work, 'p-second-python'), ref('stacks', 'second-python')], env('store-1'));
    t.is(pushed.code, 0, pushed.stderr);
    t.regex(pushed.stdout, /^1 of 5 layers uploaded/m);
    t.regex(pushed.stdout, /mod_wsgi +[0-9a-f]{12} .* uploaded$/m);
  },
  otherPython ? [] : ['a second Python (a pyenv 3.9+ under /root/.pyenv/versions)'],
);

registryTest(
  'skopeo reads the manifest we pushed, and a skopeo copy to another repository stays installable',
  async (t) => {
    const creds = ['--creds', `${user}:${password}`, '--cert-dir', join(world.work, 'pki-certs')];
    await mkdir(join(world.work, 'pki-certs'), { recursive: true });
    await writeFile(join(world.work, 'pki-certs', 'ca.crt'), pki.caPem);
    const raw = spawnSync(skopeo, ['inspect', '--raw', ...creds, `docker://${ref('stacks')}`], { encoding: 'utf8', timeout: 60_000 });
    t.is(raw.status, 0, raw.stderr);
    const manifest = JSON.parse(raw.stdout);
    t.is(manifest.artifactType, 'application/vnd.wsgi-httpd.stack.v1');
    t.is(manifest.layers.length, 5);
    t.regex(manifest.annotations['io.wsgi-httpd.components'], /pcre2 10\.99, apr 1\.9\.0, apr-util 1\.9\.0, httpd 2\.4\.99, mod_wsgi 9\.0\.0/);
    t.regex(manifest.annotations['io.wsgi-httpd.python'], /^cpython 3\.\d+\.\d+/);
    t.truthy(manifest.annotations['io.wsgi-httpd.os'] && manifest.annotations['io.wsgi-httpd.arch']);
    t.regex(manifest.annotations['io.wsgi-httpd.glibc'] ?? 'n/a', /^(\d+\.\d+|n\/a)$/);

    // Copying the stack copies its blobs; the layer tags (layer-<key>) are what --cache-from looks up, so copy those too.
    const copy = (from: string, to: string) =>
      spawnSync(
        skopeo,
        [
          'copy',
          '--all',
          '--src-creds',
          `${user}:${password}`,
          '--dest-creds',
          `${user}:${password}`,
          '--src-cert-dir',
          join(world.work, 'pki-certs'),
          '--dest-cert-dir',
          join(world.work, 'pki-certs'),
          `docker://${from}`,
          `docker://${to}`,
        ],
        {
          encoding: 'utf8',
          timeout: 120_000,
        },
      );
    const tags = JSON.parse(spawnSync(skopeo, ['list-tags', ...creds, `docker://${registry.host}/stacks`], { encoding: 'utf8' }).stdout)
      .Tags as string[];
    for (const tag of [...tags.filter((x) => x.startsWith('layer-')), 'ci']) {
      const copied = copy(`${registry.host}/stacks:${tag}`, `${registry.host}/mirror/stacks:${tag}`);
      t.is(copied.status, 0, copied.stderr);
    }
    const fromCopy = await build('p-from-copy', 'store-copy', ['--cache-from', `${registry.host}/mirror/stacks`]);
    t.is(fromCopy.code, 0, fromCopy.stderr + fromCopy.stdout);
    t.deepEqual(compiled(fromCopy.stdout), []);
  },
  existsSync(skopeo) ? [] : [`${skopeo} (apt-get install skopeo)`],
);

registryTest('a blob corrupted in the registry storage is refused, then built locally', async (t) => {
  const manifestRaw = spawnSync(
    skopeo,
    ['inspect', '--raw', '--creds', `${user}:${password}`, '--cert-dir', join(world.work, 'pki-certs'), `docker://${ref('stacks')}`],
    {
      encoding: 'utf8',
    },
  );
  const manifest = JSON.parse(manifestRaw.stdout) as { layers: { digest: string; annotations: Record<string, string> }[] };
  const apr = manifest.layers.find((l) => l.annotations['io.wsgi-httpd.component'] === 'apr')!;
  const data = blobDataFile(registry.storageDir, apr.digest);
  const bytes = await readFile(data);
  bytes[bytes.length >> 1]! ^= 0xff;
  await writeFile(data, bytes);
  const result = await build('p-corrupt', 'store-corrupt', ['--cache-from', ref('stacks')]);
  t.is(result.code, 0, result.stderr + result.stdout);
  t.deepEqual(compiled(result.stdout), ['apr'], 'only the damaged layer is built; the others are pulled');
  t.regex(warnings(result).join('\n'), /warning: layer apr 1\.9\.0 from 127\.0\.0\.1:\d+\/stacks:ci was refused: .*digest/i);
});

registryTest('wrong credentials, a registry that is down and one that answers 500 each cost one warning and a local build', async (t) => {
  const wrong = await build('p-401', 'store-401', ['--cache-from', ref('stacks')], { WSGI_HTTPD_REGISTRY_PASSWORD: 'not-the-password' });
  t.is(wrong.code, 0, wrong.stderr + wrong.stdout);
  t.deepEqual(compiled(wrong.stdout), ['pcre2', 'apr', 'apr-util', 'httpd', 'mod_wsgi']);
  t.is(warnings(wrong).length, 1, warnings(wrong).join('\n'));
  t.regex(warnings(wrong)[0]!, /remote cache 127\.0\.0\.1:\d+\/stacks:ci skipped: .*(401|credentials|auth)/i);

  const downPort = await freePort();
  const down = await build('p-down', 'store-down', ['--cache-from', `127.0.0.1:${downPort}/stacks:ci`]);
  t.is(down.code, 0, down.stderr + down.stdout);
  t.is(warnings(down).length, 1, warnings(down).join('\n'));
  t.regex(warnings(down)[0]!, /remote cache 127\.0\.0\.1:\d+\/stacks:ci skipped: /);

  const broken = await build('p-500', 'store-500', ['--cache-from', `127.0.0.1:${failingPort}/stacks:ci`]);
  t.is(broken.code, 0, broken.stderr + broken.stdout);
  t.is(warnings(broken).length, 1, warnings(broken).join('\n'));
  t.regex(warnings(broken)[0]!, /remote cache 127\.0\.0\.1:\d+\/stacks:ci skipped: .*500/);
});

registryTest('--offline never asks a --cache-from registry', async (t) => {
  const result = await build('p-offline', 'store-offline', [
    '--offline',
    '--sources',
    world.fixtures.sourcesDir,
    '--cache-from',
    `127.0.0.1:${failingPort}/stacks:ci`,
  ]);
  t.is(result.code, 0, result.stderr + result.stdout);
  t.deepEqual(warnings(result), []);
  t.regex(result.stdout, /--offline: 127\.0\.0\.1:\d+\/stacks:ci not asked for the 5 missing layer\(s\); they are built here/, 'said, not silent');
  t.deepEqual(compiled(result.stdout), ['pcre2', 'apr', 'apr-util', 'httpd', 'mod_wsgi']);
});

registryTest('two pushes of the same stack at once (two prefixes, as two machines would) both succeed', async (t) => {
  const [a, b] = await Promise.all([
    cli(['push', '--prefix', join(world.work, 'p1'), ref('concurrent', 'same')], env('store-1')),
    cli(['push', '--prefix', join(world.work, 'p2'), ref('concurrent', 'same')], env('store-2')),
  ]);
  t.is(a.code, 0, a.stderr);
  t.is(b.code, 0, b.stderr);
});

registryTest('the password appears in no output and no build log', async (t) => {
  const logs: string[] = [];
  for (const store of (await readdir(world.work)).filter((d) => d.startsWith('store-'))) {
    const dir = join(world.work, store, 'logs');
    for (const name of await readdir(dir).catch(() => [] as string[])) logs.push(await readFile(join(dir, name), 'utf8'));
  }
  t.true(outputs.length > 10 && logs.length > 3);
  const leaks = [...outputs, ...logs].filter(
    (text) => text.includes(password) || text.includes(Buffer.from(`${user}:${password}`).toString('base64')),
  );
  t.deepEqual(leaks, []);
});

/**
 * `wsgi-toolchain pack` and `build --from-archive` on fixture builds: an archive is the stack record plus one blob per
 * layer (the registry's format). It installs into another prefix with the store gone, offline and without compiling;
 * an archive changed after packing is refused, naming what changed, even when the prefix is up to date; a stack for
 * another Python is refused naming both identities.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { closeFixtureWorld, type FixtureWorld, openFixtureWorld } from '../helpers/fixture-world.js';
import { snapshotTree } from '../helpers/tree.js';

let world: FixtureWorld;
test.before(async () => {
  world = await openFixtureWorld('pack');
});
test.after.always(() => closeFixtureWorld(world));

const work = () => world.work;
const storeEnv = (name: string) => ({ WSGI_HTTPD_CACHE_DIR: join(work(), name), WSGI_HTTPD_PREFIX: '', VIRTUAL_ENV: '' });
const fromArchive = (archive: string, prefix: string) => [
  'build',
  '--from-archive',
  archive,
  '--prefix',
  prefix,
  '--python',
  '/usr/bin/python3',
  '--no-verify',
  '--plain',
];
const httpdVersion = (prefix: string) => execFileSync(join(prefix, 'httpd', 'bin', 'httpd'), ['-V'], { env: { PATH: process.env.PATH } }).toString();
/** Lines of component build phases: a build from an archive has none. */
const componentPhase = /^\[[\d:]+\] \S+ [\d.]+: (unpack|patch|configure|compile|install)\b/m;
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

interface StackJson {
  layers: { component: string; key: string; sha256: string; size: number }[];
}

/** Unpacks an archive, lets `change` edit one layer's unpacked blob (or the record), packs it all again. */
async function tamper(
  archive: string,
  output: string,
  component: string,
  change: (layerDir: string) => Promise<void>,
  fixDigest = true,
): Promise<void> {
  const dir = await mkdtemp(join(work(), 'tamper-'));
  execFileSync('tar', ['-xf', archive, '-C', dir]);
  const stack = JSON.parse(await readFile(join(dir, 'stack.json'), 'utf8')) as StackJson;
  const layer = stack.layers.find((l) => l.component === component)!;
  const blob = join(dir, 'blobs', `${layer.sha256}.tar.gz`);
  const unpacked = await mkdtemp(join(work(), 'blob-'));
  execFileSync('tar', ['-xzf', blob, '-C', unpacked]);
  await change(unpacked);
  await rm(blob);
  execFileSync('tar', ['-czf', blob, '-C', unpacked, 'layer.json', 'tree']);
  if (fixDigest) {
    const digest = sha256(await readFile(blob));
    await rename(blob, join(dir, 'blobs', `${digest}.tar.gz`));
    layer.sha256 = digest;
    await writeFile(join(dir, 'stack.json'), JSON.stringify(stack, null, 2));
  }
  execFileSync('tar', ['-cf', output, '-C', dir, ...(await readdir(dir))]);
  await rm(dir, { recursive: true, force: true });
  await rm(unpacked, { recursive: true, force: true });
}

/** The components whose layers a store holds. */
async function storedComponents(store: string): Promise<string[]> {
  const out: string[] = [];
  for (const key of await readdir(join(work(), store, 'layers')).catch(() => [] as string[]))
    out.push(JSON.parse(await readFile(join(work(), store, 'layers', key, 'layer.json'), 'utf8')).component);
  return out;
}

let archive: string;
let lockText: string;

test.serial('pack, delete the store, build --from-archive into a new prefix: offline, no compile, httpd -V works', async (t) => {
  const prefix = join(work(), 'p');
  const built = await runCli(
    ['build', '--prefix', prefix, '--recipes', world.fixtures.recipesDir, '--python', '/usr/bin/python3', '--no-verify', '--plain'],
    {
      env: storeEnv('store'),
    },
  );
  t.is(built.code, 0, built.stderr + built.stdout);
  lockText = await readFile(join(prefix, 'wsgi-toolchain.lock.json'), 'utf8');

  archive = join(work(), 'out', 'stack.tar');
  const packed = await runCli(['pack', '--prefix', prefix, '--output', archive], { env: storeEnv('store') });
  t.is(packed.code, 0, packed.stderr);
  t.regex(
    packed.stdout,
    /packed .* \(stack [0-9a-f]{16}: pcre2 10\.99, apr 1\.9\.0, apr-util 1\.9\.0, httpd 2\.4\.99, mod_wsgi 9\.0\.0\) into .*stack\.tar/,
  );
  const entries = execFileSync('tar', ['-tf', archive]).toString().trim().split('\n');
  t.true(entries.includes('stack.json'));
  t.is(entries.filter((e) => /^blobs\/[0-9a-f]{64}\.tar\.gz$/.test(e)).length, 5, 'one blob per layer');
  t.deepEqual(await readdir(join(work(), 'out')), ['stack.tar'], 'no partial file left beside the archive');

  await rm(join(work(), 'store'), { recursive: true, force: true });
  const requests = world.server.requests.length;
  const target = join(work(), 'q');
  const installed = await runCli([...fromArchive(archive, target), '--offline'], { env: storeEnv('store') });
  t.is(installed.code, 0, installed.stderr + installed.stdout);
  t.is(world.server.requests.length, requests, 'no download');
  t.notRegex(installed.stdout, componentPhase, 'no component was built');
  t.regex(installed.stdout, /checked against its manifest/);
  t.regex(httpdVersion(target), /Apache\/2\.4\.99/);
  const apxsPrefix = execFileSync(join(target, 'httpd', 'bin', 'apxs'), ['-q', 'PREFIX'])
    .toString()
    .trim();
  t.true(apxsPrefix.startsWith(join(target, '.wsgi-httpd', 'stacks')), apxsPrefix);
  t.is(await readFile(join(target, 'wsgi-toolchain.lock.json'), 'utf8'), lockText, 'the lock of the packed build');
  t.is(
    execFileSync(join(target, 'bin', 'mod_wsgi-express'), ['module-location'])
      .toString()
      .trim()
      .startsWith(join(target, 'httpd', 'python')),
    true,
  );

  const again = await runCli(fromArchive(archive, target), { env: storeEnv('store') });
  t.is(again.code, 0, again.stderr);
  t.regex(again.stdout, /^up to date: /m);
});

test.serial('a tampered archive is refused naming what changed; nothing is installed or stored', async (t) => {
  const prefix = join(work(), 'tampered');
  const changedFile = join(work(), 'out', 'changed-file.tar');
  await tamper(archive, changedFile, 'httpd', (dir) => writeFile(join(dir, 'tree', 'bin', 'apxs'), '\n# changed after packing\n', { flag: 'a' }));
  const refused = await runCli(fromArchive(changedFile, prefix), { env: storeEnv('store-tampered') });
  t.is(refused.code, 5, refused.stderr);
  t.regex(
    refused.stderr.trim().split('\n').at(-1)!,
    /layer httpd 2\.4\.99 .* is damaged or was tampered with: bin\/apxs has (\d+ bytes|sha256 [0-9a-f]{64}), the manifest says/,
  );
  t.false(existsSync(prefix), 'no prefix was made');
  t.false((await storedComponents('store-tampered')).includes('httpd'), 'the tampered layer never entered the store');

  const extraFile = join(work(), 'out', 'extra-file.tar');
  await tamper(archive, extraFile, 'httpd', (dir) => writeFile(join(dir, 'tree', 'modules', 'mod_evil.so'), 'not in the manifest'));
  const extra = await runCli(fromArchive(extraFile, prefix), { env: storeEnv('store-extra') });
  t.is(extra.code, 5, extra.stderr);
  t.regex(extra.stderr, /modules\/mod_evil\.so is not in the manifest/);
  t.false((await storedComponents('store-extra')).includes('httpd'), 'the tampered layer never entered the store');

  const flipped = join(work(), 'out', 'flipped-blob.tar');
  await tamper(archive, flipped, 'apr', async () => undefined, false);
  const digest = await runCli(fromArchive(flipped, prefix), { env: storeEnv('store-flipped') });
  t.is(digest.code, 5, digest.stderr);
  t.regex(digest.stderr, /checksum mismatch for blobs\/[0-9a-f]{64}\.tar\.gz \(layer apr 1\.9\.0\)/);
  t.false(existsSync(prefix));
});

test.serial('--from-archive checks the archive even when the prefix is already up to date', async (t) => {
  const target = join(work(), 'q');
  const before = await snapshotTree(target);
  const changed = join(work(), 'out', 'changed-file.tar');
  const result = await runCli(fromArchive(changed, target), { env: storeEnv('store') });
  t.is(result.code, 5, result.stderr + result.stdout);
  t.notRegex(result.stdout, /up to date/);
  t.deepEqual(await snapshotTree(target), before);
});

test.serial('an archive whose mod_wsgi layer is for another Python is refused naming both Pythons', async (t) => {
  const otherPython = join(work(), 'out', 'other-python.tar');
  await tamper(archive, otherPython, 'mod_wsgi', async (dir) => {
    const record = JSON.parse(await readFile(join(dir, 'layer.json'), 'utf8'));
    record.inputs.python.version = '3.0.1';
    await writeFile(join(dir, 'layer.json'), JSON.stringify(record));
  });
  const prefix = join(work(), 'other-python');
  const result = await runCli(fromArchive(otherPython, prefix), { env: storeEnv('store-python') });
  t.is(result.code, 2, result.stderr);
  t.regex(result.stderr, /its mod_wsgi layer was built for cpython 3\.0\.1, .* but \/usr\/bin\/python3 is cpython 3\.\d+\.\d+/);
  t.false(existsSync(prefix));
});

test.serial('pack refuses a prefix whose layers the store no longer has, naming the layer', async (t) => {
  await rm(join(work(), 'store', 'layers'), { recursive: true, force: true });
  const result = await runCli(['pack', '--prefix', join(work(), 'q'), '--output', join(work(), 'out', 'gone.tar')], { env: storeEnv('store') });
  t.is(result.code, 2, result.stderr);
  t.regex(result.stderr, /no longer has layer pcre2 10\.99 \([0-9a-f]{12}\)/);
  t.false(existsSync(join(work(), 'out', 'gone.tar')));
  await mkdir(join(work(), 'store', 'layers'), { recursive: true });
});

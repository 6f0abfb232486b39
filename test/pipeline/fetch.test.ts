/**
 * `wsgi-toolchain fetch` end to end on the fixture set: fetch over loopback into a directory in the mirror layout, then
 * stop using the server: `build --mirror file://DIR --offline` and `build --sources DIR --offline`, each with a fresh
 * cache, must build from what fetch wrote while the server sees no new request. Also: progress lines outside a TTY,
 * `fetch --offline`, and --verify-signatures through fetch and build with a throwaway key pinned in an overlay.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { runCliInTty, ttyUnavailable } from '../helpers/tty.js';
import { requiring } from '../helpers/requires.js';
import type { FixtureSet } from '../helpers/fixtures.js';
import type { LoopbackServer } from '../helpers/loopback-server.js';
import { closeFixtureWorld, openFixtureWorld, type FixtureWorld } from '../helpers/fixture-world.js';

let work: string;
let server: LoopbackServer;
let fixtures: FixtureSet;

let world: FixtureWorld | undefined;

test.before(async () => {
  world = await openFixtureWorld('fetch');
  ({ work, server, fixtures } = world);
});

test.after.always(() => closeFixtureWorld(world));

const common = () => ['--recipes', fixtures.recipesDir, '--python', '/usr/bin/python3'];
const buildFlags = () => [...common(), '--no-verify', '--no-python-package', '--plain', '-j', '2'];
const cache = (name: string) => ({ WSGI_HTTPD_CACHE_DIR: join(work, `cache-${name}`) });

interface FetchJson {
  dest: string;
  files: { component: string; file: string; sha256: string; path: string; status: string; origin: string; signature?: { uid: string } }[];
}

test.serial('fetch writes every source in the mirror layout; build --mirror file:// and --sources work offline from it, no request', async (t) => {
  const dest = join(work, 'fetched');
  const first = await runCli(['fetch', '--dest', dest, ...common()], { env: cache('fetch') });
  t.is(first.code, 0, first.stderr + first.stdout);
  // progress outside a TTY: a start and an end line per download
  t.regex(first.stderr, /httpd-2\.4\.99\.tar\.gz: started \(\d+(\.\d)? (B|KiB)\) from 127\.0\.0\.1:\d+/);
  t.regex(first.stderr, /httpd-2\.4\.99\.tar\.gz: done, \d/);
  t.regex(first.stdout, new RegExp(`wrote ${dest}/httpd/httpd-2\\.4\\.99\\.tar\\.gz \\(`));
  t.regex(first.stdout, /--sources .* --offline/);

  const again = await runCli(['fetch', '--dest', dest, ...common(), '--json'], { env: cache('fetch') });
  t.is(again.code, 0, again.stderr);
  const report = JSON.parse(again.stdout) as FetchJson;
  const names = report.files.map((f) => f.component);
  t.true(
    ['pcre2', 'apr', 'apr-util', 'httpd', 'mod_wsgi'].every((c) => names.includes(c)),
    names.join(','),
  );
  for (const f of report.files) {
    t.is(f.path, join(dest, f.component, f.file), 'DIR/<mirrorPath>');
    t.is(f.status, 'unchanged');
    t.is(f.origin, 'cache', 'the second run reuses the cache');
    t.is(execFileSync('sha256sum', [f.path]).toString().split(' ')[0], f.sha256);
  }
  const downloads = server.requests.filter((r) => r.startsWith('GET /')).length;
  t.is(downloads, report.files.length, 'each file downloaded once');

  // from here on the server must not be asked for anything
  const seen = server.requests.length;
  const viaMirror = await runCli(['build', '--prefix', join(work, 'p-mirror'), ...buildFlags(), '--mirror', `file://${dest}`, '--offline'], {
    env: cache('mirror'),
  });
  t.is(viaMirror.code, 0, viaMirror.stderr + viaMirror.stdout);
  t.true(existsSync(join(work, 'p-mirror', 'httpd', 'bin', 'httpd')));
  t.regex(viaMirror.stdout, /httpd-2\.4\.99\.tar\.gz from file:\/\/\S+, sha256 ok/);

  const viaSources = await runCli(['build', '--prefix', join(work, 'p-sources'), ...buildFlags(), '--sources', dest, '--offline'], {
    env: cache('sources'),
  });
  t.is(viaSources.code, 0, viaSources.stderr + viaSources.stdout);
  t.true(existsSync(join(work, 'p-sources', 'httpd', 'bin', 'httpd')));
  t.regex(viaSources.stdout, /httpd-2\.4\.99\.tar\.gz from sources:\S+, sha256 ok/);
  t.is(server.requests.length, seen, 'no request after fetch');
});

requiring(ttyUnavailable()).serial(
  'fetch in a terminal: listr2 draws one line per component, each ticked with what it wrote; stdout keeps the report',
  async (t) => {
    const dest = join(work, 'fetched-tty');
    const result = await runCliInTty(['fetch', '--dest', dest, ...common()], { env: cache('tty'), columns: 100 });
    const text = result.screen.text();
    t.is(result.code, 0, text.join('\n'));
    for (const f of fixtures.files.filter((f) => f.component !== 'expat')) {
      const line = text.find((l) => l.includes(`${f.component} ${f.version}: wrote`));
      t.truthy(line, `${f.component}: ${text.join('\n')}`);
      t.regex(line ?? '', /✔/);
    }
    // the progress lines of the plain mode are not printed in a terminal
    t.false(text.some((l) => /tar\.gz: started/.test(l)));
    t.true(text.some((l) => l.startsWith('wrote ') || l.includes(`wrote ${dest}/httpd/`)));
    t.true(text.every((l) => l.length <= 100));
  },
);

test.serial('fetch --offline copies from the cache or --sources only; with nothing local it lists every missing file (exit 4)', async (t) => {
  const seen = server.requests.length;
  const fromSources = await runCli(['fetch', '--offline', '--dest', join(work, 'copy'), ...common(), '--sources', fixtures.sourcesDir, '--json'], {
    env: cache('offline-copy'),
  });
  t.is(fromSources.code, 0, fromSources.stderr);
  const report = JSON.parse(fromSources.stdout) as FetchJson;
  t.true(report.files.every((f) => f.origin.startsWith('sources:') && f.status === 'written'));

  const empty = await runCli(['fetch', '--offline', '--dest', join(work, 'none'), ...common()], { env: cache('offline-empty') });
  t.is(empty.code, 4, empty.stderr);
  t.regex(empty.stderr, /offline, and these files are not available locally/);
  for (const f of fixtures.files.filter((f) => f.component !== 'expat')) t.true(empty.stderr.includes(f.sha256), f.file);
  t.false(existsSync(join(work, 'none', 'httpd')));
  t.is(server.requests.length, seen);

  const noDest = await runCli(['fetch', ...common()], { env: cache('offline-empty') });
  t.is(noDest.code, 2);
  t.regex(noDest.stderr, /fetch needs --dest DIR/);
});

test.serial('a build over loopback prints download progress lines in plain mode', async (t) => {
  const result = await runCli(['build', '--prefix', join(work, 'p-progress'), ...buildFlags()], { env: cache('progress') });
  t.is(result.code, 0, result.stderr + result.stdout);
  t.regex(result.stdout, /apr-1\.9\.0\.tar\.gz: started \([^)]+\) from 127\.0\.0\.1/);
  t.regex(result.stdout, /apr-1\.9\.0\.tar\.gz: done, [\d.]+ (B|KiB)/);
  t.regex(result.stdout, /apr-1\.9\.0\.tar\.gz downloaded from http:\/\/127\.0\.0\.1:\d+\/\S+, sha256 ok/);
});

const hasGpg = (() => {
  try {
    execFileSync('gpg', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

(hasGpg ? test.serial : test.skip)(
  '--verify-signatures: fetch brings the .asc beside the tarball; an offline build checks it; a bad one is exit 5',
  async (t) => {
    // a throwaway "release manager" signs the fixture httpd tarball; an overlay pins only that key for httpd
    const home = join(work, 'gnupg');
    await mkdir(home, { mode: 0o700 });
    const gpg = (args: string[]) => execFileSync('gpg', ['--batch', '--no-tty', '--homedir', home, ...args]).toString();
    t.teardown(() => void execFileSync('gpgconf', ['--homedir', home, '--kill', 'all'], { stdio: 'ignore' }));
    gpg(['--passphrase', '', '--pinentry-mode', 'loopback', '--quick-generate-key', 'Fixture RM <rm@example.invalid>', 'ed25519', 'sign', 'never']);
    const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(gpg(['--with-colons', '--list-keys']))![1]!;
    const httpd = fixtures.files.find((f) => f.component === 'httpd')!;
    const served = join(fixtures.sourcesDir, 'httpd', httpd.file);
    gpg(['--yes', '--armor', '--output', `${served}.asc`, '--detach-sign', served]);
    const overlay = join(work, 'sig-recipes');
    await mkdir(join(overlay, 'keys'), { recursive: true });
    await writeFile(
      join(overlay, 'keys', 'fixture-httpd.json'),
      JSON.stringify({
        name: 'apache-httpd',
        components: ['httpd'],
        fingerprintsSource: 'generated by this test',
        keysSource: 'generated by this test',
        keys: [{ fingerprint, uid: 'Fixture RM <rm@example.invalid>' }],
        armored: gpg(['--armor', '--export', fingerprint]),
      }),
    );
    // apr and apr-util have pinned keys too (the real Apache ones): sign those fixtures with the throwaway key as well
    // and pin it for them in the overlay, so the whole set verifies
    await writeFile(
      join(overlay, 'keys', 'fixture-apr.json'),
      JSON.stringify({
        ...JSON.parse(await readFile(join(overlay, 'keys', 'fixture-httpd.json'), 'utf8')),
        name: 'apache-apr',
        components: ['apr', 'apr-util'],
      }),
    );
    for (const c of ['apr', 'apr-util']) {
      const f = fixtures.files.find((x) => x.component === c)!;
      const p = join(fixtures.sourcesDir, c, f.file);
      gpg(['--yes', '--armor', '--output', `${p}.asc`, '--detach-sign', p]);
    }
    const sigFlags = ['--recipes', overlay, '--verify-signatures'];

    const dest = join(work, 'fetched-signed');
    const fetched = await runCli(['fetch', '--dest', dest, ...common(), ...sigFlags], { env: cache('sig-fetch') });
    t.is(fetched.code, 0, fetched.stderr + fetched.stdout);
    t.regex(fetched.stdout, /httpd-2\.4\.99\.tar\.gz .*signature ok \(Fixture RM/);
    t.true(server.requests.includes(`GET /httpd/${httpd.file}.asc`));
    t.true(existsSync(join(dest, 'httpd', `${httpd.file}.asc`)));

    const seen = server.requests.length;
    const built = await runCli(['build', '--prefix', join(work, 'p-signed'), ...buildFlags(), ...sigFlags, '--sources', dest, '--offline'], {
      env: cache('sig-build'),
    });
    t.is(built.code, 0, built.stderr + built.stdout);
    t.regex(built.stdout, /httpd-2\.4\.99\.tar\.gz from sources:\S+, sha256 ok, signature ok: Fixture RM/);
    t.is(server.requests.length, seen);

    // the signature of another file next to the tarball: refused, exit 5, nothing built
    const bad = join(work, 'bad-sig');
    await mkdir(bad);
    for (const f of fixtures.files) await copyFile(join(dest, f.component, f.file), join(bad, f.file)).catch(() => undefined);
    for (const c of ['apr', 'apr-util']) {
      const f = fixtures.files.find((x) => x.component === c)!;
      await copyFile(join(dest, c, `${f.file}.asc`), join(bad, `${f.file}.asc`));
    }
    const apr = fixtures.files.find((x) => x.component === 'apr')!;
    await copyFile(join(dest, 'apr', `${apr.file}.asc`), join(bad, `${httpd.file}.asc`));
    const refused = await runCli(['build', '--prefix', join(work, 'p-bad'), ...buildFlags(), ...sigFlags, '--sources', bad, '--offline'], {
      env: cache('sig-bad'),
    });
    t.is(refused.code, 5, refused.stderr + refused.stdout);
    t.regex(refused.stderr, /BAD signature: httpd-2\.4\.99\.tar\.gz\.asc does not match httpd-2\.4\.99\.tar\.gz/);
    t.false(existsSync(join(work, 'p-bad')));
  },
);

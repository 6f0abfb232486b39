/**
 * The terminal output of a whole cold build of the real stack (the --tested set, every component compiled into a fresh
 * store) on a real pseudo-terminal: under 100 KB in all, no compiler output, and the last screen showing every
 * component's final line, verify's and activate's. WSGI_HTTPD_REAL_SOURCES names the upstream tarballs (see
 * real-stack.ts); in CI its absence fails, elsewhere the test is skipped with the reason.
 */
import test from 'ava';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../helpers/cli.js';
import { runCliInTty, ttyUnavailable } from '../helpers/tty.js';
import { killAll, processesUnder } from '../helpers/processes.js';
import { python, sources } from './real-stack.js';

const title = 'a cold build of the --tested set on a terminal: under 100 KB, no compiler output, every final line on the last screen';
const why = !sources
  ? 'WSGI_HTTPD_REAL_SOURCES is not set: run `bash scripts/fetch-test-sources.sh` and export WSGI_HTTPD_REAL_SOURCES=<the directory it prints>'
  : ttyUnavailable();

if (why) {
  if (process.env.CI) test(title, (t) => t.fail(`CI must run this, but ${why}`));
  else test.skip(`${title} (skipped: ${why})`, () => {});
} else {
  let work = '';
  test.after.always(async () => {
    if (work) killAll(await processesUnder(work));
    if (work && !process.env.WSGI_HTTPD_KEEP_E2E) await rm(work, { recursive: true, force: true });
  });

  test.serial(title, async (t) => {
    work = await mkdtemp(join(tmpdir(), 'wsgi-tty-'));
    await chmod(work, 0o755); // httpd's children (verify) run unprivileged
    const prefix = join(work, 'prefix');
    const result = await runCliInTty(
      [
        'build',
        '--prefix',
        prefix,
        '--python',
        python,
        '--tested',
        '--recipes',
        join(repoRoot, 'test/e2e/overlays/mod_wsgi-git-tag'),
        '--sources',
        sources!,
        '--offline',
      ],
      {
        env: { WSGI_HTTPD_CACHE_DIR: join(work, 'fresh-store'), LD_LIBRARY_PATH: '', WSGI_HTTPD_PREFIX: '', VIRTUAL_ENV: '' },
        timeoutMs: 40 * 60_000,
      },
    );
    const screen = result.screen.screen(40);
    // Kept with WSGI_HTTPD_KEEP_E2E=1: the bytes as written, to replay with `cat` in a terminal of 120 columns.
    await writeFile(join(work, 'tty-output.bin'), result.output);
    t.log(`${result.output.length} bytes written to the terminal; the last screen:\n${screen.join('\n')}`);
    t.is(result.code, 0, screen.join('\n'));
    t.true(result.output.length < 100_000, `${result.output.length} bytes`);
    const text = result.output.toString('utf8');
    t.false(/checking for |libtool: compile|gcc -/.test(text), 'compiler output stays in the log');

    const lock = JSON.parse(await readFile(join(prefix, 'wsgi-toolchain.lock.json'), 'utf8')) as { components: { name: string; version: string }[] };
    t.is(lock.components.length, 5);
    for (const c of lock.components) {
      const line = new RegExp(`^✔ ${c.name} ${c.version.replaceAll('.', '\\.')}: built in [\\d.]+ s, layer [0-9a-f]{12} stored$`);
      t.true(
        screen.some((l) => line.test(l)),
        `${c.name} ${c.version}`,
      );
    }
    t.true(screen.some((l) => /^✔ Verify: httpd with mod_wsgi serves a WSGI app on 127\.0\.0\.1: http:\/\/127\.0\.0\.1:\d+\/ answered 200/.test(l)));
    t.true(screen.some((l) => /^✔ Activate: done$/.test(l)));
    t.deepEqual(await processesUnder(work), [], 'nothing left running');
  });
}

/** A plain Node system error that escapes a command is routed through fromSystemError by the CLI: exit 9, not 70. */
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';

test('lock --output under a path that is a file: exit 9 with a one-line message and hint, no "internal error"', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wsgi-cli-errors-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'file'), 'not a directory');
  const target = join(dir, 'file', 'lock.json');
  const result = await runCli(['lock', '--python', '/usr/bin/python3', '--output', target], { timeoutMs: 120_000 });
  t.is(result.code, 9, result.stderr);
  t.is(
    result.stderr,
    `wsgi-toolchain: error: cannot open ${target}: a component of the path is a file, not a directory (ENOTDIR) (fix: remove or rename the file that stands where a directory is expected, or choose another location)\n`,
  );
  t.notRegex(result.stderr, /internal error|\n\s+at /);
});

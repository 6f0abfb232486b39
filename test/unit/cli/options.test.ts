/** Each command takes only its own options: another command's option, or none's, is a usage error that touches nothing. */
import test from 'ava';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commands, findCommand } from '../../../src/cli/commands/index.js';
import { locateCommand, parseWithFlags } from '../../../src/cli/parse.js';
import { UsageError } from '../../../src/errors.js';
import { runCli } from '../../helpers/cli.js';
import { snapshotTree } from '../../helpers/tree.js';

let work: string;
test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'wsgi-cli-options-'));
});
test.after.always(async () => {
  await rm(work, { recursive: true, force: true });
});

const command = (name: string) => findCommand(name)!;

const foreign: [(prefix: string) => string[], string, string][] = [
  [(p) => ['info', '--prefix', p, '--jobs', '3'], '--jobs', 'info'],
  [(p) => ['list', '--prefix', p], '--prefix', 'list'],
  [(p) => ['doctor', '--prefix', p, '--dest', p], '--dest', 'doctor'],
  [() => ['cache', 'list', '--httpd', '2.4.66'], '--httpd', 'cache'],
  [(p) => ['uninstall', '--prefix', p, '--frobnicate'], '--frobnicate', 'uninstall'],
];
for (const [args, option, name] of foreign) {
  test.serial(`${args('P').join(' ')}: exit 2, one line naming ${option} and ${name}, nothing touched`, async (t) => {
    const dir = await mkdtemp(join(work, 'dir-'));
    const prefix = join(dir, 'prefix');
    await mkdir(prefix);
    await writeFile(join(prefix, 'keep.txt'), 'mine\n');
    const before = await snapshotTree(dir);
    const cache = join(work, `cache-${name}`);
    const result = await runCli(args(prefix), { env: { WSGI_HTTPD_CACHE_DIR: cache } });
    t.is(result.code, 2, result.stderr);
    t.is(result.stdout, '');
    const lines = result.stderr.trim().split('\n');
    t.is(lines.length, 1, result.stderr);
    t.true(lines[0]!.includes(` ${option} `), lines[0]);
    t.true(lines[0]!.includes(` ${name} `), lines[0]);
    t.true(lines[0]!.endsWith(`(fix: run 'wsgi-toolchain help ${name}' for its options)`), lines[0]);
    t.deepEqual(await snapshotTree(dir), before);
    t.false(existsSync(cache), 'the store is not created');
  });
}

test('an option of other commands says which ones take it', async (t) => {
  const error = await t.throwsAsync(parseWithFlags(command('info'), ['--jobs', '3'], [], commands, {}), { instanceOf: UsageError });
  t.is(error.message, 'info has no option --jobs (it is an option of build, lock, fetch)');
  t.is(error.hint, "run 'wsgi-toolchain help info' for its options");
  const short = await t.throwsAsync(parseWithFlags(command('info'), ['-j', '3'], [], commands, {}));
  t.is(short.message, 'info has no option -j (it is an option of build, lock, fetch)');
  const unknown = await t.throwsAsync(parseWithFlags(command('build'), ['--frobnicate'], [], commands, {}));
  t.is(unknown.message, 'unknown option --frobnicate for build');
});

test('values, positionals and operands are checked against the command', async (t) => {
  await t.throwsAsync(parseWithFlags(command('build'), ['--prefix'], [], commands, {}), { message: '--prefix needs a value (DIR)' });
  await t.throwsAsync(parseWithFlags(command('build'), ['--json=yes'], [], commands, {}), { message: '--json takes no value (got "yes")' });
  await t.throwsAsync(parseWithFlags(command('build'), ['stray'], [], commands, {}), { message: 'build takes no arguments, got "stray"' });
  await t.throwsAsync(parseWithFlags(command('cache'), [], [], commands, {}), { message: 'cache needs ACTION: list or prune' });
  await t.throwsAsync(parseWithFlags(command('cache'), ['drop'], [], commands, {}), {
    message: 'cache: unknown ACTION "drop"; it is one of list, prune',
  });
  const cache = await parseWithFlags(command('cache'), ['prune', '--keep', '2', '--dry-run'], [], commands, {});
  t.false(cache.help);
  if (!cache.help) {
    t.deepEqual(cache.positionals, ['prune']);
    t.is(cache.values.keep, '2');
    t.true(cache.values['dry-run']);
  }
  const help = await parseWithFlags(command('info'), ['--jobs', '3', '-h'], [], commands, {});
  t.true(help.help, '--help wins over anything else on the line');
});

test('the command is the first word that is no option or option value; options may come before it', (t) => {
  t.like(locateCommand(['--prefix', 'build', 'info'], commands), { index: 2, name: 'info' });
  t.like(locateCommand(['-j', '2', 'build'], commands), { index: 2, name: 'build' });
  t.like(locateCommand(['--httpd', '2.4.66', 'build'], commands), { index: 2, name: 'build' }, 'a component flag takes a value');
  t.like(locateCommand(['--frobnicate', 'build'], commands), { index: 1, name: 'build' });
  t.like(locateCommand(['--version'], commands), { index: -1, version: true });
  t.like(locateCommand(['--help', 'build'], commands), { index: 1, name: 'build', help: true });
  t.like(locateCommand(['build', '--help'], commands), { index: 0, name: 'build', help: false });
  t.like(locateCommand(['--', 'build'], commands), { index: -1 });
});

test.serial('options before the command work as after it: --prefix P info = info --prefix P', async (t) => {
  const prefix = await mkdtemp(join(work, 'empty-'));
  const [before, after] = await Promise.all([runCli(['--prefix', prefix, 'info']), runCli(['info', '--prefix', prefix])]);
  t.is(before.code, 2);
  t.regex(before.stderr, /holds no wsgi-toolchain build/);
  t.deepEqual(before, after);
});

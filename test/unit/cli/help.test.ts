/** --version, the main help and each command's own help, as npm, cargo and git do them. */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { staticOptions } from '../../../src/cli/command.js';
import { commands } from '../../../src/cli/commands/index.js';
import { commandHelp, mainHelp } from '../../../src/cli/help.js';
import { ExitCode } from '../../../src/errors.js';
import { repoRoot, runCli } from '../../helpers/cli.js';

const version = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;

test('--version and -V print "wsgi-toolchain <version>" and exit 0', async (t) => {
  for (const flag of ['--version', '-V']) {
    const result = await runCli([flag]);
    t.is(result.code, 0, flag);
    t.is(result.stdout, `wsgi-toolchain ${version}\n`, flag);
    t.is(result.stderr, '', flag);
  }
});

test('`help` and `--help` list every command with its summary; no arguments is the same list with exit 2', async (t) => {
  const help = await runCli(['help']);
  t.is(help.code, 0);
  for (const command of commands)
    t.regex(help.stdout, new RegExp(`^  ${command.name} +${command.summary.slice(0, 30).replace(/[()*.+?[\]]/g, '\\$&')}`, 'm'));
  const flag = await runCli(['--help']);
  t.is(flag.code, 0);
  t.is(flag.stdout, help.stdout);
  const bare = await runCli([]);
  t.is(bare.code, 2);
  t.is(bare.stdout, help.stdout);
});

test("help build, build --help and build -h show build's own options, --httpd system and --apxs included", async (t) => {
  const outputs: string[] = [];
  for (const args of [
    ['help', 'build'],
    ['build', '--help'],
    ['build', '-h'],
    ['--help', 'build'],
  ]) {
    const result = await runCli(args);
    t.is(result.code, 0, args.join(' '));
    outputs.push(result.stdout);
  }
  t.true(
    outputs.every((o) => o === outputs[0]),
    'the same help every way',
  );
  const help = outputs[0]!;
  t.regex(help, /^Usage: wsgi-toolchain build /m);
  for (const option of [
    '--prefix DIR',
    '--httpd V',
    '--mod-wsgi V',
    '--apxs PATH',
    '--tested',
    '--with-manual',
    '--verbose',
    '--jobs N',
    '--dry-run',
  ])
    t.true(help.includes(option), option);
  t.regex(help, /^ +--httpd system +use the system's Apache/m, 'one line on --httpd system');
  t.regex(help, /^ +--apxs PATH +with --httpd system: the system Apache's apxs/m, 'one line on --apxs');
  t.regex(help, /^Examples\n {2}wsgi-toolchain build /m);
  // only build's options: nothing of the other commands
  t.false(help.includes('--dest'));
  t.false(help.includes('--keep N'));
});

test('help of an unknown command is a usage error (exit 2) naming it', async (t) => {
  const result = await runCli(['help', 'nope']);
  t.is(result.code, 2);
  t.is(result.stdout, '');
  t.is(result.stderr, `wsgi-toolchain: error: unknown command "nope" (fix: run 'wsgi-toolchain help' for the commands)\n`);
});

test("every command's help shows exactly its own options, its usage and an example", (t) => {
  for (const command of commands) {
    const help = commandHelp(command);
    t.true(help.startsWith(`wsgi-toolchain ${command.name}: ${command.summary}\n`), command.name);
    t.regex(help, new RegExp(`^Usage: wsgi-toolchain ${command.name}\\b`, 'm'), command.name);
    for (const name of Object.keys(staticOptions(command))) t.regex(help, new RegExp(`^ +(-\\w, )?--${name}\\b`, 'm'), `${command.name} --${name}`);
    const mentioned = [...help.matchAll(/^ {2}(?:-\w, | {4})--([\w-]+)/gm)].map((m) => m[1]);
    t.deepEqual(mentioned.sort(), [...Object.keys(staticOptions(command)), 'help'].sort(), command.name);
    t.true(command.examples.length > 0, `${command.name} has an example`);
  }
});

test("lock's help says it prints to stdout unless --output FILE", (t) => {
  const lock = commands.find((c) => c.name === 'lock')!;
  const help = commandHelp(lock);
  t.regex(help, /-o, --output FILE +write the lock to FILE \(default: print it on stdout\)/);
  t.regex(mainHelp(commands), /^ {2}lock +.*print the lock.*--output FILE writes it/m);
});

test('the exit codes in the main help are exactly those of ExitCode', (t) => {
  const help = mainHelp(commands).replace(/\n/g, ' ');
  const listed = /Exit codes: (.*)\./.exec(help)![1]!;
  const codes = [...listed.matchAll(/(?:^|, )(\d+) /g)].map((m) => Number(m[1]));
  t.deepEqual(
    codes,
    Object.values(ExitCode).sort((a, b) => a - b),
  );
  t.regex(listed, /\b9 file system error\b/);
});

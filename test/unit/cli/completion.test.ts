/** `wsgi-toolchain completion bash|zsh`: scripts the shells accept, run here through their completion functions. */
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../helpers/cli.js';
import { requiring } from '../../helpers/requires.js';

let work: string;
let bashScript: string;
let zshScript: string;
test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'wsgi-cli-completion-'));
  const [bash, zsh] = await Promise.all([runCli(['completion', 'bash']), runCli(['completion', 'zsh'])]);
  if (bash.code !== 0 || zsh.code !== 0) throw new Error(`completion failed: ${bash.stderr}${zsh.stderr}`);
  bashScript = join(work, 'wsgi-toolchain.bash');
  zshScript = join(work, '_wsgi-toolchain');
  await writeFile(bashScript, bash.stdout);
  await writeFile(zshScript, zsh.stdout);
  // for file and directory completion
  await mkdir(join(work, 'files', 'srv-dir'), { recursive: true });
  await writeFile(join(work, 'files', 'srv-file'), '');
});
test.after.always(async () => {
  await rm(work, { recursive: true, force: true });
});

const hasZsh = spawnSync('zsh', ['--version']).status === 0;

/** What the bash completion function offers for the words typed so far (the last one being completed). */
function complete(words: string[]): string[] {
  const quoted = words.map((w) => `'${w.replaceAll("'", `'\\''`)}'`).join(' ');
  const script = `source "$1"; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _wsgi_toolchain; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const out = execFileSync('bash', ['-c', script, 'bash', bashScript], { cwd: join(work, 'files'), encoding: 'utf8' });
  return out.split('\n').filter(Boolean);
}

test('bash -n accepts the bash script', (t) => {
  t.notThrows(() => execFileSync('bash', ['-n', bashScript]));
});

test('bash: wsgi-toolchain bu<TAB> completes to build', (t) => {
  t.deepEqual(complete(['wsgi-toolchain', 'bu']), ['build']);
  t.deepEqual(complete(['wsgi-toolchain', 'c']), ['cache', 'completion']);
});

test("bash: a command's own options, and only its own", (t) => {
  const info = complete(['wsgi-toolchain', 'info', '--']);
  t.deepEqual(info.sort(), ['--help', '--json', '--prefix']);
  const build = complete(['wsgi-toolchain', 'build', '--with-']);
  t.deepEqual(build.sort(), ['--with-expat', '--with-manual', '--with-ssl']);
  t.true(complete(['wsgi-toolchain', 'build', '--mod']).includes('--mod-wsgi'), 'version flags from the recipes');
});

test('bash: operands and option values', (t) => {
  t.deepEqual(complete(['wsgi-toolchain', 'cache', '']), ['list', 'prune']);
  t.deepEqual(complete(['wsgi-toolchain', 'completion', '']), ['bash', 'zsh']);
  t.true(complete(['wsgi-toolchain', 'build', '--httpd', '']).includes('system'));
  t.deepEqual(complete(['wsgi-toolchain', 'build', '--prefix', 'srv']), ['srv-dir'], '--prefix: directories');
  t.deepEqual(complete(['wsgi-toolchain', 'build', '--python', 'srv']).sort(), ['srv-dir', 'srv-file'], '--python: files');
  t.deepEqual(complete(['wsgi-toolchain', 'build', '--recipes', 'srv']), ['srv-dir']);
  t.deepEqual(complete(['wsgi-toolchain', 'build', '--sources', 'srv']), ['srv-dir']);
  t.deepEqual(complete(['wsgi-toolchain', 'build', '--jobs', '']), [], 'nothing to guess for a number');
  t.deepEqual(complete(['wsgi-toolchain', '--prefix', 'x', 'bu']), ['build'], 'an option value is not the command');
});

/*
 * zsh is not a dependency of the tool; .ci/run installs it so the script is checked with zsh -n and its function is
 * run with stand-ins for the completion builtins, which only exist inside a completion widget.
 */
const zshTest = requiring(hasZsh ? undefined : 'zsh is not installed (Debian: zsh)');

zshTest('zsh -n accepts the zsh script', (t) => {
  t.notThrows(() => execFileSync('zsh', ['-n', zshScript]));
});

zshTest('zsh: wsgi-toolchain bu<TAB> offers build, and a command its own options', (t) => {
  const run = (words: string[]) => {
    const quoted = words.map((w) => `'${w}'`).join(' ');
    const script = [
      'compdef() { :; }',
      '_describe() { local name; for name in ${(P)${@[-1]}}; do print -r -- "${name%%:*}"; done; }',
      'compadd() { [[ $1 == -a ]] && print -rl -- ${(P)2} || { shift; print -rl -- "$@"; }; }',
      '_files() { print -r -- FILES; }',
      'source "$1"',
      `words=(${quoted}); CURRENT=${words.length}`,
      '_wsgi_toolchain',
    ].join('\n');
    return execFileSync('zsh', ['-f', '-c', script, 'zsh', zshScript], { encoding: 'utf8' }).split('\n').filter(Boolean);
  };
  t.true(run(['wsgi-toolchain', 'bu']).includes('build'));
  t.deepEqual(run(['wsgi-toolchain', 'info', '--']).sort(), ['--help', '--json', '--prefix']);
  t.deepEqual(run(['wsgi-toolchain', 'cache', '']), ['list', 'prune']);
  t.deepEqual(run(['wsgi-toolchain', 'build', '--prefix', '']), ['FILES']);
});

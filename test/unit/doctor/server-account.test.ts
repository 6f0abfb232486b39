/**
 * As root, verify serves through httpd's children, which run as an unprivileged account: a Python that account cannot
 * read fails `doctor`, and stops `build` before the first download, with the same message (what to do: --no-verify,
 * a Python under /usr, /usr/local or /opt, or the permissions). Not root: a warning (serve as root would hit it).
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runDoctor } from '../../../src/doctor/doctor.js';
import { PrerequisiteError } from '../../../src/errors.js';
import { readPythonInfo } from '../../../src/python/detect.js';
import { runCli } from '../../helpers/cli.js';
import { requiring } from '../../helpers/requires.js';

const isRoot = process.getuid?.() === 0;
const pyenvPythons = existsSync('/root/.pyenv/versions')
  ? readdirSync('/root/.pyenv/versions')
      .filter((v) => /^3\.\d+/.test(v) && existsSync(`/root/.pyenv/versions/${v}/bin/python`))
      .map((v) => `/root/.pyenv/versions/${v}/bin/python`)
  : [];

let tmp: string;

test.before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'wsgi-server-account-'));
  await chmod(tmp, 0o755);
});

test.after.always(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const env = (store: string): NodeJS.ProcessEnv => ({ WSGI_HTTPD_CACHE_DIR: store, WSGI_HTTPD_PREFIX: '', VIRTUAL_ENV: '', WSGI_HTTPD_PYTHON: '' });

test('the check: a failure as root when the build verifies, with the build error; a warning with --no-verify or not root', async (t) => {
  const python = { ...(await readPythonInfo('/usr/bin/python3', '--python')), homeAccess: { readableByOthers: false, blockedAt: '/root' } };
  const check = async (asRoot: boolean, verify: boolean) =>
    (await runDoctor({ python, buildDir: tmp, asRoot, verify, env: process.env })).checks.find((c) => c.id === 'python-home-access')!;

  const root = await check(true, true);
  t.is(root.status, 'fail');
  t.true(root.error instanceof PrerequisiteError);
  t.is(root.detail, root.error!.message);
  t.regex(root.detail, /runs as root.*cannot read the Python at .*\(\/root is not readable by others\)/);
  t.regex(root.hint!, /--no-verify.*\/usr, \/usr\/local or \/opt.*chmod o\+rx/);
  t.is((await check(true, false)).status, 'warn');
  t.is((await check(false, true)).status, 'warn');
});

/** A Python the server account cannot reach: a virtualenv inside a directory only root may enter. */
async function privateVenv(): Promise<string> {
  const dir = path.join(tmp, 'private');
  await mkdir(dir, { mode: 0o700 });
  await chmod(dir, 0o700);
  const made = spawnSync('/usr/bin/python3', ['-m', 'venv', '--without-pip', path.join(dir, 'venv')], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`python3 -m venv failed: ${made.stderr}`);
  return path.join(dir, 'venv', 'bin', 'python');
}

const whenRoot = requiring(isRoot ? undefined : "needs root, which makes httpd's children unprivileged").serial;

whenRoot('as root: doctor fails and build stops before any download for a Python in a private directory', async (t) => {
  t.true(isRoot, 'CI must run this as root');
  const python = await privateVenv();
  const store = path.join(tmp, 'store-private');
  const doctor = await runCli(['doctor', '--python', python], { env: env(store), timeoutMs: 120_000 });
  t.is(doctor.code, 3, doctor.stdout + doctor.stderr);
  t.regex(doctor.stdout, /^FAIL\s+Python readable by the server account\s+the build runs as root.*\(.*private is not readable by others\)/m);
  // as the build with --no-verify: no server account, nothing to fail
  const noVerify = await runCli(['doctor', '--python', python, '--no-verify'], { env: env(store), timeoutMs: 120_000 });
  t.notRegex(noVerify.stdout, /^FAIL\s+Python readable by the server account/m, noVerify.stdout);

  const prefix = path.join(tmp, 'prefix-private');
  const build = await runCli(['build', '--prefix', prefix, '--python', python, '--plain'], { env: env(store), timeoutMs: 120_000 });
  t.is(build.code, 3, build.stderr);
  const last = build.stderr.trim().split('\n').at(-1)!;
  t.regex(last, /^wsgi-toolchain: error: the build runs as root, .*cannot read the Python at .*\(fix: build with --no-verify, /);
  t.false(existsSync(path.join(store, 'downloads')), 'nothing was downloaded');
  t.false(existsSync(prefix), 'the prefix was not created');

  const dry = await runCli(['build', '--prefix', prefix, '--python', python, '--no-verify', '--dry-run'], { env: env(store), timeoutMs: 120_000 });
  t.is(dry.code, 0, dry.stderr);
  t.notRegex(dry.stdout, /The build would stop here/, '--no-verify needs no server account');
});

const withPyenv = requiring(!isRoot ? 'needs root' : pyenvPythons.length === 0 ? 'no Python under /root/.pyenv/versions/3.*' : undefined).serial;

withPyenv('as root: a pyenv Python under /root fails doctor and stops the build before any download', async (t) => {
  t.true(isRoot && pyenvPythons.length > 0, 'CI must run this as root with pyenv Pythons under /root/.pyenv/versions');
  const python = pyenvPythons.at(-1)!;
  const store = path.join(tmp, 'store-pyenv');
  const doctor = await runCli(['doctor', '--python', python], { env: env(store), timeoutMs: 120_000 });
  t.is(doctor.code, 3, doctor.stdout);
  t.regex(doctor.stdout, /^FAIL\s+Python readable by the server account\s+.*\(\/root is not readable by others\)/m);
  const build = await runCli(['build', '--prefix', path.join(tmp, 'prefix-pyenv'), '--python', python, '--plain'], {
    env: env(store),
    timeoutMs: 120_000,
  });
  t.is(build.code, 3, build.stderr);
  t.regex(build.stderr, /wsgi-toolchain: error: the build runs as root, .*cannot read the Python at \/root\/\.pyenv\/versions\//);
  t.false(existsSync(path.join(store, 'downloads')), 'nothing was downloaded');
});

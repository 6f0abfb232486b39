/**
 * Installs the `mod_wsgi` Python package (mod_wsgi-express, `mod_wsgi.server`, Django's `runmodwsgi`) for one Python
 * from the same verified, patched mod_wsgi source the Apache module was built from. Nothing is downloaded: pip runs
 * with --no-index --no-deps --no-build-isolation, so it builds with the setuptools (and wheel) the interpreter has.
 *
 * mod_wsgi's setup.py always builds an extension `mod_wsgi/server/mod_wsgi-pyXY<EXT_SUFFIX>`; it is not a Python
 * extension at all but the Apache module itself, compiled from the same C files as `modules/mod_wsgi.so` with the same
 * Python. So unless told otherwise we put the already built (and verified) `modules/mod_wsgi.so` where setuptools'
 * build_ext expects its output, newer than every source: build_ext then skips the compile ("up-to-date") and the
 * package ships a byte-identical copy of the module the verify step proved. The compile happens only when that module
 * does not fit (another mod_wsgi version, another libpython) or reuse is switched off.
 *
 * setup.py writes `mod_wsgi/server/apxs_config.py` from `apxs -q`, which names the stack directory
 * (`<prefix>/.wsgi-httpd/stacks/<id>`). That directory is removed by a later rebuild, so the installed file is rewritten
 * to name the stable link `<prefix>/httpd` instead: mod_wsgi-express keeps working across rebuilds.
 */
import { randomBytes } from 'node:crypto';
import { copyFile, chmod, mkdir, readFile, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { BuildStepError, PrerequisiteError, UsageError } from '../errors.js';
import { run } from '../util/run.js';
import { targetExists } from '../util/fs.js';

export interface InstallPythonPackageOptions {
  /** The unpacked (and patched) mod_wsgi source; may already be configured/compiled for Apache. */
  sourceDir: string;
  /** The interpreter to install for: a virtualenv's bin/python for target 'venv'. */
  python: string;
  /** The apxs of the Apache to build against (normally <stack root>/bin/apxs). */
  apxs: string;
  /** 'venv': into the interpreter's own site-packages (pip-managed). {dir}: a private directory plus a launcher. */
  target: 'venv' | { dir: string };
  /** The wsgi-toolchain prefix: the launcher goes to <prefix>/bin, paths under the stack are rewritten to <prefix>/httpd. */
  prefix: string;
  log: (line: string) => void;
  env?: NodeJS.ProcessEnv;
  /**
   * The already built Apache module to reuse instead of compiling a second time (default: `apxs -q LIBEXECDIR`
   * /mod_wsgi.so, then <sourceDir>/src/server/.libs/mod_wsgi.so, when it is the same mod_wsgi version for the same
   * libpython). false always compiles.
   */
  reuseModule?: string | false;
  /** Paths starting with `from` are written as `to` (default: the stack dir apxs reports -> <prefix>/httpd). */
  stableRoot?: { from: string; to: string } | false;
  /** Force an installer (default: pip when it can build without downloading, else setup.py build + install). */
  method?: 'pip' | 'setup.py';
  /** Log file named in errors (BuildStepError). */
  logFile?: string;
  signal?: AbortSignal;
}

export interface InstallPythonPackageResult {
  /** The mod_wsgi-express to run: <venv>/bin/mod_wsgi-express, or the launcher <prefix>/bin/mod_wsgi-express. */
  expressPath: string;
  method: 'pip' | 'setup.py';
  seconds: number;
  /** False when the Apache build's module was reused and setup.py compiled nothing. */
  compiled: boolean;
  /** The installed mod_wsgi/server/apxs_config.py (rewritten to the stable paths). */
  apxsConfig: string;
  /** The httpd mod_wsgi-express will run (as apxs_config resolves it). */
  httpd: string;
  /** The Apache module mod_wsgi-express loads (`mod_wsgi-express module-location`). */
  moduleLocation: string;
  /** Where the package directory `mod_wsgi` ended up. */
  packageDir: string;
}

/** What we need to know about the interpreter and its build tools (one subprocess, run in the source directory). */
interface Probe {
  version: string;
  ldVersion: string;
  enableShared: boolean;
  isVenv: boolean;
  prefix: string;
  purelib: string;
  setuptools: string | null;
  wheel: string | null;
  /** setuptools >= 70.1 ships bdist_wheel itself. */
  setuptoolsBdistWheel: boolean;
  pip: string | null;
  /** Relative to the source dir: where build_ext writes the extension (build/lib.<plat>-<tag>/mod_wsgi/server/...). */
  extPath: string | null;
  extError?: string;
}

const probeScript = String.raw`
import json, os, sys, sysconfig
out = {
    'version': sys.version.split()[0],
    'ldVersion': sysconfig.get_config_var('LDVERSION') or sysconfig.get_config_var('VERSION') or '',
    'enableShared': bool(sysconfig.get_config_var('Py_ENABLE_SHARED') or sysconfig.get_config_var('PYTHONFRAMEWORK')),
    'isVenv': sys.prefix != sys.base_prefix,
    'prefix': sys.prefix,
    'purelib': sysconfig.get_path('purelib'),
    'setuptools': None, 'wheel': None, 'setuptoolsBdistWheel': False, 'pip': None, 'extPath': None,
}
try:
    import importlib.util
    out['setuptoolsBdistWheel'] = False
    import setuptools
    out['setuptools'] = getattr(setuptools, '__version__', '?')
    try:
        out['setuptoolsBdistWheel'] = importlib.util.find_spec('setuptools.command.bdist_wheel') is not None
    except Exception:
        pass
    try:
        from setuptools import Distribution, Extension
        name = 'mod_wsgi.server.mod_wsgi-py%s%s' % sys.version_info[:2]
        d = Distribution({'name': 'mod_wsgi', 'ext_modules': [Extension(name, ['x.c'])]})
        d.script_name = 'setup.py'
        b = d.get_command_obj('build_ext')
        b.ensure_finalized()
        out['extPath'] = os.path.join(b.build_lib, b.get_ext_filename(name))
    except Exception as e:
        out['extError'] = repr(e)
except Exception:
    pass
try:
    import wheel
    out['wheel'] = getattr(wheel, '__version__', '?')
except Exception:
    pass
try:
    import importlib.util
    if importlib.util.find_spec('pip') is not None:
        import pip
        out['pip'] = getattr(pip, '__version__', '?')
except Exception:
    pass
print('WSGI_TOOLCHAIN_PROBE ' + json.dumps(out))
`;

/** Environment for every Python we run: nothing from the caller may point the interpreter or pip elsewhere. */
export function pythonEnv(base: NodeJS.ProcessEnv, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(base)) {
    if (key.startsWith('PYTHON') || key.startsWith('PIP_') || key === 'VIRTUAL_ENV' || key === 'APXS' || key === '__PYVENV_LAUNCHER__') continue;
    env[key] = value;
  }
  return { ...env, PIP_DISABLE_PIP_VERSION_CHECK: '1', PIP_NO_INPUT: '1', ...extra };
}

function versionAtLeast(version: string | null, wanted: number[]): boolean {
  if (!version) return false;
  const parts = version.split('.').map((p) => parseInt(p, 10));
  for (let i = 0; i < wanted.length; i++) {
    const have = Number.isFinite(parts[i]) ? parts[i]! : 0;
    if (have !== wanted[i]) return have > wanted[i]!;
  }
  return true;
}

/** Which installer works without downloading anything: pip when it can build (a wheel builder, or a pip that still falls back to setup.py install). */
export function chooseMethod(p: Pick<Probe, 'pip' | 'wheel' | 'setuptoolsBdistWheel'>): 'pip' | 'setup.py' {
  if (!p.pip) return 'setup.py';
  if (p.wheel || p.setuptoolsBdistWheel) return 'pip';
  // pip < 23.1 installs a project without pyproject.toml through `setup.py install` when wheel is missing; newer pip
  // needs bdist_wheel and would fail with --no-build-isolation.
  return versionAtLeast(p.pip, [23, 1]) ? 'setup.py' : 'pip';
}

/** `apxs -q A B C` in one call ("a;;b;;c"). */
async function apxsQuery(apxs: string, names: string[], env: NodeJS.ProcessEnv): Promise<Record<string, string>> {
  const result = await run([apxs, '-q', ...names], { env });
  if (result.code !== 0) {
    throw new PrerequisiteError(
      `${apxs} -q failed (exit ${result.code}): ${result.stderr.trim().split('\n').pop() ?? ''}`,
      'pass the apxs of the Apache the package is built for',
    );
  }
  const values = result.stdout.trim().split(';;');
  return Object.fromEntries(names.map((n, i) => [n, (values[i] ?? '').trim()]));
}

/** The MOD_WSGI_VERSION_STRING of a source tree ("5.0.2"). */
async function sourceVersion(sourceDir: string): Promise<string | undefined> {
  try {
    const text = await readFile(join(sourceDir, 'src', 'server', 'wsgi_version.h'), 'utf8');
    return /#define MOD_WSGI_VERSION_STRING "([^"]+)"/.exec(text)?.[1];
  } catch {
    return undefined;
  }
}

/**
 * Whether a built module is the one setup.py would build: same mod_wsgi version string, linked against this Python's
 * libpython (or no libpython at all for a static Python, where we do not guess and compile instead).
 */
export async function moduleFits(module: string, version: string | undefined, ldVersion: string, enableShared: boolean): Promise<string | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(module);
  } catch {
    return `${module} does not exist`;
  }
  if (bytes.subarray(0, 4).toString('latin1') !== '\x7fELF' && bytes.readUInt32LE(0) !== 0xfeedfacf) return `${module} is not a shared object`;
  if (!version || !bytes.includes(Buffer.from(`${version}\0`))) return `${module} is not mod_wsgi ${version ?? '(unknown version)'}`;
  if (!enableShared) return 'this Python has no shared libpython (setup.py links it its own way)';
  if (!bytes.includes(Buffer.from(`libpython${ldVersion}.`)) && !bytes.includes(Buffer.from(`Python.framework`)))
    return `${module} is not linked against libpython${ldVersion}`;
  return undefined;
}

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** The launcher for a non-venv install: runs that Python with the private package directory on PYTHONPATH. */
export function launcherScript(python: string, pythonPath: string): string {
  return [
    '#!/bin/sh',
    '# mod_wsgi-express for this wsgi-toolchain prefix (written by wsgi-toolchain; rewritten by every build).',
    `WSGI_TOOLCHAIN_PYTHON=${shellQuote(python)}`,
    `WSGI_TOOLCHAIN_PYTHONPATH=${shellQuote(pythonPath)}`,
    'PYTHONPATH="$WSGI_TOOLCHAIN_PYTHONPATH${PYTHONPATH:+:$PYTHONPATH}"',
    'export PYTHONPATH',
    '# A server set up here may later be started by its apachectl without this PYTHONPATH: give it to the daemons too.',
    'case "$1" in start-server|setup-server) set -- "$@" --python-path "$WSGI_TOOLCHAIN_PYTHONPATH" ;; esac',
    `exec "$WSGI_TOOLCHAIN_PYTHON" -c 'import sys; sys.argv[0] = "mod_wsgi-express"; from mod_wsgi.server import main; sys.exit(main())' "$@"`,
    '',
  ].join('\n');
}

/** Reads back what launcherScript wrote (undefined for any other file, e.g. a pip console script). */
export function parseLauncher(text: string): { python: string; pythonPath: string } | undefined {
  const unq = (s: string) => s.replace(/^'|'$/g, '').replaceAll(`'\\''`, "'");
  const python = /^WSGI_TOOLCHAIN_PYTHON=('(?:[^']|'\\'')*')$/m.exec(text)?.[1];
  const pythonPath = /^WSGI_TOOLCHAIN_PYTHONPATH=('(?:[^']|'\\'')*')$/m.exec(text)?.[1];
  return python && pythonPath ? { python: unq(python), pythonPath: unq(pythonPath) } : undefined;
}

async function writeExecutable(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${randomBytes(4).toString('hex')}`;
  await writeFile(tmp, text, { mode: 0o755 });
  await chmod(tmp, 0o755);
  await rename(tmp, path);
}

export async function installPythonPackage(opts: InstallPythonPackageOptions): Promise<InstallPythonPackageResult> {
  const started = Date.now();
  const log = opts.log;
  const sourceDir = resolve(opts.sourceDir);
  const prefix = resolve(opts.prefix);
  const baseEnv = opts.env ?? process.env;
  const env = pythonEnv(baseEnv);
  const tail: string[] = [];
  const onLine = (line: string) => {
    tail.push(line);
    if (tail.length > 40) tail.shift();
    log(line);
  };
  const fail = (what: string, hint: string): never => {
    throw new BuildStepError(`mod_wsgi Python package: ${what}`, hint, opts.logFile ?? '', [...tail]);
  };

  if (!(await targetExists(join(sourceDir, 'setup.py'))))
    throw new UsageError(`${sourceDir} has no setup.py`, 'pass the unpacked mod_wsgi source directory');
  const apxs = resolve(opts.apxs);

  // 1. The interpreter and its build tools.
  let probe: Probe | undefined;
  {
    const result = await run([opts.python, '-c', probeScript], { cwd: sourceDir, env, signal: opts.signal }).catch((error: Error) =>
      fail(`cannot run ${opts.python}: ${error.message}`, 'pass the Python mod_wsgi was built for'),
    );
    const line = result.stdout.split('\n').find((l) => l.startsWith('WSGI_TOOLCHAIN_PROBE '));
    if (result.code !== 0 || !line)
      fail(`${opts.python} did not answer (exit ${result.code}): ${result.stderr.trim().split('\n').pop() ?? ''}`, 'pass a working Python 3');
    probe = JSON.parse(line!.slice('WSGI_TOOLCHAIN_PROBE '.length)) as Probe;
  }
  log(
    `python ${opts.python}: ${probe.version}${probe.isVenv ? ` (virtualenv ${probe.prefix})` : ''}, setuptools ${probe.setuptools ?? 'missing'}, wheel ${probe.wheel ?? (probe.setuptoolsBdistWheel ? 'built into setuptools' : 'missing')}, pip ${probe.pip ?? 'missing'}`,
  );
  if (!probe.setuptools) {
    throw new PrerequisiteError(
      `${opts.python} has no setuptools, which mod_wsgi's setup.py needs (nothing is downloaded)`,
      probe.isVenv
        ? `install it into the virtualenv from a local wheel (pip install --no-index setuptools), recreate the virtualenv with --system-site-packages, or build with --no-python-package`
        : 'install it: apt-get install python3-setuptools (Debian/Ubuntu), dnf install python3-setuptools (RHEL/Fedora); or build with --no-python-package',
    );
  }
  if (opts.target === 'venv' && !probe.isVenv) {
    throw new UsageError(
      `${opts.python} is not a virtualenv's interpreter, so there is no virtualenv to install mod_wsgi-express into`,
      'install into a directory (target {dir}) with a launcher instead',
    );
  }
  const method = opts.method ?? chooseMethod(probe);

  // 2. Apache paths, and the stable name of the stack directory.
  const q = await apxsQuery(apxs, ['PREFIX', 'LIBEXECDIR', 'BINDIR', 'PROGNAME'], env);
  const link = join(prefix, 'httpd');
  const stable =
    opts.stableRoot === false
      ? undefined
      : (opts.stableRoot ?? (q.PREFIX?.startsWith(`${join(prefix, '.wsgi-httpd', 'stacks')}/`) ? { from: q.PREFIX, to: link } : undefined));

  // 3. Reuse the Apache build's module where it fits, so setup.py compiles nothing.
  const version = await sourceVersion(sourceDir);
  let reused: string | undefined;
  const extPath = probe.extPath && !isAbsolute(probe.extPath) ? join(sourceDir, probe.extPath) : probe.extPath;
  if (extPath) await rm(extPath, { force: true });
  if (opts.reuseModule !== false && extPath) {
    const candidates = opts.reuseModule
      ? [opts.reuseModule]
      : [join(q.LIBEXECDIR ?? '', 'mod_wsgi.so'), join(sourceDir, 'src', 'server', '.libs', 'mod_wsgi.so')];
    for (const candidate of candidates) {
      const why = await moduleFits(candidate, version, probe.ldVersion, probe.enableShared);
      if (why) {
        log(`not reusing ${candidate}: ${why}`);
        continue;
      }
      await mkdir(dirname(extPath), { recursive: true });
      await copyFile(candidate, extPath);
      const now = new Date(Date.now() + 2000); // strictly newer than every source file, whatever the clock granularity
      await utimes(extPath, now, now);
      reused = candidate;
      log(`reusing ${candidate} as ${extPath} (setup.py's build_ext skips an up-to-date extension)`);
      break;
    }
  } else if (!extPath) log(`cannot tell where setuptools builds the extension (${probe.extError ?? 'unknown'}): setup.py compiles it`);

  // 4. Install.
  const buildEnv = pythonEnv(baseEnv, { APXS: apxs });
  const runStep = async (argv: string[], what: string) => {
    log(`$ APXS=${apxs} ${argv.join(' ')}`);
    const result = await run(argv, { cwd: sourceDir, env: buildEnv, onLine, signal: opts.signal });
    if (result.code !== 0)
      fail(
        `${what} failed (exit ${result.code ?? result.signal})`,
        'read the output above; the Apache module itself is built and installed, so you can also build with --no-python-package',
      );
    return result;
  };
  let packageParent: string;
  let staging: string | undefined;
  let outputs = '';
  try {
    if (opts.target === 'venv') {
      packageParent = probe.purelib;
      if (method === 'pip') {
        const r = await runStep(
          [
            opts.python,
            '-m',
            'pip',
            '--isolated',
            'install',
            '-v',
            '--no-index',
            '--no-deps',
            '--no-build-isolation',
            '--no-cache-dir',
            '--force-reinstall',
            sourceDir,
          ],
          'pip install',
        );
        outputs = r.stdout + r.stderr;
      } else {
        const r1 = await runStep([opts.python, 'setup.py', 'build'], 'setup.py build');
        const r2 = await runStep(
          [
            opts.python,
            'setup.py',
            'install',
            '--single-version-externally-managed',
            '--record',
            join(sourceDir, 'build', 'wsgi-toolchain-record.txt'),
          ],
          'setup.py install',
        );
        outputs = r1.stdout + r1.stderr + r2.stdout + r2.stderr;
      }
    } else {
      // A fresh sibling directory, switched into place only once it is complete.
      const dir = resolve(opts.target.dir);
      packageParent = dir;
      staging = `${dir}.new-${randomBytes(4).toString('hex')}`;
      await mkdir(dirname(dir), { recursive: true });
      if (method === 'pip') {
        const r = await runStep(
          [
            opts.python,
            '-m',
            'pip',
            '--isolated',
            'install',
            '-v',
            '--no-index',
            '--no-deps',
            '--no-build-isolation',
            '--no-cache-dir',
            '--no-warn-script-location',
            '--target',
            staging,
            sourceDir,
          ],
          'pip install --target',
        );
        outputs = r.stdout + r.stderr;
      } else {
        const r1 = await runStep([opts.python, 'setup.py', 'build'], 'setup.py build');
        const r2 = await runStep(
          [
            opts.python,
            'setup.py',
            'install',
            '--single-version-externally-managed',
            '--record',
            join(sourceDir, 'build', 'wsgi-toolchain-record.txt'),
            `--install-lib=${staging}`,
            `--install-scripts=${join(staging, 'bin')}`,
            `--install-data=${join(staging, 'data')}`,
            `--install-headers=${join(staging, 'include')}`,
          ],
          'setup.py install',
        );
        outputs = r1.stdout + r1.stderr + r2.stdout + r2.stderr;
      }
      const old = `${dir}.old-${randomBytes(4).toString('hex')}`;
      const hadOld = await targetExists(dir);
      if (hadOld) await rename(dir, old);
      await rename(staging, dir);
      staging = undefined;
      if (hadOld) await rm(old, { recursive: true, force: true });
    }
  } finally {
    if (staging) await rm(staging, { recursive: true, force: true });
  }
  const compiled =
    /building 'mod_wsgi\.server\.mod_wsgi/.test(outputs) || /^\s*(?:gcc|cc|clang|x86_64-linux-gnu-gcc)\b.*mod_wsgi\.c/m.test(outputs) || !reused;

  // 5. Find what was installed; make apxs_config name the stable link instead of the stack directory.
  const apxsConfig = join(packageParent, 'mod_wsgi', 'server', 'apxs_config.py');
  if (!(await targetExists(apxsConfig))) fail(`${apxsConfig} was not installed`, 'read the output above');
  if (stable) {
    const text = await readFile(apxsConfig, 'utf8');
    const rewritten = text.split(`'${stable.from}/`).join(`'${stable.to}/`).split(`'${stable.from}'`).join(`'${stable.to}'`);
    if (rewritten !== text) {
      await writeFile(apxsConfig, rewritten);
      log(`${apxsConfig}: ${stable.from} -> ${stable.to}`);
    }
  }

  let expressPath: string;
  let checkEnv = pythonEnv(baseEnv);
  if (opts.target === 'venv') {
    expressPath = join(probe.prefix, 'bin', 'mod_wsgi-express');
    if (!(await targetExists(expressPath))) fail(`${expressPath} was not installed`, 'read the output above');
  } else {
    expressPath = join(prefix, 'bin', 'mod_wsgi-express');
    // Through the stable link when the directory lies in the stack (e.g. <stack>/python): a rebuild switches it.
    const launcherPath =
      stable && (packageParent === stable.from || packageParent.startsWith(`${stable.from}/`))
        ? stable.to + packageParent.slice(stable.from.length)
        : packageParent;
    await writeExecutable(expressPath, launcherScript(opts.python, launcherPath));
    checkEnv = pythonEnv(baseEnv, { PYTHONPATH: packageParent });
  }

  // 6. Check: the installed package names our httpd and loads the module we shipped.
  const check = await run(
    [opts.python, '-c', 'import json; from mod_wsgi.server import apxs_config as a, where; print(json.dumps({"httpd": a.HTTPD, "module": where()}))'],
    { cwd: '/', env: checkEnv, signal: opts.signal },
  );
  let httpd = '';
  let moduleLocation = '';
  try {
    const parsed = JSON.parse(check.stdout.trim().split('\n').pop() ?? '') as { httpd: string; module: string };
    httpd = parsed.httpd;
    moduleLocation = parsed.module;
  } catch {
    fail(
      `the installed package does not import (exit ${check.code}): ${check.stderr.trim().split('\n').slice(-3).join(' | ')}`,
      'read the output above',
    );
  }
  // Before the first activation the stable link does not exist yet, so apxs_config cannot resolve httpd through it:
  // check the httpd the link will point at instead.
  if (stable && !(await targetExists(stable.to))) {
    const pending = join(stable.from, 'bin', 'httpd');
    if (!(await targetExists(pending)))
      fail(`the installed package would run ${pending}, which does not exist`, `check that ${apxs} -q BINDIR names the httpd just built`);
    httpd = join(stable.to, 'bin', 'httpd');
  } else if (!isAbsolute(httpd) || !(await targetExists(httpd)))
    fail(`the installed package would run "${httpd}", which does not exist`, `check that ${apxs} -q BINDIR names the httpd just built`);
  if (!(await targetExists(moduleLocation))) fail(`the installed package's Apache module ${moduleLocation} does not exist`, 'read the output above');

  const seconds = (Date.now() - started) / 1000;
  log(
    `mod_wsgi Python package installed with ${method} in ${seconds.toFixed(1)} s (${compiled ? 'compiled by setup.py' : `reused ${reused}`}); mod_wsgi-express: ${expressPath}, httpd: ${httpd}`,
  );
  return { expressPath, method, seconds, compiled, apxsConfig, httpd, moduleLocation, packageDir: join(packageParent, 'mod_wsgi') };
}

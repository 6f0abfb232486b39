/**
 * What `npm install wsgi-httpd` runs (through the plain-JS launcher scripts/postinstall.mjs): builds the stack into the
 * default prefix, configured only by WSGI_HTTPD_* environment variables. npm shows a dependency's install-script output
 * only when the script fails, so a successful run prints one summary line with the log path; a build that cannot run
 * here (no compiler, no Python headers, offline without sources, another build holding the prefix) exits 0 with the
 * reason and the exact command to run later, unless WSGI_HTTPD_FORCE_BUILD=1 asks for a failing install instead.
 */
import { resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, candidatePrefixes, ExitCode, isToolchainError, BuildStepError, type BuildReport } from '../src/index.js';

/** Exit codes meaning "this machine cannot build right now", not "the build is broken". */
const cannotRun = new Set<number>([ExitCode.prerequisite, ExitCode.download, ExitCode.locked]);

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** The command that does the same build later, by hand (the WSGI_HTTPD_* settings become flags). */
export function laterCommand(prefix: string, env: NodeJS.ProcessEnv): string {
  const args = ['npx', 'wsgi-toolchain', 'build', '--prefix', prefix];
  if (env.WSGI_HTTPD_PYTHON) args.push('--python', env.WSGI_HTTPD_PYTHON);
  if (env.WSGI_HTTPD_LOCK) args.push('--lock', env.WSGI_HTTPD_LOCK);
  if (env.WSGI_HTTPD_RECIPES) args.push('--recipes', env.WSGI_HTTPD_RECIPES);
  if (env.WSGI_HTTPD_SOURCES) args.push('--sources', env.WSGI_HTTPD_SOURCES);
  if (env.WSGI_HTTPD_MIRROR) args.push('--mirror', env.WSGI_HTTPD_MIRROR);
  if (env.WSGI_HTTPD_OFFLINE === '1') args.push('--offline');
  if (env.WSGI_HTTPD_VERIFY === '0') args.push('--no-verify');
  if (env.WSGI_HTTPD_PYTHON_PACKAGE === '0') args.push('--no-python-package');
  return args.map(quote).join(' ');
}

/** A multi-line message ("these files are missing:\n  a\n  b") as one line ("...missing: a; b"). */
function oneLine(text: string): string {
  const [head, ...rest] = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return rest.length ? `${head} ${rest.join('; ')}` : (head ?? '');
}

function summary(report: BuildReport, pythonVersion: string | undefined): string {
  if (report.upToDate) return `wsgi-httpd: up to date: ${report.link} -> ${report.root} (nothing to build)`;
  const versions = report.layers.map((l) => `${l.component} ${l.version}`).join(', ');
  const verified = report.verify ? `, verified with Python ${report.verify.pythonVersion}` : pythonVersion ? ` for Python ${pythonVersion}` : '';
  return `wsgi-httpd: built ${versions} into ${report.prefix} in ${report.totalSeconds.toFixed(0)} s${verified} (log: ${report.logFile})`;
}

export interface PostinstallIO {
  out: (line: string) => void;
  err: (line: string) => void;
}

const stdio: PostinstallIO = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

/** Returns the exit code. Never asks anything and never assumes a terminal. */
export async function runPostinstall(env: NodeJS.ProcessEnv = process.env, io: PostinstallIO = stdio): Promise<number> {
  if (env.WSGI_HTTPD_SKIP_BUILD === '1') {
    io.out('wsgi-httpd: WSGI_HTTPD_SKIP_BUILD=1: the Apache/mod_wsgi stack was not built; build it with: npx wsgi-toolchain build --prefix DIR');
    return ExitCode.ok;
  }
  const force = env.WSGI_HTTPD_FORCE_BUILD === '1';
  const prefix = candidatePrefixes(env)[0]!;
  const later = laterCommand(prefix, env);
  if (process.platform === 'win32') {
    io.out(`wsgi-httpd: not built: Windows is not supported (Apache httpd is built with configure and make); use WSL`);
    return force ? ExitCode.prerequisite : ExitCode.ok;
  }
  try {
    const report = await build({ prefix, env, ui: 'silent', verify: env.WSGI_HTTPD_VERIFY !== '0' });
    io.out(summary(report, undefined));
    return ExitCode.ok;
  } catch (error) {
    if (!isToolchainError(error)) {
      io.err(`wsgi-httpd: internal error during postinstall: ${(error as Error)?.stack ?? String(error)}`);
      return ExitCode.internal;
    }
    if (cannotRun.has(error.exitCode) && !force) {
      const hint = error.hint.split('\n')[0]!.replace(/,? or [^,;]*:$/, '');
      io.out(
        `wsgi-httpd: not built: ${oneLine(error.message)} (fix: ${hint}); once fixed, run: ${later}  (or set WSGI_HTTPD_FORCE_BUILD=1 to make npm install fail instead)`,
      );
      return ExitCode.ok;
    }
    if (error instanceof BuildStepError) {
      if (error.tail.length) io.err(`Last lines of the failing step:\n${error.tail.map((l) => `  | ${l}`).join('\n')}`);
      io.err(`Full log: ${error.logFile}`);
    }
    io.err(`wsgi-httpd: postinstall build failed: ${error.message} (fix: ${error.hint})`);
    io.err(`wsgi-httpd: to retry: ${later}; to install without building: WSGI_HTTPD_SKIP_BUILD=1 npm install`);
    return error.exitCode;
  }
}

if (process.argv[1] && resolvePath(process.argv[1]) === fileURLToPath(import.meta.url)) {
  runPostinstall().then((code) => {
    process.exitCode = code;
  });
}

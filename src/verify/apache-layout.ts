import { accessSync, constants, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { VerifyError } from '../errors.js';
import { run } from '../util/run.js';

/** Where the pieces of one Apache httpd installation are. */
export interface ApacheLayout {
  /** The server binary (ours: <root>/bin/httpd; Debian: /usr/sbin/apache2). */
  httpd: string;
  apxs?: string;
  apachectl?: string;
  /** Where shared modules (mod_mpm_event.so, mod_authz_core.so, ...) live. */
  modulesDir: string;
  /** The installation's ServerRoot (ours: <root>; Debian: /etc/apache2). Informational: verify uses its own. */
  serverRoot: string;
  /** "2.4.62", from `httpd -v`, when known. */
  version?: string;
  /** True when an MPM is compiled into httpd (`httpd -l` lists event.c/worker.c/prefork.c), when known. */
  mpmBuiltIn?: boolean;
}

export const mpmNames = ['event', 'worker', 'prefork'] as const;

/** The layout of one of our own builds under `root`. Does not touch the disk. */
export function layoutFromRoot(root: string): ApacheLayout {
  return {
    httpd: join(root, 'bin', 'httpd'),
    apxs: join(root, 'bin', 'apxs'),
    apachectl: join(root, 'bin', 'apachectl'),
    modulesDir: join(root, 'modules'),
    serverRoot: root,
  };
}

async function apxsQuery(apxs: string, name: string): Promise<string> {
  let result;
  try {
    result = await run([apxs, '-q', name]);
  } catch (error) {
    throw new VerifyError(
      `cannot run ${apxs}: ${(error as Error).message}`,
      'point at an existing apxs (Debian: apt-get install apache2-dev gives /usr/bin/apxs), or at our own build with --prefix',
    );
  }
  if (result.code !== 0) {
    throw new VerifyError(
      `${apxs} -q ${name} failed (exit ${result.code ?? result.signal}): ${result.stderr.trim().split('\n').slice(-3).join(' | ')}`,
      'apxs needs perl and the build configuration it was installed with (config_vars.mk); reinstall apache2-dev or rebuild',
    );
  }
  return result.stdout.trim();
}

/** What `httpd -v` and `httpd -l` say: version and compiled-in modules (e.g. "mod_so.c", "event.c"). */
export interface HttpdProbe {
  version?: string;
  compiledIn: string[];
}

export async function probeHttpd(httpd: string): Promise<HttpdProbe> {
  const [v, l] = await Promise.all([run([httpd, '-v']).catch(() => undefined), run([httpd, '-l']).catch(() => undefined)]);
  const version = v && v.code === 0 ? /Apache\/(\d+\.\d+\.\d+)/.exec(v.stdout)?.[1] : undefined;
  const compiledIn =
    l && l.code === 0
      ? l.stdout
          .split('\n')
          .map((line) => line.trim())
          .filter((line) => line.endsWith('.c'))
      : [];
  return { version, compiledIn };
}

export function builtInMpm(compiledIn: readonly string[]): string | undefined {
  return mpmNames.find((name) => compiledIn.includes(`${name}.c`));
}

/**
 * The layout of an Apache described by its apxs (a distribution's apache2-dev or any other install). Each variable is
 * queried on its own: `apxs -q A B` joins the answers with ";" and drops empty ones, so they cannot be told apart.
 */
export async function layoutFromApxs(apxs: string): Promise<ApacheLayout> {
  const [sbinDir, target, libexecDir, prefix, sysconfDir] = await Promise.all(
    ['SBINDIR', 'TARGET', 'LIBEXECDIR', 'PREFIX', 'SYSCONFDIR'].map((name) => apxsQuery(apxs, name)),
  );
  if (!sbinDir || !target || !libexecDir) {
    throw new VerifyError(
      `${apxs} does not report SBINDIR/TARGET/LIBEXECDIR (got "${sbinDir}", "${target}", "${libexecDir}")`,
      'the apxs configuration (build/config_vars.mk) is incomplete; reinstall the Apache development package',
    );
  }
  const httpd = join(sbinDir, target);
  try {
    accessSync(httpd, constants.X_OK);
  } catch {
    throw new VerifyError(
      `${apxs} says the server is ${httpd}, but that is not an executable file`,
      'install the server that goes with this apxs (Debian: apt-get install apache2), or use our own build',
    );
  }
  const apachectl = ['apachectl', 'apache2ctl', `${target}ctl`].map((name) => join(sbinDir, name)).find((path) => existsSync(path));
  const probe = await probeHttpd(httpd);
  return {
    httpd,
    apxs,
    ...(apachectl ? { apachectl } : {}),
    modulesDir: libexecDir,
    serverRoot: prefix || sysconfDir || dirname(sbinDir),
    ...(probe.version ? { version: probe.version } : {}),
    ...(probe.compiledIn.length > 0 ? { mpmBuiltIn: builtInMpm(probe.compiledIn) !== undefined } : {}),
  };
}

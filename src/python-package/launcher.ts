/**
 * The mod_wsgi-express of a plain (non-virtualenv) prefix: a shell launcher that runs the chosen Python with the
 * stack's package directory on PYTHONPATH. A server it sets up gets the envvars script that exports the same
 * PYTHONPATH, so a later bare `apachectl start` finds the package too (mod_wsgi 6 imports its package inside Apache
 * before it applies --python-path, so that option alone is not enough there).
 */
import { envvarsName } from './install.js';

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

export function launcherScript(python: string, pythonPath: string, entry: { module: string; func: string }): string {
  const code = `import sys; sys.argv[0] = "mod_wsgi-express"; from ${entry.module} import ${entry.func}; sys.exit(${entry.func}())`;
  return [
    '#!/bin/sh',
    '# mod_wsgi-express for this wsgi-toolchain prefix (written by wsgi-toolchain; rewritten by every build).',
    `WSGI_TOOLCHAIN_PYTHON=${shellQuote(python)}`,
    `WSGI_TOOLCHAIN_PYTHONPATH=${shellQuote(pythonPath)}`,
    'PYTHONPATH="$WSGI_TOOLCHAIN_PYTHONPATH${PYTHONPATH:+:$PYTHONPATH}"',
    'export PYTHONPATH',
    '# The server it sets up exports the same PYTHONPATH (its apachectl sources the envvars script); with an envvars',
    '# script of your own, export PYTHONPATH there too.',
    'case "$1" in',
    '  start-server|setup-server)',
    '    case " $* " in',
    '      *" --envvars-script"*) set -- "$@" --python-path "$WSGI_TOOLCHAIN_PYTHONPATH" ;;',
    `      *) set -- "$@" --envvars-script "$WSGI_TOOLCHAIN_PYTHONPATH/${envvarsName}" ;;`,
    '    esac ;;',
    'esac',
    `exec "$WSGI_TOOLCHAIN_PYTHON" -c ${shellQuote(code)} "$@"`,
    '',
  ].join('\n');
}

/** Reads back what launcherScript wrote (undefined for any other file, e.g. a console script). */
export function parseLauncher(text: string): { python: string; pythonPath: string } | undefined {
  const unq = (s: string) => s.replace(/^'|'$/g, '').replaceAll(`'\\''`, "'");
  const python = /^WSGI_TOOLCHAIN_PYTHON=('(?:[^']|'\\'')*')$/m.exec(text)?.[1];
  const pythonPath = /^WSGI_TOOLCHAIN_PYTHONPATH=('(?:[^']|'\\'')*')$/m.exec(text)?.[1];
  return python && pythonPath ? { python: unq(python), pythonPath: unq(pythonPath) } : undefined;
}

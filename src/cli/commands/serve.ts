import { resolve } from 'node:path';
import { ExitCode, UsageError } from '../../errors.js';
import { defaultPrefix } from '../build-options.js';
import { defineCommand, optionGroup } from '../command.js';
import { prefixOption, pythonOption } from '../options.js';

/**
 * `wsgi-toolchain [--prefix P] [--python PY] serve [--prefix P] [--python PY] TARGET [express options...]`. `values`
 * are the options before `serve` (parsed strictly against these); `rest` is the raw argv after it, parsed by
 * parseServeArgv because mod_wsgi-express's options must pass through untouched.
 */
export const serveCommand = defineCommand({
  name: 'serve',
  summary: "run mod_wsgi-express start-server on the prefix's httpd, every express option passed through",
  usage: [
    'serve [--prefix DIR] [--python PATH] TARGET [mod_wsgi-express start-server options...]',
    'serve [--prefix DIR] [--python PATH] -- [mod_wsgi-express start-server arguments...]',
  ],
  description: [
    'Runs mod_wsgi-express start-server on the httpd built into the prefix, in the foreground (Ctrl-C stops it and every ' +
      'process it started). TARGET is a WSGI script file (or a module name with --application-type module); every option ' +
      'after TARGET, or after --, goes to mod_wsgi-express unchanged (--port, --processes, --threads, --url-alias, ' +
      '--document-root, --reload-on-changes, --setup-only --server-root DIR, ...).',
    'It listens on 127.0.0.1 unless --host says otherwise (--host 0.0.0.0 for every address), and prints the URL on a ' +
      'line of its own once the server answers. The configuration goes to a fresh private server root under the system ' +
      'temp dir, removed when serve ends (--server-root DIR instead: kept; as root it must be a directory only root can write).',
    'As root, the server runs as an unprivileged account (www-data, daemon or nobody unless --user/--group are given); it ' +
      'must be able to read the app, the virtualenv and the Python home, which is checked first. The locale defaults to ' +
      'en_US.UTF-8 when installed, else C.UTF-8 (--locale overrides). Errors are logged to the terminal unless ' +
      '--log-directory, --error-log-name or --setup-only is given.',
  ].join('\n\n'),
  operand: { name: 'TARGET', complete: 'file' },
  passThrough: true,
  groups: [
    optionGroup('Options (before TARGET)', {
      ...prefixOption,
      python: { ...pythonOption.python, help: 'run the mod_wsgi-express of this Python (default: PREFIX/bin/mod_wsgi-express)' },
    }),
  ],
  examples: [
    'wsgi-toolchain serve --prefix ./venv app.wsgi --port 8000 --processes 2',
    'wsgi-toolchain serve --prefix ./venv mysite.wsgi --application-type module',
  ],
  async run({ values, rest }) {
    // Each command loads its implementation when it runs: a build never pays for serve's or verify's modules.
    const { parseServeArgv, serve } = await import('../../serve/serve.js');
    const args = parseServeArgv(rest);
    if (args.help) {
      const { commandHelp } = await import('../help.js');
      process.stdout.write(commandHelp(serveCommand));
      return ExitCode.ok;
    }
    const prefix = args.prefix ?? values.prefix ?? defaultPrefix(process.env);
    if (!prefix)
      throw new UsageError('no --prefix given', 'pass --prefix DIR of a wsgi-toolchain build (or set WSGI_HTTPD_PREFIX, or activate its virtualenv)');
    return serve({
      prefix: resolve(prefix),
      python: args.python ?? values.python,
      target: args.target,
      targetGiven: args.targetGiven,
      passthrough: args.passthrough,
    });
  },
});

import { resolve } from 'node:path';
import { ExitCode, UsageError } from '../../errors.js';
import { parseServeArgv, serve, serveUsage } from '../../serve/serve.js';
import { defaultPrefix, type ParsedFlags } from '../args.js';

/**
 * `wsgi-toolchain [--prefix P] [--python PY] serve [--prefix P] [--python PY] TARGET [express options...]`. `values`
 * are the global flags before `serve` (parsed by the normal strict parser); `rest` is the raw argv after it, parsed
 * here because mod_wsgi-express's options must pass through untouched.
 */
export async function serveCommand(values: Pick<ParsedFlags, 'prefix' | 'python' | 'help'>, rest: string[]): Promise<number> {
  const args = parseServeArgv(rest);
  if (args.help || values.help) {
    process.stdout.write(serveUsage);
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
}

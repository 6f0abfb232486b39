import { resolve as resolvePath } from 'node:path';
import { ExitCode, UsageError } from '../../errors.js';
import { defaultPrefix } from '../build-options.js';
import { defineCommand, optionGroup } from '../command.js';
import { jsonOption, prefixOption, pythonOption } from '../options.js';
import { json, out } from '../output.js';

export const verifyCommand = defineCommand({
  name: 'verify',
  summary: 'start the installed httpd with mod_wsgi on 127.0.0.1 and check it serves a WSGI app',
  usage: ['verify [--prefix DIR] [--json]', 'verify --apxs PATH [--python PATH]'],
  description: 'The server is stopped again and nothing is left running; exit 7 when it does not serve.',
  groups: [
    optionGroup('Options', {
      ...prefixOption,
      apxs: {
        type: 'string',
        value: 'PATH',
        complete: 'file',
        help: 'check a system Apache instead, found through its apxs, with the mod_wsgi.so in its modules directory',
      },
      python: { ...pythonOption.python, help: "with --apxs: the Python that mod_wsgi.so was built for (a prefix's build knows its own)" },
      ...jsonOption,
    }),
  ],
  examples: ['wsgi-toolchain verify --prefix ./venv', 'wsgi-toolchain verify --prefix ./venv --json'],
  async run({ values }) {
    const prefix = values.prefix ?? defaultPrefix(process.env);
    if (!prefix && !values.apxs) throw new UsageError('no --prefix given', 'pass --prefix DIR of a wsgi-toolchain build');
    const { verifyPrefix } = await import('../../verify/prefix.js');
    const result = await verifyPrefix({ prefix: prefix ? resolvePath(prefix) : undefined, apxs: values.apxs, python: values.python });
    if (values.json) json(result);
    else
      out(
        `ok: GET ${result.url} -> ${result.status} from ${result.httpdVersion} (${result.mpm} MPM), Python ${result.pythonVersion}\n${result.body.trim()}`,
      );
    return ExitCode.ok;
  },
});

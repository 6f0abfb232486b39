import { ExitCode } from '../../errors.js';
import { detectPython } from '../../python/detect.js';
import { defaultPrefix } from '../build-options.js';
import { defineCommand, optionGroup } from '../command.js';
import { cacheDirOption, jsonOption, prefixOption, pythonOption } from '../options.js';
import { json, out } from '../output.js';

export const doctorCommand = defineCommand({
  name: 'doctor',
  summary: 'check what a build needs: compiler, make, perl, Python headers and libpython, expat, OpenSSL, zlib, disk',
  usage: ['doctor [--prefix DIR] [--python PATH] [--cache-dir DIR] [--no-verify] [--with-ssl] [--json]'],
  description: 'Exits 0 when a build can run, 3 (missing prerequisite) otherwise; each problem comes with the command that fixes it.',
  groups: [
    optionGroup('Options', {
      ...prefixOption,
      ...pythonOption,
      ...cacheDirOption,
      'no-verify': { type: 'boolean', help: 'the build will run with --no-verify: the server account need not read the Python' },
      'with-ssl': { type: 'boolean', help: 'count missing OpenSSL headers as a problem (as build --with-ssl would)' },
      ...jsonOption,
    }),
  ],
  examples: ['wsgi-toolchain doctor', 'wsgi-toolchain doctor --python /usr/bin/python3.12 --json'],
  async run({ values }) {
    const prefix = values.prefix ?? defaultPrefix(process.env);
    let python;
    try {
      python = await detectPython({ python: values.python, prefix, env: process.env });
    } catch (error) {
      python = error as Error;
    }
    const { formatDoctor, runDoctor } = await import('../../doctor/doctor.js');
    const result = await runDoctor({
      python,
      prefix,
      env: process.env,
      cacheDir: values['cache-dir'],
      verify: !values['no-verify'],
      wantSsl: values['with-ssl'] ? 'yes' : 'auto',
    });
    if (values.json) json(result);
    else out(formatDoctor(result.checks));
    return result.ok ? ExitCode.ok : ExitCode.prerequisite;
  },
});

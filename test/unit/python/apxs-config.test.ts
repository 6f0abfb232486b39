import { removeTempDirs, tempDir } from '../../helpers/temp.js';
import test from 'ava';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { recordApxsAnswers, renderApxsConfig } from '../../../src/python-package/apxs-config.js';
import type { PackageRecord } from '../../../src/python-package/layout.js';

const record = (answers?: Record<string, string>): PackageRecord =>
  ({
    package: { apxsConfigTemplate: { values: { WITH_HTTPD_PACKAGE: 'False' } } },
    apxsConfigTemplate: "BINDIR = '%(BINDIR)s'\nPROGNAME = '%(PROGNAME)s'\nWITH_HTTPD_PACKAGE = %(WITH_HTTPD_PACKAGE)r",
    files: [],
    ...(answers ? { apxsAnswers: answers } : {}),
  }) as unknown as PackageRecord;

/** A fake apxs that logs every query it answers. */
async function fakeApxs(dir: string): Promise<{ apxs: string; asked: () => Promise<string[]> }> {
  const apxs = join(dir, 'apxs');
  const log = join(dir, 'asked');
  await writeFile(apxs, `#!/bin/sh\necho "$2" >> ${log}\ncase "$2" in BINDIR) echo /stack/bin;; PROGNAME) echo httpd;; esac\n`);
  await chmod(apxs, 0o755);
  return { apxs, asked: async () => (await readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean).sort() };
}

test.after.always(removeTempDirs);

test('the answers a layer recorded fill the template for our own stack: no apxs is run', async (t) => {
  const dir = await tempDir('apxs-config-');
  const fake = await fakeApxs(dir);
  const text = await renderApxsConfig(record({ BINDIR: '/stack/bin', PROGNAME: 'httpd' }), {
    apxs: fake.apxs,
    stable: { from: '/stack', to: '/prefix/httpd' },
    env: process.env,
  });
  t.is(text, "BINDIR = '/prefix/httpd/bin'\nPROGNAME = 'httpd'\nWITH_HTTPD_PACKAGE = False\n");
  t.deepEqual(await fake.asked(), []);
});

test('without recorded answers, or for a system Apache, apxs is asked once per name', async (t) => {
  const dir = await tempDir('apxs-config-');
  const fake = await fakeApxs(dir);
  const stable = { from: '/stack', to: '/prefix/httpd' };
  t.is(
    await renderApxsConfig(record(), { apxs: fake.apxs, stable, env: process.env }),
    "BINDIR = '/prefix/httpd/bin'\nPROGNAME = 'httpd'\nWITH_HTTPD_PACKAGE = False\n",
  );
  t.deepEqual(await fake.asked(), ['BINDIR', 'PROGNAME']);
  // A system Apache (no stable link): recorded answers of some other httpd are never used.
  const system = await renderApxsConfig(record({ BINDIR: '/elsewhere', PROGNAME: 'x' }), { apxs: fake.apxs, env: process.env });
  t.is(system, "BINDIR = '/stack/bin'\nPROGNAME = 'httpd'\nWITH_HTTPD_PACKAGE = False\n");
  // Answers that miss a name the template asks for are not trusted either.
  await renderApxsConfig(record({ BINDIR: '/stack/bin' }), { apxs: fake.apxs, stable, env: process.env });
  t.is((await fake.asked()).length, 6);
});

test('recordApxsAnswers writes the answers into the package record', async (t) => {
  const dir = await tempDir('apxs-config-');
  const fake = await fakeApxs(dir);
  const recorded = await recordApxsAnswers(dir, record(), fake.apxs, process.env);
  t.deepEqual(recorded.apxsAnswers, { BINDIR: '/stack/bin', PROGNAME: 'httpd' });
  const onDisk = JSON.parse(await readFile(join(dir, '.wsgi-toolchain-package.json'), 'utf8'));
  t.deepEqual(onDisk.apxsAnswers, recorded.apxsAnswers);
});

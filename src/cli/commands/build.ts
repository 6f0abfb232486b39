import { ExitCode } from '../../errors.js';
import { formatPlan } from '../../pipeline/plan.js';
import { prepareBuild, prerequisiteFailure } from '../../pipeline/prepare.js';
import { type BuildReport, upToDateReport } from '../../pipeline/report.js';
import { buildOptionsFrom } from '../build-options.js';
import { defineCommand, optionGroup } from '../command.js';
import {
  buildingGroup,
  dryRunOption,
  fromArchiveOption,
  prefixOption,
  progressGroup,
  registryGroup,
  selectionGroup,
  sourcesGroup,
} from '../options.js';
import { json, out } from '../output.js';
import { formatReport } from '../report.js';

function untestedNote(untested: string[]): string {
  return `note: ${untested.join(', ')}: pinned by sha256 but not built by this project's CI; --tested chooses the versions it builds on every run`;
}

function viewMode(options: ReturnType<typeof buildOptionsFrom>): 'tty' | 'plain' | 'silent' {
  if (options.ui === 'silent') return 'silent';
  return options.ui === 'auto' && process.stdout.isTTY && !options.env.CI ? 'tty' : 'plain';
}

export const buildCommand = defineCommand({
  name: 'build',
  summary: 'resolve, download, verify, build, install and check the whole stack',
  usage: ['build [--prefix DIR] [--httpd V | --httpd system] [--mod-wsgi V] [options]', 'build --prefix DIR --from-archive FILE'],
  description:
    'Builds every component into a layer of the store (or takes it from there), assembles the stack under ' +
    'PREFIX/.wsgi-httpd, checks it serves a WSGI app, and switches PREFIX/httpd to it atomically. The same inputs ' +
    'again on an intact prefix do nothing ("up to date").',
  componentVersions: true,
  groups: [
    optionGroup('Where', prefixOption),
    selectionGroup,
    sourcesGroup,
    buildingGroup,
    registryGroup,
    optionGroup('Instead of building', {
      'dry-run': {
        ...dryRunOption['dry-run'],
        help: 'print the plan (every step, URL, sha256, command line) and change nothing; exits with the code the build would stop with',
      },
      ...fromArchiveOption,
    }),
    optionGroup(progressGroup.title, {
      ...progressGroup.options,
      json: { ...progressGroup.options.json, help: 'machine-readable output: the plan with --dry-run, the build report otherwise' },
    }),
  ],
  examples: [
    'wsgi-toolchain build --prefix ./venv',
    'wsgi-toolchain build --prefix ./venv --dry-run',
    'wsgi-toolchain build --prefix /opt/web --httpd 2.4.68 --apr 1.7.5 --sources ~/tarballs --offline',
    'wsgi-toolchain build --prefix ./venv --httpd system --apxs /usr/bin/apxs',
    'wsgi-toolchain build --prefix /srv --lock ci.lock.json',
    'wsgi-toolchain build --prefix ./venv --cache-from ghcr.io/acme/wsgi-httpd --cache-to ghcr.io/acme/wsgi-httpd:main',
  ],
  async run({ values, components }) {
    const options = buildOptionsFrom(values, components, process.env);
    const prepared = await prepareBuild(options, { planOnly: Boolean(values['dry-run']) });
    const { plan } = prepared;
    if (values['dry-run']) {
      if (values.json)
        json({ plan, stored: [...prepared.stored], checks: prepared.checks, blockers: prepared.blockers, upToDate: prepared.upToDate });
      else {
        out(formatPlan(plan, prepared.stored));
        if (prepared.upToDate) out('\n(up to date: a real build would do nothing)');
        if (prepared.untested.length) out(`\n${untestedNote(prepared.untested)}`);
        if (prepared.blockers.length)
          out(`\nThe build would stop here:\n${(await import('../../doctor/doctor.js')).formatDoctor(prepared.blockers)}`);
      }
      // The exit code the build would stop with, so a script can check a plan before it runs it.
      return prepared.upToDate ? ExitCode.ok : (prerequisiteFailure(prepared.blockers)?.exitCode ?? ExitCode.ok);
    }
    const blocked = prepared.upToDate ? undefined : prerequisiteFailure(prepared.blockers);
    if (blocked) {
      if (!blocked.exitCode || blocked.exitCode === ExitCode.prerequisite)
        process.stderr.write(`${(await import('../../doctor/doctor.js')).formatDoctor(prepared.checks.filter((c) => c.status !== 'ok'))}\n`);
      throw blocked;
    }
    let report: BuildReport;
    if (prepared.upToDate) report = upToDateReport(plan);
    else {
      for (const w of prepared.checks.filter((c) => c.status === 'warn')) process.stderr.write(`note: ${w.title}: ${w.detail}\n`);
      if (prepared.untested.length && options.ui !== 'silent') process.stderr.write(`${untestedNote(prepared.untested)}\n`);
      // Loaded only when there is work: the task list, HTTP client and tar code cost ~200 ms of a no-op's start-up.
      const [{ runBuild }, { BuildEvents }, { renderBuild }] = await Promise.all([
        import('../../pipeline/run.js'),
        import('../../pipeline/events.js'),
        import('../../ui/build-view.js'),
      ]);
      const events = new BuildEvents();
      const view = await renderBuild(events, viewMode(options), { verbose: options.verbose });
      try {
        report = await runBuild(prepared, options, events);
      } finally {
        await view.close();
      }
    }
    if (values.json) json(report);
    else if (options.ui !== 'silent' || prepared.upToDate) out(formatReport(report));
    return ExitCode.ok;
  },
});

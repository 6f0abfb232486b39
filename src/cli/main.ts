#!/usr/bin/env node
import { writeFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { compareVersionsDescending } from '../recipe/version.js';
import type { BuildReport } from '../pipeline/report.js';
import { prepareBuild, prerequisiteFailure } from '../pipeline/prepare.js';
import { upToDateReport } from '../pipeline/report.js';
import { formatDoctor, runDoctor } from '../doctor/doctor.js';
import { BuildStepError, ExitCode, fromSystemError, ToolchainError, UsageError } from '../errors.js';
import { formatPlan } from '../pipeline/plan.js';
import { detectPython } from '../python/detect.js';
import { loadRecipes } from '../recipe/load.js';
import { serializeLock } from '../resolve/lock.js';
import { verifyPrefix } from '../verify/prefix.js';
import { buildOptionsFrom, defaultPrefix, parseFlags, type ParsedFlags } from './args.js';
import { mainHelp } from './help.js';
import { formatReport } from './report.js';
import { infoCommand } from './commands/info.js';
import { uninstallCommand } from './commands/uninstall.js';
import { serveCommand } from './commands/serve.js';
import { splitServeArgv } from '../serve/serve.js';

const out = (text: string) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
const json = (value: unknown) => out(JSON.stringify(value, null, 2));

async function build(values: ParsedFlags): Promise<number> {
  const options = buildOptionsFrom(values, process.env);
  const prepared = await prepareBuild(options);
  const { plan } = prepared;
  if (values['dry-run']) {
    if (values.json) json({ plan, stored: [...prepared.stored], checks: prepared.checks, blockers: prepared.blockers, upToDate: prepared.upToDate });
    else {
      out(formatPlan(plan, prepared.stored));
      if (prepared.upToDate) out('\n(up to date: a real build would do nothing)');
      if (prepared.untested.length) out(`\n${untestedNote(prepared.untested)}`);
      if (prepared.blockers.length) out(`\nThe build would stop here:\n${formatDoctor(prepared.blockers)}`);
    }
    return ExitCode.ok;
  }
  const blocked = prepared.upToDate ? undefined : prerequisiteFailure(prepared.blockers);
  if (blocked) {
    if (!blocked.exitCode || blocked.exitCode === ExitCode.prerequisite)
      process.stderr.write(`${formatDoctor(prepared.checks.filter((c) => c.status !== 'ok'))}\n`);
    throw blocked;
  }
  let report: BuildReport;
  if (prepared.upToDate) report = upToDateReport(plan);
  else {
    for (const w of prepared.checks.filter((c) => c.status === 'warn')) process.stderr.write(`note: ${w.title}: ${w.detail}\n`);
    if (prepared.untested.length && options.ui !== 'silent') process.stderr.write(`${untestedNote(prepared.untested)}\n`);
    // Loaded only when there is work: the task list, HTTP client and tar code cost ~200 ms of a no-op's start-up.
    const [{ runBuild }, { BuildEvents }, { renderBuild }] = await Promise.all([
      import('../pipeline/run.js'),
      import('../pipeline/events.js'),
      import('../ui/build-view.js'),
    ]);
    const events = new BuildEvents();
    const view = renderBuild(events, viewMode(options), { verbose: options.verbose });
    try {
      report = await runBuild(prepared, options, events);
    } finally {
      await view.close();
    }
  }
  if (values.json) json(report);
  else if (options.ui !== 'silent' || prepared.upToDate) out(formatReport(report));
  return ExitCode.ok;
}

function untestedNote(untested: string[]): string {
  return `note: ${untested.join(', ')}: pinned by sha256 but not built by this project's CI; --tested chooses the versions it builds on every run`;
}

function viewMode(options: ReturnType<typeof buildOptionsFrom>): 'tty' | 'plain' | 'silent' {
  if (options.ui === 'silent') return 'silent';
  return options.ui === 'auto' && process.stdout.isTTY && !options.env.CI ? 'tty' : 'plain';
}

async function lockCommand(values: ParsedFlags): Promise<number> {
  const options = buildOptionsFrom(values, process.env, false);
  const prepared = await prepareBuild({ ...options, prefix: options.prefix });
  const text = serializeLock(prepared.plan.lock);
  if (values.output) {
    await writeFile(values.output, text);
    if (!values.json) out(`wrote ${resolvePath(values.output)}`);
  } else out(text);
  return ExitCode.ok;
}

async function list(values: ParsedFlags): Promise<number> {
  const recipes = await loadRecipes(values.recipes ?? []);
  const rows = [...recipes.values()].map((r) => ({
    name: r.name,
    default: r.defaultVersion,
    versions: Object.keys(r.versions)
      .sort(compareVersionsDescending)
      .map((v) => ({
        version: v,
        files: r.versions[v]!.artifacts.map((a) => a.file),
        requires: r.versions[v]!.requires ?? {},
      })),
  }));
  if (values.json) json(rows);
  else for (const r of rows) out(`${r.name.padEnd(9)} ${r.versions.map((v) => (v.version === r.default ? `${v.version}*` : v.version)).join('  ')}`);
  return ExitCode.ok;
}

async function doctor(values: ParsedFlags): Promise<number> {
  const prefix = values.prefix ?? defaultPrefix(process.env);
  let python;
  try {
    python = await detectPython({ python: values.python, prefix, env: process.env });
  } catch (error) {
    python = error as Error;
  }
  const result = await runDoctor({ python, prefix, env: process.env, wantSsl: values['with-ssl'] ? 'yes' : 'auto' });
  if (values.json) json(result);
  else out(formatDoctor(result.checks));
  return result.ok ? ExitCode.ok : ExitCode.prerequisite;
}

async function verify(values: ParsedFlags): Promise<number> {
  const prefix = values.prefix ?? defaultPrefix(process.env);
  if (!prefix && !values.apxs) throw new UsageError('no --prefix given', 'pass --prefix DIR of a wsgi-toolchain build');
  const result = await verifyPrefix({ prefix: prefix ? resolvePath(prefix) : undefined, apxs: values.apxs, python: values.python });
  if (values.json) json(result);
  else
    out(
      `ok: GET ${result.url} -> ${result.status} from ${result.httpdVersion} (${result.mpm} MPM), Python ${result.pythonVersion}\n${result.body.trim()}`,
    );
  return ExitCode.ok;
}

function printError(error: unknown): number {
  // A plain Node system error that escaped (a full disk, a read-only prefix, no permission) is the user's to fix, not
  // a bug: it becomes a FileSystemError (exit 9). Only errnos fromSystemError does not know stay internal errors.
  const known = error instanceof ToolchainError ? error : fromSystemError(error);
  if (known) {
    if (known instanceof BuildStepError) {
      if (known.tail.length) process.stderr.write(`\nLast lines of the failing step:\n${known.tail.map((l) => `  | ${l}`).join('\n')}\n`);
      process.stderr.write(`Full log: ${known.logFile}\n`);
    }
    process.stderr.write(`wsgi-toolchain: error: ${known.message} (fix: ${known.hint})\n`);
    return known.exitCode;
  }
  process.stderr.write(
    `wsgi-toolchain: internal error: ${(error as Error)?.stack ?? String(error)}\n(please report this with the command you ran)\n`,
  );
  return ExitCode.internal;
}

export async function main(argv: string[]): Promise<number> {
  try {
    // serve passes mod_wsgi-express options through untouched: only the flags before it go through parseFlags.
    const serveSplit = splitServeArgv(argv, (head) => {
      try {
        return parseFlags(head).positionals.length === 0;
      } catch {
        return false;
      }
    });
    const { values, positionals } = parseFlags(serveSplit ? [...serveSplit.head, 'serve'] : argv);
    const command = positionals[0];
    if (!command || values.help) {
      out(mainHelp);
      return command || values.help ? ExitCode.ok : ExitCode.usage;
    }
    switch (command) {
      case 'build':
        return await build(values);
      case 'lock':
        return await lockCommand(values);
      case 'list':
        return await list(values);
      case 'doctor':
        return await doctor(values);
      case 'verify':
        return await verify(values);
      case 'info':
        return await infoCommand(values);
      case 'uninstall':
        return await uninstallCommand(values);
      case 'serve':
        return await serveCommand(values, serveSplit?.rest ?? []);
      case 'fetch':
        return await (await import('./commands/fetch.js')).fetchCommand(values);
      case 'pack':
        return await (await import('./commands/pack.js')).packCommand(values);
      case 'push':
        return await (await import('./commands/push.js')).pushCommand(values, positionals[1]);
      case 'cache':
        return await (await import('./commands/cache.js')).cacheCommand(values, positionals[1]);
      default:
        throw new UsageError(`unknown command "${command}"`, "run 'wsgi-toolchain --help' for the commands");
    }
  } catch (error) {
    return printError(error);
  }
}

/**
 * `wsgi-toolchain list | head -1`: once the reader of stdout is gone, writes fail with EPIPE (Node ignores SIGPIPE, so
 * without this listener that is an unhandled 'error' event: a stack trace and exit 1). Like npm and git, we say
 * nothing and do not fail: the rest of stdout is dropped, and the command ends with its own exit code (0 for list).
 * It is not cut short, so a build whose output reader went away is neither killed half-way nor reported as failed.
 * Any other error on stdout (a full disk under `> file`) is reported like any error.
 */
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') return;
  process.exitCode = printError(error);
});

main(process.argv.slice(2)).then((code) => {
  process.exitCode ??= code;
});

import { PrerequisiteError } from '../errors.js';
import { run } from '../util/run.js';
import { type PackageRecord, writePackageRecord } from './layout.js';

/** The %(NAME)s / %(NAME)r names a Python %-format template uses. */
export function templateNames(template: string): string[] {
  return [...new Set([...template.matchAll(/%\(([A-Za-z_][A-Za-z0-9_]*)\)[sr]/g)].map((m) => m[1]!))];
}

/** Python's `template % values` for %(NAME)s and %(NAME)r (values given as the text to insert) and %%. */
export function fillTemplate(template: string, values: Record<string, string>): string {
  return template.replace(/%\(([A-Za-z_][A-Za-z0-9_]*)\)[sr]|%%/g, (match, name: string | undefined) => {
    if (match === '%%') return '%';
    const value = values[name!];
    if (value === undefined) throw new Error(`template value ${name} missing`);
    return value;
  });
}

/**
 * `apxs -q NAME` for each name. One query per name, as setup.py does: a multi-name query drops empty values (MPM_NAME
 * is empty for a build with shared MPMs), which would shift every value after it.
 */
export async function apxsQuery(apxs: string, names: string[], env: NodeJS.ProcessEnv): Promise<Record<string, string>> {
  const answers = await Promise.all(
    names.map(async (name) => {
      const result = await run([apxs, '-q', name], { env }).catch((error: Error) => ({ code: -1, stdout: '', stderr: error.message }));
      return { name, ok: result.code === 0, value: result.code === 0 ? result.stdout.trim() : '', stderr: result.stderr };
    }),
  );
  // Like setup.py, an unknown or empty variable is ''; apxs answers "Invalid query string" for MPM_NAME when the MPMs
  // are shared modules. Only an apxs that answers nothing at all is an error.
  if (answers.length > 0 && answers.every((a) => !a.ok)) {
    throw new PrerequisiteError(
      `${apxs} -q failed: ${answers[0]!.stderr.trim().split('\n').pop() ?? ''}`,
      'the Apache the Python package is installed for must have a working apxs (perl is needed to run it)',
    );
  }
  return Object.fromEntries(answers.map((a) => [a.name, a.value]));
}

/** Where apxs_config's values come from: our stack's apxs (through the stable link), or the system's. */
export interface ApxsSource {
  apxs: string;
  /** Paths apxs reports under `from` (the stack directory) are written as `to` (the prefix's stable link). */
  stable?: { from: string; to: string };
  env: NodeJS.ProcessEnv;
}

/** The names the package's template asks apxs for (the recipe's fixed values are not asked). */
export function askedNames(record: PackageRecord): string[] {
  return templateNames(record.apxsConfigTemplate).filter((n) => !(n in record.package.apxsConfigTemplate.values));
}

/**
 * The answers of the stage's apxs, kept in the package record of the layer: the record is relocated with the layer,
 * so in a stack they are its own apxs's answers, and a warm build asks no apxs (a perl run and four apr-config runs
 * per name).
 */
export async function recordApxsAnswers(treeDir: string, record: PackageRecord, apxs: string, env: NodeJS.ProcessEnv): Promise<PackageRecord> {
  const recorded: PackageRecord = { ...record, apxsAnswers: await apxsQuery(apxs, askedNames(record), env) };
  await writePackageRecord(treeDir, recorded);
  return recorded;
}

/**
 * The generated apxs config module: the template from the source, filled with the recipe's fixed values and the rest
 * from `apxs -q` (or, for our own stack, the answers its layer recorded), with paths under `stable.from` (a stack
 * directory) written as `stable.to` (the prefix's link), so the installed package keeps working across rebuilds. The
 * output matches setup.py's (`print(template % values)`).
 */
export async function renderApxsConfig(record: PackageRecord, source: ApxsSource): Promise<string> {
  const { stable } = source;
  const asked = askedNames(record);
  const recorded = record.apxsAnswers;
  const queried =
    stable && recorded && asked.every((n) => n in recorded)
      ? Object.fromEntries(asked.map((n) => [n, recorded[n]!]))
      : await apxsQuery(source.apxs, asked, source.env);
  const mapped = Object.fromEntries(
    Object.entries(queried).map(([name, value]) => [
      name,
      stable && (value === stable.from || value.startsWith(`${stable.from}/`)) ? stable.to + value.slice(stable.from.length) : value,
    ]),
  );
  return `${fillTemplate(record.apxsConfigTemplate, { ...mapped, ...record.package.apxsConfigTemplate.values })}\n`;
}

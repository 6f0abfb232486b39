import { PrerequisiteError } from '../errors.js';
import { run } from '../util/run.js';

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

/**
 * The generated apxs config module: the template from the source, filled with the recipe's fixed values and the rest
 * from `apxs -q`, with paths under `stable.from` (a stack directory) written as `stable.to` (the prefix's link), so
 * the installed package keeps working across rebuilds. The output matches setup.py's (`print(template % values)`).
 */
export async function renderApxsConfig(
  template: string,
  fixed: Record<string, string>,
  apxs: string,
  stable: { from: string; to: string } | undefined,
  env: NodeJS.ProcessEnv,
): Promise<string> {
  const asked = templateNames(template).filter((n) => !(n in fixed));
  const queried = await apxsQuery(apxs, asked, env);
  const mapped = Object.fromEntries(
    Object.entries(queried).map(([name, value]) => [
      name,
      stable && (value === stable.from || value.startsWith(`${stable.from}/`)) ? stable.to + value.slice(stable.from.length) : value,
    ]),
  );
  return `${fillTemplate(template, { ...mapped, ...fixed })}\n`;
}

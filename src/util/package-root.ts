import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The nearest directory at or above `dir` that holds a package.json: the package's own root from any of its modules,
 * whether they run from src/ (tsx), dist/src/ (the API) or dist/bin/ (the bundled CLI and its chunks).
 */
export function packageRootFrom(dir: string): string {
  for (let at = dir; ; at = dirname(at)) {
    if (existsSync(join(at, 'package.json'))) return at;
    if (dirname(at) === at) throw new Error(`no package.json at or above ${dir}: the wsgi-httpd package is incomplete`);
  }
}

/** The package's own root: recipes/, patches/ and src/python/programs/ ship beside src/ and dist/. */
export const packageRoot = packageRootFrom(dirname(fileURLToPath(import.meta.url)));

/** A Python program shipped with the package (src/python/programs/NAME), run with the user's interpreter. */
export function pythonProgram(name: string): string {
  return join(packageRoot, 'src', 'python', 'programs', name);
}

/**
 * `-c SOURCE` for a shipped program: run from its text, so an interpreter run as another account (the server's)
 * needs no access to the package's own directory, and the program's directory never lands on sys.path.
 */
export function pythonProgramArgs(name: string): string[] {
  return ['-c', readFileSync(pythonProgram(name), 'utf8')];
}

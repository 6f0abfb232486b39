import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's own root: recipes/, patches/ and src/python/programs/ ship beside src/ (and beside dist/src/). */
export const packageRoot = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (basename(dir) !== 'src') dir = dirname(dir);
  const up = dirname(dir);
  return basename(up) === 'dist' ? dirname(up) : up;
})();

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

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

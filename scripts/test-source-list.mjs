#!/usr/bin/env node
// Prints "sha256 file" for every upstream file the real-build tests use, read from recipes/ so the pins live in one
// place. Used by fetch-test-sources.sh. These are the releases Debian's source archive holds byte-identical copies of.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export const testSourceFiles = [
  ['httpd', '2.4.68', 'httpd-2.4.68.tar.gz'],
  ['apr', '1.7.5', 'apr-1.7.5.tar.bz2'],
  ['apr-util', '1.6.3', 'apr-util-1.6.3.tar.bz2'],
  ['pcre2', '10.46', 'pcre2-10.46.tar.gz'],
  ['mod_wsgi', '5.0.2', 'mod_wsgi-5.0.2-github.tar.gz'],
  ['apr', '1.7.2', 'apr-1.7.2.tar.bz2'],
  ['pcre2', '10.42', 'pcre2-10.42.tar.gz'],
  ['apr', '1.7.6', 'apr-1.7.6.tar.bz2'],
  ['apr-util', '1.6.4', 'apr-util-1.6.4.tar.bz2'],
  ['pcre2', '10.48', 'pcre2-10.48.tar.gz'],
];

/** Files the shipped recipes do not pin, with the overlay recipe (under the repository) that does. */
export const overlaySourceFiles = [['mod_wsgi', '6.0.5', 'mod_wsgi-6.0.5.tar.gz', 'test/e2e/overlays/mod_wsgi-git-tag']];

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const recipes = join(root, 'recipes');
const only = process.argv[2]; // "overlays": only the overlay files
for (const [component, version, file, overlay] of only === 'overlays' ? overlaySourceFiles : [...testSourceFiles, ...overlaySourceFiles]) {
  const recipe = JSON.parse(readFileSync(join(overlay ? join(root, overlay) : recipes, `${component}.json`), 'utf8'));
  const artifact = recipe.versions[version]?.artifacts.find((a) => a.file === file);
  if (!artifact) {
    console.error(`test-source-list: ${component} ${version} has no artifact ${file} in recipes/${component}.json`);
    process.exit(2);
  }
  console.log(`${artifact.sha256} ${file}`);
}

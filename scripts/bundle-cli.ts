/**
 * Writes the CLI as it ships, dist/bin/wsgi-toolchain.js (package.json's "bin"): src/cli/main.ts and our modules it
 * imports bundled into one file by esbuild, and each stage it imports lazily (the build and its UI, the registry client,
 * the doctor) in its own chunk under dist/bin/chunks/, loaded only when a run needs it. Packages stay in node_modules.
 *
 * Why: Node 20 resolves, stats, reads and compiles each ES module on its own, through the thread pool; a no-op build
 * loaded about 90 of our modules, and that was most of its time (0.29 s, of which Node's own start is 0.11 s).
 * `npm run build` runs tsc (type checks, dist/src for the API) and then this.
 */
import { chmod, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';
import { packageRoot } from '../src/util/package-root.js';

const outdir = join(packageRoot, 'dist', 'bin');
const { dependencies } = JSON.parse(await readFile(join(packageRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
const inlined = ['semver', 'env-paths'];
const entry = join(outdir, 'wsgi-toolchain.js');

await rm(outdir, { recursive: true, force: true }); // chunks of an earlier bundle must not linger
await build({
  absWorkingDir: packageRoot,
  entryPoints: { 'wsgi-toolchain': 'src/cli/main.ts' },
  outdir,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Packages stay in node_modules, loaded where a stage needs them, except the two every run loads: semver's functions
  // are 25 small CommonJS files, each resolved and wrapped by Node's ES module loader on its own (~15 ms of a warm
  // build's start-up, bundled: a few).
  external: Object.keys(dependencies).filter((name) => !inlined.includes(name)),
  sourcemap: true,
  logLevel: 'warning',
});
await chmod(entry, 0o755);
process.stdout.write(`wrote ${entry}\n`);

/**
 * The CLI ships bundled (scripts/bundle-cli.ts, dist/bin/): package.json's bin is the bundle, it finds the package's
 * own files from its new place, packages stay in node_modules (but semver and env-paths), and the start-up path loads none of the build's
 * heavy packages (HTTP, tar, the task-list UI): they come in chunks that only a build with work imports.
 */
import test from 'ava';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { packageRootFrom } from '../../src/util/package-root.js';
import { cliMain, repoRoot, runCli } from '../helpers/cli.js';

const packageJson = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string> };

/** The specifiers a bundle file imports statically (`import … from "x"`, `import "x"`), not through import(). */
function staticImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^import\s+(?:[^;]*?\s+from\s+)?"([^"]+)";/gms)].map((m) => m[1]!);
}

/** Every file and package the entry loads before it runs: the static import closure. */
function startupClosure(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    for (const spec of staticImports(file)) {
      if (spec.startsWith('.')) visit(join(dirname(file), spec));
      else if (!spec.startsWith('node:')) packages.add(spec.split('/')[0]!);
    }
  };
  visit(entry);
  return { files, packages };
}

test('package.json bin is the bundle, executable, with a node shebang', (t) => {
  t.is(join(repoRoot, packageJson.bin['wsgi-toolchain']!), cliMain);
  t.notThrows(() => accessSync(cliMain, constants.X_OK));
  t.true(readFileSync(cliMain, 'utf8').startsWith('#!/usr/bin/env node\n'));
});

test('the bundle finds the package root (its version, the recipes) from dist/bin', async (t) => {
  const version = await runCli(['--version']);
  t.is(version.code, 0, version.stderr);
  t.is(version.stdout, `wsgi-toolchain ${packageJson.version}\n`);
  const list = await runCli(['list', '--json']);
  t.is(list.code, 0, list.stderr);
  t.true((JSON.parse(list.stdout) as { name: string }[]).some((r) => r.name === 'httpd'));
});

test('packageRootFrom: the nearest directory with a package.json, from src/, dist/src/ and the bundle chunks', (t) => {
  for (const dir of ['src/util', 'dist/src/util', 'dist/bin', 'dist/bin/chunks']) t.is(packageRootFrom(join(repoRoot, dir)), repoRoot, dir);
  const outside = mkdtempSync(join(tmpdir(), 'wsgi-no-package-'));
  t.teardown(() => rmSync(outside, { recursive: true, force: true }));
  t.throws(() => packageRootFrom(outside), { message: /no package\.json at or above .*wsgi-no-package-.*incomplete/ });
});

test("the start-up path imports only the packages a no-op uses; got, tar and listr2 load with a build's chunks", (t) => {
  const { files, packages } = startupClosure(cliMain);
  for (const heavy of ['got', 'tar', 'listr2', 'hpagent']) t.false(packages.has(heavy), `${heavy} is imported at start-up`);
  // semver and env-paths, which every run loads, are bundled (semver is 25 CommonJS files); every other package is
  // imported from node_modules, never copied in.
  for (const inlined of ['semver', 'env-paths']) t.false(packages.has(inlined), `${inlined} is imported from node_modules`);
  for (const file of files)
    for (const path of readFileSync(file, 'utf8').matchAll(/node_modules\/((?:@[^/\s]+\/)?[^/\s]+)/g))
      t.true(['semver', 'env-paths'].includes(path[1]!), `${file} holds code of ${path[1]}`);
  t.regex([...files].map((f) => readFileSync(f, 'utf8')).join(''), /node_modules\/semver\//, 'semver is in the start-up bundle');
});

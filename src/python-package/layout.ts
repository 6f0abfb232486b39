/**
 * Lays out a component's Python package from its verified source tree, as its setup.py would install it, without
 * running setuptools or pip: the files the recipe's layout names, plus a record of the package (metadata, the apxs
 * template read from the source) for the install step. The result is a plain directory tree, kept in the component's
 * layer, that installs into any virtualenv or prefix of a matching Python in milliseconds.
 */
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { RecipeError } from '../errors.js';
import type { ResolvedPythonPackage } from './spec.js';

/** Written beside the package directory; everything the install step needs that is not a package file. */
export const packageRecordName = '.wsgi-toolchain-package.json';

export interface PackageRecord {
  package: ResolvedPythonPackage;
  /** The template text read from the source, filled per install. */
  apxsConfigTemplate: string;
  /** Package files, relative to the tree root, sorted. */
  files: string[];
  /** What the stage's apxs answered for the template's names when the layer was built (our own httpd only). */
  apxsAnswers?: Record<string, string>;
}

/** A glob of `*`, `?` and `**` (any number of directories) as a RegExp over '/'-separated relative paths. */
export function globToRegExp(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      const slash = glob[i + 2] === '/';
      out += slash ? '(?:.*/)?' : '.*';
      i += slash ? 2 : 1;
    } else if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else out += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}

async function filesUnder(dir: string, rel = ''): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(join(dir, rel), { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const out: string[] = [];
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const child = rel ? `${rel}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await filesUnder(dir, child)));
    else if (entry.isFile()) out.push(child);
  }
  return out;
}

/** The text of `NAME = """..."""` in a Python source file. */
export function readTripleQuoted(source: string, variable: string): string | undefined {
  const start = source.indexOf(`${variable} = """`);
  if (start === -1) return undefined;
  const from = start + variable.length + 6;
  const end = source.indexOf('"""', from);
  return end === -1 ? undefined : source.slice(from, end);
}

/**
 * Copies the layout's files from `sourceDir` into `treeDir` and writes the package record there. The generated module
 * (apxs config) and the extension are not written here: they depend on where the package is installed.
 */
export async function layOutPythonPackage(sourceDir: string, pkg: ResolvedPythonPackage, treeDir: string): Promise<PackageRecord> {
  const generated = pkg.layout.apxsConfig;
  const files: string[] = [];
  for (const group of pkg.layout.files) {
    const pattern = globToRegExp(group.match);
    for (const rel of await filesUnder(join(sourceDir, group.from))) {
      if (!pattern.test(rel)) continue;
      const target = `${group.to}/${rel}`;
      if (target === generated || files.includes(target)) continue;
      await mkdir(dirname(join(treeDir, target)), { recursive: true });
      await copyFile(join(sourceDir, group.from, rel), join(treeDir, target));
      files.push(target);
    }
  }
  const templateFile = join(sourceDir, pkg.apxsConfigTemplate.file);
  const template = readTripleQuoted(await readFile(templateFile, 'utf8').catch(() => ''), pkg.apxsConfigTemplate.variable);
  if (template === undefined) {
    throw new RecipeError(
      `${pkg.distribution} ${pkg.version}: ${pkg.apxsConfigTemplate.file} has no ${pkg.apxsConfigTemplate.variable} = """...""" template`,
      'the pythonPackage.apxsConfigTemplate of the recipe does not fit this source; fix the recipe or build with --no-python-package',
    );
  }
  if (!files.some((f) => f.endsWith('/__init__.py'))) {
    throw new RecipeError(
      `${pkg.distribution} ${pkg.version}: the recipe's package layout (${pkg.layout.versions}) matched no package in the source`,
      'fix pythonPackage.layouts in the recipe, or build with --no-python-package',
    );
  }
  const record: PackageRecord = { package: pkg, apxsConfigTemplate: template, files: files.sort() };
  await writePackageRecord(treeDir, record);
  return record;
}

export async function writePackageRecord(treeDir: string, record: PackageRecord): Promise<void> {
  await writeFile(join(treeDir, packageRecordName), `${JSON.stringify(record, null, 2)}\n`);
}

export async function readPackageRecord(treeDir: string): Promise<PackageRecord> {
  return JSON.parse(await readFile(join(treeDir, packageRecordName), 'utf8')) as PackageRecord;
}

import { RecipeError } from '../errors.js';
import type { PythonPackageLayout, PythonPackageSpec } from '../recipe/types.js';
import { satisfiesRange } from '../recipe/version.js';

/** A recipe's Python package description with the layout of one version chosen (what a lock records). */
export interface ResolvedPythonPackage extends Omit<PythonPackageSpec, 'layouts'> {
  version: string;
  layout: PythonPackageLayout;
}

export function resolvePythonPackage(spec: PythonPackageSpec, component: string, version: string): ResolvedPythonPackage {
  const layout = spec.layouts.find((l) => satisfiesRange(version, l.versions));
  if (!layout) {
    throw new RecipeError(
      `${component} ${version}: no pythonPackage layout covers this version (layouts: ${spec.layouts.map((l) => l.versions).join(', ')})`,
      `add a layout for ${version} to the recipe's pythonPackage.layouts (see recipes/README.md), or build with --no-python-package`,
    );
  }
  const { layouts: _layouts, ...rest } = spec;
  return { ...rest, version, layout };
}

/** "mod_wsgi/express/apxs_config.py" -> "mod_wsgi.express.apxs_config" */
export function moduleOfPath(path: string): string {
  return path.replace(/\.py$/, '').split('/').join('.');
}

/** The console script's target, split: "mod_wsgi.express.cli:main" -> module and function. */
export function entryPointOf(pkg: ResolvedPythonPackage, script: string): { module: string; func: string } {
  const target = pkg.layout.consoleScripts[script];
  if (!target) throw new RecipeError(`the ${pkg.distribution} package layout has no console script ${script}`);
  const [module, func] = target.split(':');
  return { module: module!, func: func ?? 'main' };
}

/** The package path of the extension module for one Python ("mod_wsgi/server/mod_wsgi-py311.cpython-311-….so"). */
export function extensionPath(pkg: ResolvedPythonPackage, python: { majorMinor: string; extSuffix: string }): string {
  return pkg.extension.to.replaceAll('{pythonXY}', python.majorMinor.replace('.', '')).replaceAll('{extSuffix}', python.extSuffix);
}

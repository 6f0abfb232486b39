import semver from 'semver';
import { isVersionKey } from './version.js';
import { RecipeError } from '../errors.js';
import { componentNames, type Recipe } from './types.js';

/**
 * Checks an untrusted JSON value against the recipe schema and returns it typed. Every message names the file and the
 * JSON path of the problem, so a user's overlay recipe can be fixed from the error line alone.
 */
export function validateRecipe(value: unknown, file: string): Recipe {
  const problems: string[] = [];
  const at = (path: string, message: string) => problems.push(`${path}: ${message}`);
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const str = (v: unknown, path: string) => (typeof v === 'string' && v.length > 0) || at(path, 'must be a non-empty string');
  const strList = (v: unknown, path: string) => (Array.isArray(v) && v.every((s) => typeof s === 'string')) || at(path, 'must be a list of strings');

  if (!isObject(value)) throw new RecipeError(`${file}: a recipe must be a JSON object`);
  const r = value;
  if (!componentNames.includes(r.name as never)) at('name', `must be one of ${componentNames.join(', ')}`);
  for (const key of ['description', 'homepage', 'license', 'mirrorPath', 'defaultVersion'] as const) str(r[key], key);
  if (typeof r.mirrorPath === 'string' && !r.mirrorPath.includes('{file}')) at('mirrorPath', 'must contain {file}');
  strList(r.dependencies, 'dependencies');
  strList(r.urlTemplates, 'urlTemplates');
  if (r.optional !== undefined && typeof r.optional !== 'boolean') at('optional', 'must be true or false');

  if (!isObject(r.versions) || Object.keys(r.versions).length === 0) {
    at('versions', 'must map at least one version to its artifacts');
  } else {
    for (const [version, entry] of Object.entries(r.versions)) {
      const path = `versions["${version}"]`;
      if (!isVersionKey(version)) at(path, 'the key must be an exact version like 2.4.68 or 10.46');
      if (!isObject(entry)) {
        at(path, 'must be an object with "artifacts"');
        continue;
      }
      if (!Array.isArray(entry.artifacts) || entry.artifacts.length === 0) at(`${path}.artifacts`, 'must list at least one file');
      else
        entry.artifacts.forEach((a: unknown, i: number) => {
          const ap = `${path}.artifacts[${i}]`;
          if (!isObject(a)) return void at(ap, 'must be an object');
          str(a.file, `${ap}.file`);
          if (typeof a.file === 'string' && /[/\\]/.test(a.file)) at(`${ap}.file`, 'must be a bare file name');
          if (typeof a.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(a.sha256)) at(`${ap}.sha256`, 'must be 64 lower-case hex digits');
          str(a.sha256Source, `${ap}.sha256Source`);
          if (a.urls !== undefined) strList(a.urls, `${ap}.urls`);
          if (a.urls === undefined && Array.isArray(r.urlTemplates) && r.urlTemplates.length === 0)
            at(`${ap}.urls`, 'needed when the recipe has no urlTemplates');
        });
      if (entry.requires !== undefined) {
        if (!isObject(entry.requires)) at(`${path}.requires`, 'must map a component (or "python") to a semver range');
        else
          for (const [dep, range] of Object.entries(entry.requires))
            if (typeof range !== 'string' || semver.validRange(range) === null)
              at(`${path}.requires.${dep}`, `"${String(range)}" is not a semver range`);
      }
    }
    if (typeof r.defaultVersion === 'string' && !(r.defaultVersion in r.versions))
      at('defaultVersion', `"${r.defaultVersion}" is not one of the listed versions`);
  }

  if (!Array.isArray(r.patches)) at('patches', 'must be a list (possibly empty)');
  else
    r.patches.forEach((p: unknown, i: number) => {
      const pp = `patches[${i}]`;
      if (!isObject(p)) return void at(pp, 'must be an object');
      str(p.file, `${pp}.file`);
      str(p.description, `${pp}.description`);
      if (typeof p.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(p.sha256)) at(`${pp}.sha256`, 'must be 64 lower-case hex digits');
      if (typeof p.versions !== 'string' || semver.validRange(p.versions) === null) at(`${pp}.versions`, 'must be a semver range');
      if (!Number.isInteger(p.strip) || (p.strip as number) < 0) at(`${pp}.strip`, 'must be a non-negative integer');
    });

  const b = r.build;
  if (!isObject(b)) at('build', 'must be an object');
  else {
    str(b.configure, 'build.configure');
    if (!Array.isArray(b.configureArgs)) at('build.configureArgs', 'must be a list');
    else
      b.configureArgs.forEach((arg: unknown, i: number) => {
        if (typeof arg === 'string') return;
        if (isObject(arg) && typeof arg.if === 'string' && Array.isArray(arg.args) && arg.args.every((s) => typeof s === 'string')) return;
        at(`build.configureArgs[${i}]`, 'must be a string or {"if": CONDITION, "args": [..]}');
      });
    if (b.env !== undefined && !(isObject(b.env) && Object.values(b.env).every((v) => typeof v === 'string')))
      at('build.env', 'must map names to strings');
    if (typeof b.parallelMake !== 'boolean') at('build.parallelMake', 'must be true or false');
    strList(b.makeTargets, 'build.makeTargets');
    strList(b.installTargets, 'build.installTargets');
    strList(b.provides, 'build.provides');
  }

  if (problems.length > 0) throw new RecipeError(`${file}: ${problems.join('; ')}`);
  return value as unknown as Recipe;
}

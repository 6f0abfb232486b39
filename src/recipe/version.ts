// The functions alone, not semver's index: a no-op build loads 49 of its files through the index, a dozen this way.
import coerce from 'semver/functions/coerce.js';
import rcompare from 'semver/functions/rcompare.js';
import satisfies from 'semver/functions/satisfies.js';

/**
 * Upstream versions are not all semver: PCRE2 releases are "10.46". Recipes keep upstream's spelling; comparisons and
 * ranges go through the semver form ("10.46" -> 10.46.0).
 */
export function isVersionKey(version: string): boolean {
  return /^\d+\.\d+(\.\d+)?$/.test(version);
}

export function semverOf(version: string): string {
  return coerce(version)?.version ?? version;
}

export function compareVersionsDescending(a: string, b: string): number {
  return rcompare(semverOf(a), semverOf(b));
}

export function satisfiesRange(version: string, range: string): boolean {
  return satisfies(semverOf(version), range);
}

/** True for "10.46" or "2.4.68" given as a request: it names one version rather than a range. */
export function isExactRequest(request: string): boolean {
  return isVersionKey(request);
}

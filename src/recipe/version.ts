import semver from 'semver';

/**
 * Upstream versions are not all semver: PCRE2 releases are "10.46". Recipes keep upstream's spelling; comparisons and
 * ranges go through the semver form ("10.46" -> 10.46.0).
 */
export function isVersionKey(version: string): boolean {
  return /^\d+\.\d+(\.\d+)?$/.test(version);
}

export function semverOf(version: string): string {
  return semver.coerce(version)?.version ?? version;
}

export function compareVersionsDescending(a: string, b: string): number {
  return semver.rcompare(semverOf(a), semverOf(b));
}

export function satisfiesRange(version: string, range: string): boolean {
  return semver.satisfies(semverOf(version), range);
}

/** True for "10.46" or "2.4.68" given as a request: it names one version rather than a range. */
export function isExactRequest(request: string): boolean {
  return isVersionKey(request);
}

#!/usr/bin/env bash
# Brings the real upstream release tarballs that CI builds, from Debian's source archive, into a cache outside the
# checkout. Debian keeps upstream releases byte-identical as NAME_V.orig.tar.*; our recipes' sha256 values verify them.
# The apt configuration is private (under the cache) and derived from this machine's own sources file, so no archive
# host is named here and the system's apt state is untouched. Success is judged by the files and their sha256, never
# by apt's exit code: the reachable archive is partial and some .dsc files 404 while every tarball arrives.
#
# The upstream signatures Debian keeps beside the orig tarballs (NAME_V.orig.tar.*.asc, byte-identical to the Apache
# project's .asc) are kept too: the opt-in signature test checks httpd's against the keys pinned in recipes/keys/.
#
# Usage: scripts/fetch-test-sources.sh [DIR]     (default: $WSGI_HTTPD_TEST_SOURCES or ~/.cache/wsgi-httpd/test-sources)
# Prints the directory on the last line of stdout. Exit 0 only when every wanted file is there with the right sha256.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
dest=${1:-${WSGI_HTTPD_TEST_SOURCES:-${XDG_CACHE_HOME:-$HOME/.cache}/wsgi-httpd/test-sources}}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)

# The Debian source versions that hold the upstream files; the sha256 values come from our recipes (node reads them).
# The first line is the "5.0.2 set", the third the "6.0.5 set" (newest obtainable; see README, "What CI builds").
debian_sources=(apache2=2.4.68-1~deb12u1 apr=1.7.5-1 apr-util=1.6.3-1 pcre2=10.46-1~deb13u3 mod-wsgi=5.0.2-1
  apr=1.7.2-3+deb12u1 pcre2=10.42-1
  apr=1.7.6-3 apr-util=1.6.4-2 pcre2=10.48-3.1)
wanted=$(node "$here/test-source-list.mjs") || { echo "fetch-test-sources: cannot read the wanted sha256 list from recipes/" >&2; exit 2; }
# Upstream signatures the tests need, with the sha256 Debian's Sources index gives for them.
wanted_signatures="aea8d8f2b2a6c2088936f44b77ebf31255e3a3eda89087567f55238ad9d60539 apache2_2.4.68.orig.tar.gz.asc"

missing() {
  local sum name out=""
  declare -A have=()
  for f in "$dest"/*.orig.tar.* "$dest"/*.tar.gz; do
    [ -f "$f" ] || continue
    have[$(sha256sum "$f" | cut -d' ' -f1)]=1
  done
  while read -r sum name; do
    [ -n "$sum" ] || continue
    [ -n "${have[$sum]:-}" ] || out+="$name ($sum)"$'\n'
  done <<<"$wanted"
  while read -r sum name; do
    [ -n "$sum" ] || continue
    [ -f "$dest/$name" ] && [ "$(sha256sum "$dest/$name" | cut -d' ' -f1)" = "$sum" ] || out+="$name ($sum)"$'\n'
  done <<<"$wanted_signatures"
  printf '%s' "$out"
}

# What Debian does not carry (mod_wsgi 6.0.5) comes from the shared sources directory beside the checkout, found by
# sha256 (see its README for provenance): $WSGI_HTTPD_SHARED_SOURCES, else ../shared/sources or ../../shared/sources.
overlay_files=$(node "$here/test-source-list.mjs" overlays) || exit 2
for shared in "${WSGI_HTTPD_SHARED_SOURCES:-}" "$here/../../shared/sources" "$here/../../../shared/sources"; do
  [ -n "$shared" ] && [ -d "$shared" ] || continue
  while read -r sum name; do
    [ -n "$sum" ] || continue
    [ -f "$dest/$name" ] && [ "$(sha256sum "$dest/$name" | cut -d' ' -f1)" = "$sum" ] && continue
    for f in "$shared"/*; do
      [ -f "$f" ] && [ "$(sha256sum "$f" | cut -d' ' -f1)" = "$sum" ] && cp "$f" "$dest/$name" && break
    done
  done <<<"$overlay_files"
done

todo=$(missing)
if [ -z "$todo" ]; then
  echo "fetch-test-sources: every file already in $dest (sha256 checked)" >&2
  echo "$dest"; exit 0
fi

system_sources=/etc/apt/sources.list.d/debian.sources
[ -r "$system_sources" ] || { echo "fetch-test-sources: $system_sources not found: this script needs a Debian machine with deb822 apt sources" >&2; exit 2; }
uri=$(awk '/^URIs:/ {print $2; exit}' "$system_sources")
keyring=$(awk '/^Signed-By:/ {print $2; exit}' "$system_sources")
[ -n "$uri" ] || { echo "fetch-test-sources: no URIs: line in $system_sources" >&2; exit 2; }

apt_dir="$dest/.apt"
mkdir -p "$apt_dir/parts" "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
{
  echo "Types: deb-src"
  echo "URIs: $uri"
  echo "Suites: bookworm trixie sid"
  echo "Components: main"
  [ -n "$keyring" ] && echo "Signed-By: $keyring"
} >"$apt_dir/parts/wsgi-httpd-src.sources"
apt_opts=(-o "Dir::Etc::SourceParts=$apt_dir/parts" -o Dir::Etc::SourceList=/dev/null
  -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o APT::Sandbox::User=root)

echo "fetch-test-sources: updating a private deb-src index (bookworm, trixie, sid)" >&2
apt-get "${apt_opts[@]}" -qq update >"$apt_dir/update.log" 2>&1 || echo "fetch-test-sources: apt-get update reported errors (see $apt_dir/update.log); going on, the files decide" >&2
(cd "$dest" && apt-get "${apt_opts[@]}" -qq source --download-only "${debian_sources[@]}" >"$apt_dir/source.log" 2>&1) \
  || echo "fetch-test-sources: apt-get source exited non-zero (expected: the archive is partial); checking files" >&2
# Only the upstream tarballs and their upstream signatures matter; drop Debian's packaging files (and any other .asc).
rm -f "$dest"/*.debian.tar.* "$dest"/*.dsc "$dest"/*.diff.gz 2>/dev/null
for f in "$dest"/*.asc; do
  case "$f" in
    *.orig.tar.*.asc) ;;
    *) rm -f "$f" ;;
  esac
done

todo=$(missing)
if [ -n "$todo" ]; then
  echo "fetch-test-sources: these upstream files could not be obtained into $dest:" >&2
  printf '%s' "$todo" | sed 's/^/  - /' >&2
  echo "  (apt logs: $apt_dir/update.log, $apt_dir/source.log)" >&2
  exit 1
fi
echo "fetch-test-sources: all files present in $dest (sha256 checked)" >&2
echo "$dest"

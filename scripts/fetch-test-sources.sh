#!/usr/bin/env bash
# Brings the real upstream release tarballs that CI builds, from Debian's source archive, into a cache outside the
# checkout. Debian keeps upstream releases byte-identical as NAME_V.orig.tar.*; our recipes' sha256 values verify them.
# The apt configuration is private (under the cache) and derived from this machine's own sources file, so no archive
# host is named here and the system's apt state is untouched. Success is judged by the files and their sha256, never
# by apt's exit code: the reachable archive is partial and some .dsc files 404 while every tarball arrives.
#
# Usage: scripts/fetch-test-sources.sh [DIR]     (default: $WSGI_HTTPD_TEST_SOURCES or ~/.cache/wsgi-httpd/test-sources)
# Prints the directory on the last line of stdout. Exit 0 only when every wanted file is there with the right sha256.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
dest=${1:-${WSGI_HTTPD_TEST_SOURCES:-${XDG_CACHE_HOME:-$HOME/.cache}/wsgi-httpd/test-sources}}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)

# The Debian source versions that hold the upstream files; the sha256 values come from our recipes (node reads them).
debian_sources=(apache2=2.4.68-1~deb12u1 apr=1.7.5-1 apr-util=1.6.3-1 pcre2=10.46-1~deb13u3 mod-wsgi=5.0.2-1
  apr=1.7.2-3+deb12u1 pcre2=10.42-1)
wanted=$(node "$here/test-source-list.mjs") || { echo "fetch-test-sources: cannot read the wanted sha256 list from recipes/" >&2; exit 2; }

missing() {
  local sum name out=""
  declare -A have=()
  for f in "$dest"/*.orig.tar.*; do
    [ -f "$f" ] || continue
    have[$(sha256sum "$f" | cut -d' ' -f1)]=1
  done
  while read -r sum name; do
    [ -n "$sum" ] || continue
    [ -n "${have[$sum]:-}" ] || out+="$name ($sum)"$'\n'
  done <<<"$wanted"
  printf '%s' "$out"
}

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
  echo "Suites: bookworm trixie"
  echo "Components: main"
  [ -n "$keyring" ] && echo "Signed-By: $keyring"
} >"$apt_dir/parts/wsgi-httpd-src.sources"
apt_opts=(-o "Dir::Etc::SourceParts=$apt_dir/parts" -o Dir::Etc::SourceList=/dev/null
  -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o APT::Sandbox::User=root)

echo "fetch-test-sources: updating a private deb-src index (bookworm, trixie)" >&2
apt-get "${apt_opts[@]}" -qq update >"$apt_dir/update.log" 2>&1 || echo "fetch-test-sources: apt-get update reported errors (see $apt_dir/update.log); going on, the files decide" >&2
(cd "$dest" && apt-get "${apt_opts[@]}" -qq source --download-only "${debian_sources[@]}" >"$apt_dir/source.log" 2>&1) \
  || echo "fetch-test-sources: apt-get source exited non-zero (expected: the archive is partial); checking files" >&2
# Only the upstream tarballs matter; drop Debian's packaging files.
rm -f "$dest"/*.debian.tar.* "$dest"/*.dsc "$dest"/*.diff.gz "$dest"/*.asc 2>/dev/null

todo=$(missing)
if [ -n "$todo" ]; then
  echo "fetch-test-sources: these upstream files could not be obtained into $dest:" >&2
  printf '%s' "$todo" | sed 's/^/  - /' >&2
  echo "  (apt logs: $apt_dir/update.log, $apt_dir/source.log)" >&2
  exit 1
fi
echo "fetch-test-sources: all files present in $dest (sha256 checked)" >&2
echo "$dest"

#!/usr/bin/env bash
# The CI image recipe (the README's Dockerfile runs it; .ci/run runs its package part on every CI run).
#
#   ci-image.sh packages
#       Installs the Debian/Ubuntu packages a build needs, and only those that are missing (apt-get update only then).
#   ci-image.sh build --prefix DIR [--lock FILE] [--sources DIR] [--python PATH] [--venv] [-- BUILD-ARGS...]
#       The packages, then `wsgi-toolchain build` into DIR with this package's own CLI: exactly the set in FILE, from
#       the tarballs in DIR offline (no network), plain output. --venv makes DIR a virtualenv of the Python first (and
#       installs python3-venv for it). BUILD-ARGS go to the build as they are (--no-verify, --recipes DIR, ...).
#
# Idempotent (a second run installs nothing and finds the build up to date) and non-interactive. Exit codes: those of
# wsgi-toolchain build; 2 for a usage error; 3 when packages are missing and cannot be installed here.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pkg=$(cd "$here/.." && pwd)

# What a build needs: the toolchain, perl (apxs), patch and the decompressors for the release files, and the headers
# of Python, expat (apr-util), OpenSSL (mod_ssl) and zlib (mod_deflate). No python3-setuptools: the mod_wsgi Python
# package is laid out without it.
packages=(build-essential perl patch bzip2 xz-utils file ca-certificates python3-dev libexpat1-dev libssl-dev zlib1g-dev)

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
  exit "${1:-2}"
}

die() {
  echo "ci-image: error: $1" >&2
  exit "${2:-2}"
}

install_packages() {
  local wanted=("${packages[@]}" "$@") missing=() p
  if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
    die "this recipe installs Debian/Ubuntu packages (${wanted[*]}); elsewhere install the equivalents (RHEL/Fedora: gcc make perl patch bzip2 xz file python3-devel expat-devel openssl-devel zlib-devel), then run wsgi-toolchain build" 3
  fi
  for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "ci-image: the packages a build needs are installed (${wanted[*]})"
    return
  fi
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "missing packages ${missing[*]}, and not root (no sudo) to install them" 3
    sudo=(sudo -n)
  fi
  echo "ci-image: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# This package's CLI: the built one (an installed package, or a checkout after npm ci), else the sources through tsx
# (a checkout installed with --ignore-scripts).
cli() {
  if [ -f "$pkg/dist/bin/wsgi-toolchain.js" ]; then
    node "$pkg/dist/bin/wsgi-toolchain.js" "$@"
  elif [ -f "$pkg/src/cli/main.ts" ] && [ -f "$pkg/node_modules/tsx/dist/loader.mjs" ]; then
    node --import "$pkg/node_modules/tsx/dist/loader.mjs" "$pkg/src/cli/main.ts" "$@"
  else
    die "the wsgi-httpd package in $pkg is not installed: run npm ci (or npm install -g wsgi-httpd) first" 3
  fi
}

command=${1:-}
[ $# -gt 0 ] && shift
case "$command" in
  packages)
    [ $# -eq 0 ] || usage
    install_packages
    ;;
  build)
    prefix='' lock='' sources='' python=/usr/bin/python3 venv=0
    while [ $# -gt 0 ]; do
      case "$1" in
        --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
        --lock) lock=${2:?--lock needs a file}; shift 2 ;;
        --sources) sources=${2:?--sources needs a directory}; shift 2 ;;
        --python) python=${2:?--python needs a path}; shift 2 ;;
        --venv) venv=1; shift ;;
        --) shift; break ;;
        *) die "unknown option $1 (see: $0 --help)" ;;
      esac
    done
    [ -n "$prefix" ] || die "build needs --prefix DIR"
    [ -z "$lock" ] || [ -f "$lock" ] || die "--lock $lock: no such file"
    [ -z "$sources" ] || [ -d "$sources" ] || die "--sources $sources: no such directory"
    if [ "$venv" = 1 ]; then install_packages python3-venv; else install_packages; fi
    args=(build --prefix "$prefix" --plain)
    if [ "$venv" = 1 ]; then
      [ -f "$prefix/pyvenv.cfg" ] || "$python" -m venv "$prefix"
      python="$prefix/bin/python"
    fi
    args+=(--python "$python")
    [ -z "$lock" ] || args+=(--lock "$lock")
    [ -z "$sources" ] || args+=(--sources "$sources" --offline)
    cli "${args[@]}" "$@"
    ;;
  -h | --help | help) usage 0 ;;
  '') usage ;;
  *) die "unknown command $command (packages, build)" ;;
esac

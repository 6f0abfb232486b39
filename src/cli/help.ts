export const mainHelp = `wsgi-toolchain: build Apache httpd + APR + APR-util + PCRE2 + mod_wsgi from verified sources into a prefix

Usage: wsgi-toolchain <command> [options]

Commands
  build      resolve, download, verify, build, install and check the whole stack
  verify     start the installed httpd with mod_wsgi on 127.0.0.1 and check it serves a WSGI app
  doctor     check compiler, make, perl, Python headers and libpython, expat, OpenSSL, disk
  lock       resolve versions and write ${'wsgi-toolchain.lock.json'} without building
  list       versions each recipe offers (* marks the default)
  cache      "cache list" shows cached builds; "cache prune [--keep N]" removes all but the N most recently used
  info       what is installed in a prefix: versions, Python, features, flags, size, build date, lock (--json)
  uninstall  remove exactly what the tool installed in a prefix; other files stay (--dry-run, --json)
  pack       write the live build of --prefix to one archive (--output FILE.tar.gz) for build --from-archive
  fetch      download + verify every source a build needs into --dest DIR (mirror layout) for --sources/--mirror, offline
  serve      run mod_wsgi-express start-server on the prefix's httpd: serve [--prefix P] TARGET [express options...]

Build options
  --prefix DIR           where to install (a virtualenv or any directory); default $WSGI_HTTPD_PREFIX or $VIRTUAL_ENV
  --python PATH          the Python to build mod_wsgi for (else WSGI_HTTPD_PYTHON, PYTHON, the prefix venv,
                         VIRTUAL_ENV, python3 on PATH)
  --httpd V --apr V --apr-util V --pcre2 V --mod-wsgi V --expat V
                         exact versions or semver ranges ("~2.4.66", ">=10.44")
  --tested               choose the versions this project's CI builds on every run (default: the newest pinned)
  --lock FILE            build exactly the set in a lock file
  --from-archive FILE    install the build in an archive from 'pack' (checked file by file; no compiler needed)
  --recipes DIR          overlay recipes (add versions, override URLs or sha256); repeatable
  --mirror URL           http(s):// or file:// mirror in upstream layout, tried first; repeatable
  --sources DIR          directory of tarballs, found by sha256 whatever their names; repeatable
  --offline              never open a connection; list missing files instead
  --verify-signatures    also check the Apache .asc signatures (httpd, apr, apr-util) against pinned keys (needs gpgv)
  --dest DIR             (fetch) where to write the sources, as DIR/<component>/<file>
  --jobs N, -j N         parallel compile jobs (default: available cores)
  --with-ssl | --without-ssl      mod_ssl required / skipped (default: when OpenSSL headers exist)
  --with-expat | --without-expat  build expat / use the system's (default: build when headers are missing)
  --no-verify            skip the final serve-a-request check
  --no-python-package    do not install the mod_wsgi Python package (mod_wsgi-express, Django's runmodwsgi)
  --dry-run              print the plan (every step, URL, sha256, command line) and change nothing
  --json                 machine-readable output (plan with --dry-run, report otherwise)
  --force                rebuild even when the prefix is up to date
  --keep-build-dir       keep sources and objects after the build (for debugging)
  --wait SECONDS         wait for another build of the same prefix instead of failing
  --cc-launcher CMD      compiler launcher such as ccache or sccache
  --plain                plain timestamped lines even in a terminal
  --quiet, -q            no progress output

Examples
  wsgi-toolchain build --prefix ./venv
  wsgi-toolchain build --prefix /opt/web --httpd 2.4.68 --apr 1.7.5 --sources ~/tarballs --offline
  wsgi-toolchain build --prefix ./venv --dry-run
  wsgi-toolchain lock --prefix ./venv --mod-wsgi 5.0.2 --output ci.lock.json && wsgi-toolchain build --prefix /srv --lock ci.lock.json
  wsgi-toolchain verify --prefix ./venv
  wsgi-toolchain info --prefix ./venv --json
  wsgi-toolchain uninstall --prefix ./venv --dry-run && wsgi-toolchain uninstall --prefix ./venv

Exit codes: 0 ok, 1 failure, 2 usage/recipe error, 3 missing prerequisite, 4 download failed, 5 checksum or unsafe
archive, 6 build step failed, 7 verify failed, 8 prefix locked by another build, 130 interrupted, 70 internal error.
`;

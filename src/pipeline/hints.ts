/**
 * Turns the tail of a failed step's output into the fix a user needs. Patterns are the failures mod_wsgi-httpd users
 * report most; the first match wins.
 */
const rules: { test: RegExp; hint: string }[] = [
  {
    test: /expat\.h: No such file|expat\.h.*not found|Could not find expat|xml parser.*not found/i,
    hint: 'expat headers are missing: install libexpat1-dev (Debian/Ubuntu), expat-devel (RHEL/Fedora) or `brew install expat` (macOS), or let the tool build expat with --with-expat',
  },
  {
    test: /openssl\/\w+\.h: No such file|OpenSSL version .* required|mod_ssl.*requires OpenSSL/i,
    hint: 'OpenSSL headers are missing: install libssl-dev (Debian/Ubuntu), openssl-devel (RHEL/Fedora) or `brew install openssl@3`, or build without mod_ssl (--without-ssl)',
  },
  { test: /zlib\.h: No such file/i, hint: 'zlib headers are missing: install zlib1g-dev (Debian/Ubuntu) or zlib-devel (RHEL/Fedora)' },
  {
    test: /Python\.h: No such file/i,
    hint: 'Python headers are missing: install python3-dev (Debian/Ubuntu) or python3-devel (RHEL/Fedora) for the Python you build for',
  },
  {
    test: /recompile with -fPIC|libpython[\d.]+\.a/i,
    hint: 'this Python has no shared libpython: rebuild it with --enable-shared (pyenv: env PYTHON_CONFIGURE_OPTS="--enable-shared" pyenv install VERSION) or use the system Python (--python /usr/bin/python3)',
  },
  {
    // The compiler was found before the build (doctor): a test program that does not build is most often bad flags.
    test: /C compiler cannot create executables/i,
    hint: 'the C compiler cannot build a test program: check CFLAGS, CPPFLAGS, LDFLAGS and LIBS in the environment (unset, the defaults are used), and that a working compiler and libc headers are installed (build-essential on Debian/Ubuntu); config.log in the build directory shows the failing command',
  },
  {
    test: /no acceptable C compiler|cc: (command )?not found|gcc: (command )?not found/i,
    hint: 'no working C compiler: install build-essential (Debian/Ubuntu), gcc and make (RHEL/Fedora) or the Xcode command line tools (xcode-select --install)',
  },
  { test: /make: (command )?not found/i, hint: 'make is missing: install build-essential (Debian/Ubuntu) or make (RHEL/Fedora)' },
  { test: /perl: (command )?not found|Can't locate \S+ in @INC/i, hint: 'perl is missing: install perl (apxs is a perl script)' },
  {
    test: /\.\/configure: Permission denied|bad interpreter: Permission denied/i,
    hint: 'the build directory is on a noexec filesystem (often /tmp): set WSGI_HTTPD_BUILD_DIR to a directory where programs may run',
  },
  {
    test: /No space left on device/i,
    hint: 'the disk is full: free space, or set WSGI_HTTPD_BUILD_DIR / WSGI_HTTPD_CACHE_DIR to a larger filesystem',
  },
  {
    test: /APR not found|apr-1-config.*not found|--with-apr requires/i,
    hint: 'APR was not found where the build expected it: rebuild the whole stack (an earlier component did not install)',
  },
  {
    test: /apxs: (command )?not found|cannot find apxs|APXS.*not found/i,
    hint: 'apxs is missing: for --httpd system install apache2-dev (Debian/Ubuntu) or httpd-devel (RHEL/Fedora)',
  },
  {
    test: /Hunk #\d+ FAILED|Reversed \(or previously applied\) patch/i,
    hint: 'a patch does not apply to this version: narrow its "versions" range in the recipe, or refresh the patch',
  },
];

export function hintFor(output: string, fallback: string): string {
  return rules.find((r) => r.test.test(output))?.hint ?? fallback;
}

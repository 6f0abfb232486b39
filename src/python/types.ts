/** What the build needs to know about the Python that mod_wsgi is built for (read from its sysconfig). */
export interface PythonInfo {
  /** The executable as found (may be a venv's bin/python). */
  executable: string;
  /** sys.executable resolved through symlinks. */
  realExecutable: string;
  /** "3.11.2" */
  version: string;
  /** sys.implementation.cache_tag-style ABI id, e.g. "cpython-311-x86_64-linux-gnu" (SOABI). */
  abi: string;
  /** sys.prefix and sys.base_prefix (they differ inside a venv). */
  prefix: string;
  basePrefix: string;
  isVirtualenv: boolean;
  /** sysconfig INCLUDEPY and whether Python.h is there. */
  includeDir: string;
  hasHeaders: boolean;
  /** sysconfig LIBDIR, LDLIBRARY, Py_ENABLE_SHARED. */
  libDir: string;
  ldLibrary: string;
  enableShared: boolean;
  /** The site-packages directory (purelib) of this interpreter. */
  sitePackages: string;
  /** How it was chosen: "--python", "WSGI_HTTPD_PYTHON", "PYTHON", "prefix venv", "VIRTUAL_ENV", "PATH". */
  foundBy: string;
  // The fields below are optional so hand-written PythonInfo objects (tests, other modules) stay valid; detectPython()
  // and readPythonInfo() always fill them (except libPl/instSoName/multiarch/framework when sysconfig has no value).
  /** "3.11": what package names and library names use. */
  majorMinor?: string;
  /** sys.implementation.name: "cpython" (mod_wsgi needs CPython). */
  implementation?: string;
  /** sysconfig LDVERSION ("3.11", "3.13t"), ABIFLAGS (""/"t"/"d"). */
  ldVersion?: string;
  abiFlags?: string;
  /** sysconfig LIBPL (the config dir with the static lib and Makefile), INSTSONAME, MULTIARCH; undefined when unset. */
  libPl?: string;
  instSoName?: string;
  multiarch?: string;
  /** macOS framework builds: PYTHONFRAMEWORK ("Python"); they link against the framework instead of libpython.so. */
  framework?: string;
  /** sysconfig EXT_SUFFIX (".cpython-311-x86_64-linux-gnu.so"): the file name suffix of extension modules. */
  extSuffix?: string;
  /** The interpreter a virtualenv was made from (sys._base_executable, resolved), or the interpreter itself. */
  baseExecutable?: string;
  /** Absolute path of the shared libpython found in LIBDIR / LIBDIR/MULTIARCH / LIBPL, or null when there is none. */
  sharedLibrary?: string | null;
  /**
   * Whether an unprivileged user (the httpd daemon user) can reach this Python's files: every directory from / down
   * to base_prefix and sys.prefix needs "others" execute, and those two directories also "others" read. `blockedAt`
   * names the first directory that fails.
   */
  homeAccess?: { readableByOthers: boolean; blockedAt?: string };
}

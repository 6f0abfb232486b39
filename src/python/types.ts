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
}

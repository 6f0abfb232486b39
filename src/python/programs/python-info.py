# Run inside a candidate interpreter with -E -s: what the build needs from its sysconfig, as one JSON line after the
# marker. Written to parse under old Pythons too, so the caller can say "too old" instead of failing to parse.
import json, os, sys
try:
    import sysconfig
except ImportError:
    sysconfig = None
def var(name):
    if sysconfig is None:
        return None
    value = sysconfig.get_config_var(name)
    if value is None or value == '':
        return None
    return str(value)
vi = sys.version_info
ldversion = var('LDVERSION') or var('VERSION') or '%d.%d' % (vi[0], vi[1])
libdir = var('LIBDIR') or ''
multiarch = var('MULTIARCH')
libpl = var('LIBPL')
names = []
for name in (var('LDLIBRARY'), 'libpython%s.so' % ldversion, 'libpython%s.dylib' % ldversion, var('INSTSONAME')):
    if name and ('.so' in name or name.endswith('.dylib')) and '/' not in name and name not in names:
        names.append(name)
dirs = []
for d in (libdir, libdir and multiarch and os.path.join(libdir, multiarch), libpl):
    if d and d not in dirs:
        dirs.append(d)
shared = None
for n in names:
    for d in dirs:
        p = os.path.join(d, n)
        if shared is None and os.path.exists(p):
            shared = p
include = var('INCLUDEPY') or ''
try:
    purelib = sysconfig.get_paths()['purelib']
except Exception:
    purelib = ''
impl = getattr(sys, 'implementation', None)
executable = sys.executable or ''
out = {
    'version': '%d.%d.%d' % (vi[0], vi[1], vi[2]),
    'majorMinor': '%d.%d' % (vi[0], vi[1]),
    'implementation': impl.name if impl is not None else 'cpython',
    'soabi': var('SOABI') or '',
    'prefix': sys.prefix,
    'basePrefix': getattr(sys, 'real_prefix', None) or getattr(sys, 'base_prefix', sys.prefix),
    'executable': executable,
    'realExecutable': os.path.realpath(executable) if executable else '',
    'includeDir': include,
    'hasHeaders': bool(include) and os.path.isfile(os.path.join(include, 'Python.h')),
    'libDir': libdir,
    'ldLibrary': var('LDLIBRARY') or '',
    'enableShared': var('Py_ENABLE_SHARED') == '1',
    'ldVersion': ldversion,
    'abiFlags': getattr(sys, 'abiflags', ''),
    'libPl': libpl,
    'instSoName': var('INSTSONAME'),
    'multiarch': multiarch,
    'framework': var('PYTHONFRAMEWORK'),
    'sharedLibrary': shared,
    'sitePackages': purelib,
    'extSuffix': var('EXT_SUFFIX') or '',
    'baseExecutable': os.path.realpath(getattr(sys, '_base_executable', None) or executable) if executable else '',
}
sys.stdout.write('@@wsgi-httpd-python-info@@' + json.dumps(out) + '\n')

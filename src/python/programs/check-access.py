# Run as the server account: can it read everything the daemon will need? argv[1]: JSON list of [kind, path];
# argv[2]: the console script whose module must import (mod_wsgi-express). Prints one JSON line after the marker.
import json, os, sys

problems = []


def check(path, kind):
    try:
        if kind == 'dir':
            os.listdir(path)
        else:
            open(path, 'rb').close()
    except OSError as e:
        problems.append({'path': path, 'error': e.strerror or str(e)})


check(sys.prefix, 'dir')
check(sys.base_prefix, 'dir')
check(os.__file__, 'file')
for kind, path in json.loads(sys.argv[1]):
    check(path, kind)
script = sys.argv[2]
try:
    from importlib import metadata
    points = metadata.entry_points()
    if hasattr(points, 'select'):
        found = list(points.select(group='console_scripts', name=script))
    else:
        found = [p for p in points.get('console_scripts', []) if p.name == script]
    if not found:
        raise ImportError('no console script %s is installed' % script)
    __import__(found[0].value.split(':')[0])
except Exception as e:
    problems.append({'path': 'import the package of %s' % script, 'error': repr(e)})
print('WSGI_TOOLCHAIN_ACCESS ' + json.dumps({'problems': problems, 'prefix': sys.prefix, 'base': sys.base_prefix}))

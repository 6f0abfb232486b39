# Runs an installed console script by name, as pip's wrapper would: `python run-console-script.py NAME ARGS...`.
# Works for every layout a distribution has used, because the entry point comes from the installed metadata.
import sys
from importlib import metadata

name = sys.argv[1]
points = metadata.entry_points()
if hasattr(points, 'select'):
    found = list(points.select(group='console_scripts', name=name))
else:  # Python < 3.10
    found = [p for p in points.get('console_scripts', []) if p.name == name]
if not found:
    sys.stderr.write('no console script %s is installed for %s\n' % (name, sys.executable))
    sys.exit(2)
sys.argv = [name] + sys.argv[2:]
sys.exit(found[0].load()())

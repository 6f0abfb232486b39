# Checks an installed package the way its users reach it: the console script's module imports, the apxs config module
# names an httpd, and `<script> module-location` prints the Apache module. Prints one JSON line after the marker.
import contextlib, importlib, io, json, sys

config_module, entry_module, entry_func = sys.argv[1:4]
out = {}
config = importlib.import_module(config_module)
out['httpd'] = getattr(config, 'HTTPD', '')
out['withHttpdPackage'] = bool(getattr(config, 'WITH_HTTPD_PACKAGE', False))
main = getattr(importlib.import_module(entry_module), entry_func)
sys.argv = ['mod_wsgi-express', 'module-location']
buffer = io.StringIO()
with contextlib.redirect_stdout(buffer):
    try:
        main()
    except SystemExit as e:
        if e.code not in (None, 0):
            raise
out['moduleLocation'] = buffer.getvalue().strip()
print('WSGI_TOOLCHAIN_PACKAGE ' + json.dumps(out))

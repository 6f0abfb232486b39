# Run as the server account before httpd starts: can this interpreter start and open the app (argv[1])? One JSON line.
import json, sys, sysconfig
try:
    open(sys.argv[1], 'rb').close()
    app = ''
except OSError as e:
    app = str(e)
print(json.dumps({'version': sys.version.split()[0], 'venv': sys.prefix != sys.base_prefix,
                  'purelib': sysconfig.get_path('purelib'), 'app': app}))

# The WSGI app verify serves when none is given: it says which Python, process group and account answered.
import os
import sys


def application(environ, start_response):
    try:
        import mod_wsgi
        group = mod_wsgi.process_group
    except Exception:
        group = ''
    body = ('wsgi-toolchain verify\n'
            'python-version: %s\n'
            'python-executable: %s\n'
            'pid: %d\n'
            'process-group: %s\n'
            'uid: %d\n' % (sys.version.split()[0], sys.executable, os.getpid(), group, os.getuid())).encode('utf-8')
    start_response('200 OK', [('Content-Type', 'text/plain; charset=utf-8'),
                              ('Content-Length', str(len(body)))])
    return [body]

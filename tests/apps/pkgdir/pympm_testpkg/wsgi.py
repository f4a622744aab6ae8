"""`PyApp /pkg pympm_testpkg.wsgi:app`."""
import sys


def app(environ, start_response):
    body = ("pympm_testpkg.wsgi:app sys.path[0]=%s" % sys.path[0]).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]

"""Writes to sys.stdout and sys.stderr, which the module sends to the error
log (stdout at notice level, stderr at error level)."""
import sys


def application(environ, start_response):
    print("pympm-test-stdout-marker", environ.get("PATH_INFO", ""))
    print("pympm-test-stderr-marker", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "7")])
    return [b"printed"]

"""Smallest app: says hello with the pid that answered."""
import os


def application(environ, start_response):
    body = (
        "hello from pid %d path=%s%s\n" % (os.getpid(), environ.get("SCRIPT_NAME", ""), environ.get("PATH_INFO", ""))
    ).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]

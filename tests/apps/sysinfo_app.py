"""Returns facts about the interpreter as JSON (sys.prefix, sys.path, ...)."""
import json
import os
import sys


def application(environ, start_response):
    info = {
        "pid": os.getpid(),
        "prefix": sys.prefix,
        "base_prefix": sys.base_prefix,
        "path": sys.path,
        "version": "%d.%d.%d" % sys.version_info[:3],
        "executable": sys.executable,
    }
    body = json.dumps(info).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]

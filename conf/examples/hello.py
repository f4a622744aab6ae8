"""Smallest WSGI app for mod_pympm: says hello and which model served it.

Mount it with `PyApp /hello /srv/www/hello/hello.py` (see site-script.conf).
"""

import os
import threading


def application(environ, start_response):
    try:
        import pympm  # only importable inside an httpd child running mod_pympm

        info = pympm.child_info()
        model = "mpm={} py_threads={} enable_threads={}".format(
            info.get("mpm"), info.get("py_threads"), info.get("enable_threads")
        )
    except ImportError:
        model = "not under mod_pympm"
    body = "Hello from mod_pympm: pid={} thread={} {} path={}\n".format(
        os.getpid(), threading.get_ident(), model, environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    )
    data = body.encode("utf-8")
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data)))])
    return [data]

"""An app's exception before and after start_response, chosen by PATH_INFO
(its traceback in the error log; the child serves on, as /pid shows)."""
import os


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/raise":
        raise RuntimeError("pympm-test-boom")
    if path == "/raise_after_start":
        start_response("200 OK", [("Content-Type", "text/plain")])
        raise ValueError("pympm-test-boom-after-start")
    if path == "/pid":
        body = str(os.getpid()).encode()
    else:
        body = b"ok"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]

#!/usr/bin/python3
"""Checks that every bench app (bench/apps/*.py) is a valid WSGI app.

Imports each app with this interpreter (run it with /usr/bin/python3, the one
mod_pympm embeds), calls it through wsgiref.validate with a fake environ and
checks the body. Exit status 0 if all apps are valid. Used by the test suite
(label `unit`); the bench itself is not part of the suite.
"""
import importlib.util
import io
import os
import shutil
import sys
import tempfile
import wsgiref.util
import wsgiref.validate

APPS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "apps")


def load(path):
    name = "bench_app_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.application


def call(app, method="GET", body=b"", query=""):
    environ = {"REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": "/", "QUERY_STRING": query,
               "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr}
    if body:
        environ["CONTENT_LENGTH"] = str(len(body))
        environ["CONTENT_TYPE"] = "application/octet-stream"
    wsgiref.util.setup_testing_defaults(environ)
    environ["wsgi.file_wrapper"] = wsgiref.util.FileWrapper
    seen = {}

    def start_response(status, headers, exc_info=None):
        seen["status"] = status
        seen["headers"] = headers
        return lambda data: None

    result = wsgiref.validate.validator(app)(environ, start_response)
    try:
        out = b"".join(result)
    finally:
        result.close()
    length = dict((k.lower(), v) for k, v in seen["headers"]).get("content-length")
    if length is not None and int(length) != len(out):
        raise AssertionError("Content-Length %s but %d bytes sent" % (length, len(out)))
    return seen["status"], out


def main():
    failures = 0
    tmp = tempfile.mkdtemp(prefix="pympm-check-apps-")
    try:
        # Apps may read data files next to themselves: check copies, so the
        # source tree stays clean.
        for name in sorted(os.listdir(APPS_DIR)):
            if name.endswith(".py"):
                shutil.copy(os.path.join(APPS_DIR, name), tmp)
        data = bytes(range(256)) * 1024
        with open(os.path.join(tmp, "file10m.bin"), "wb") as f:
            f.write(data)
        expected = {
            "hello.py": dict(check=lambda out: out == b"Hello, World!\n"),
            "body64k.py": dict(check=lambda out: len(out) == 65536),
            "file10m.py": dict(check=lambda out: out == data),
            "echo.py": dict(method="POST", body=b"x" * 300000 + b"end",
                            check=lambda out: out == b"x" * 300000 + b"end"),
            "cpu.py": dict(query="ms=2", check=lambda out: out.startswith(b"ok ")),
        }
        names = sorted(n for n in os.listdir(tmp) if n.endswith(".py"))
        for name in names:
            spec = dict(expected.get(name, {}))
            check = spec.pop("check", lambda out: True)
            try:
                status, out = call(load(os.path.join(tmp, name)), **spec)
                if not status.startswith("200 "):
                    raise AssertionError("status %r" % status)
                if not check(out):
                    raise AssertionError("unexpected body %r..." % out[:40])
                print("ok   %s" % name)
            except Exception as e:  # report every app, not just the first bad one
                failures += 1
                print("FAIL %s: %s: %s" % (name, type(e).__name__, e))
        missing = set(expected) - set(names)
        for name in sorted(missing):
            failures += 1
            print("FAIL %s: missing" % name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""The child's standard streams, as apps meet them.

At import it does what Mercurial's procutil does (issue 18 item 5): it takes
sys.stdout.buffer and sys.stderr.buffer, and wraps the binary stdout in a
TextIOWrapper of its own. Routes:

/attrs          the streams' attributes, as JSON
/write?m=M      lines through sys.stdout, sys.stderr, wsgi.errors, the
                buffers and the import-time wrapper, each marked with M
/fds?m=M        writes to descriptors 1 and 2 (os.write, a subprocess, and
                faulthandler), each marked with M
"""
import faulthandler
import io
import json
import os
import subprocess
import sys
from urllib.parse import parse_qs

# What Mercurial does at import (mercurial/utils/procutil.py).
STDOUT_BUFFER = sys.stdout.buffer
STDERR_BUFFER = sys.stderr.buffer
WRAPPED_STDOUT = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", line_buffering=True)


def _describe(stream):
    out = {"type": type(stream).__name__}
    for attr in ("encoding", "errors", "line_buffering", "name", "closed"):
        out[attr] = getattr(stream, attr, "<absent>")
    out["isatty"] = stream.isatty()
    out["writable"] = stream.writable()
    try:
        out["fileno"] = stream.fileno()
    except Exception as exc:  # what the test reports if fileno() is refused
        out["fileno"] = "%s: %s" % (type(exc).__name__, exc)
    buffer = getattr(stream, "buffer", None)
    out["buffer_is_binary"] = isinstance(buffer, io.BufferedIOBase)
    return out


def _marker(environ):
    return parse_qs(environ.get("QUERY_STRING", "")).get("m", ["none"])[0]


def _attrs(environ):
    return {
        "stdout": _describe(sys.stdout),
        "stderr": _describe(sys.stderr),
        "errors": _describe(environ["wsgi.errors"]),
        "same_as_dunder": sys.stdout is sys.__stdout__ and sys.stderr is sys.__stderr__,
        "import_time_buffer": STDOUT_BUFFER is sys.stdout.buffer and STDERR_BUFFER is sys.stderr.buffer,
    }


def _write(environ):
    m = _marker(environ)
    print("print-%s" % m)
    print("print-sep-%s" % m, "second", sep="|")
    sys.stderr.write("stderr-%s\n" % m)
    environ["wsgi.errors"].write("errors-%s\n" % m)
    environ["wsgi.errors"].flush()
    STDOUT_BUFFER.write(b"buffer-" + m.encode() + b" \xff raw\n")
    STDERR_BUFFER.write(b"errbuffer-" + m.encode() + b"\n")
    WRAPPED_STDOUT.write("wrapped-%s\n" % m)
    # Two lines in one write are two entries; a line written in pieces is one.
    sys.stdout.write("two-a-%s\ntwo-b-%s\n" % (m, m))
    sys.stdout.write("pieces-")
    sys.stdout.write("%s" % m)
    sys.stdout.write("\n")
    # A line that never ends is logged in pieces, not held without bound.
    sys.stdout.write("endless-%s-" % m + "z" * 20000)
    sys.stdout.write("\n")
    # An unfinished line goes out when flushed.
    sys.stdout.write("unfinished-%s" % m)
    sys.stdout.flush()
    return {"ok": True}


def _stack_marker_function(m):
    # faulthandler writes straight to the descriptor: this function's name
    # shows up in the error log.
    faulthandler.dump_traceback(file=sys.stderr, all_threads=False)


def _fds(environ):
    m = _marker(environ)
    os.write(sys.stdout.fileno(), ("fd1-%s\n" % m).encode())
    os.write(sys.stderr.fileno(), ("fd2-%s\n" % m).encode())
    # A subprocess inherits descriptors 1 and 2.
    subprocess.run(["/bin/sh", "-c", 'echo "child-out-$0"; echo "child-err-$0" >&2', m], check=True)
    faulthandler.enable()
    enabled = faulthandler.is_enabled()
    faulthandler.disable()
    _stack_marker_function(m)
    return {"faulthandler_enabled": enabled}


ROUTES = {"/attrs": _attrs, "/write": _write, "/fds": _fds}


def application(environ, start_response):
    route = ROUTES.get(environ.get("PATH_INFO", ""))
    if route is None:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"no such route\n"]
    body = json.dumps(route(environ), sort_keys=True).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]

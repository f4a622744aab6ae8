"""An app wrapped in the standard library's PEP 3333 checker
(wsgiref.validate.validator). The checker raises AssertionError for anything
the server does wrong and issues WSGIWarning for dubious things; warnings are
turned into errors here so that either makes the request fail (500) and
shows up in the error log."""
import hashlib
import io
import os
import warnings
import wsgiref.validate

warnings.simplefilter("error", wsgiref.validate.WSGIWarning)

HERE = os.path.dirname(os.path.abspath(__file__))


def _app(environ, start_response):
    path = environ["PATH_INFO"]
    plain = [("Content-Type", "text/plain")]
    if path == "/hello":
        body = b"hello validated world\n"
        start_response("200 OK", plain + [("Content-Length", str(len(body)))])
        return [body]
    if path == "/echo":
        inp = environ["wsgi.input"]
        if environ.get("CONTENT_LENGTH"):
            data = inp.read(int(environ["CONTENT_LENGTH"]))
        else:
            parts = []
            while True:
                b = inp.read(8192)
                if not b:
                    break
                parts.append(b)
            data = b"".join(parts)
        lines = len(data.splitlines())
        body = ("%d %d %s\n" % (len(data), lines, hashlib.sha256(data).hexdigest())).encode()
        start_response("200 OK", plain)
        return [body]
    if path == "/lines":
        inp = environ["wsgi.input"]
        first = inp.readline()
        rest = inp.readlines()
        body = b"%d %d\n" % (len(first), len(rest))
        start_response("200 OK", plain)
        return [body]
    if path == "/stream":

        def gen():
            for i in range(5):
                yield b"chunk %d\n" % i

        start_response("200 OK", plain)
        return gen()
    if path == "/write":
        write = start_response("200 OK", plain)
        write(b"via write()\n")
        return [b"and iterable\n"]
    if path == "/file":
        f = open(os.path.join(HERE, "wsgi_validated_app.py"), "rb")
        start_response("200 OK", plain)
        return environ["wsgi.file_wrapper"](f, 1024)
    if path == "/filelike":
        start_response("200 OK", plain)
        return environ["wsgi.file_wrapper"](io.BytesIO(b"in-memory file\n" * 100), 256)
    if path == "/exc_info":
        try:
            raise KeyError("handled")
        except KeyError:
            import sys

            start_response("500 Internal Server Error", plain, sys.exc_info())
        return [b"handled error\n"]
    start_response("404 Not Found", plain)
    return [b"not found\n"]


application = wsgiref.validate.validator(_app)

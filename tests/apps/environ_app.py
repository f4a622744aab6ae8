"""Returns the WSGI environ as JSON: str values as they are, everything else
as its repr(). The request body (read from wsgi.input with CONTENT_LENGTH) is
returned under the key "body"; the callable's name under "callable". With
errors=1 in the query string it also writes a line to wsgi.errors."""
import json


def _dump(name, environ, start_response):
    out = {}
    for key, value in environ.items():
        out[key] = value if isinstance(value, str) else repr(value)
    length = environ.get("CONTENT_LENGTH") or "0"
    data = environ["wsgi.input"].read(int(length)) if int(length) > 0 else b""
    out["body"] = data.decode("latin-1")
    out["callable"] = name
    if "errors=1" in environ.get("QUERY_STRING", ""):
        environ["wsgi.errors"].write("pympm-test-wsgi-errors-marker\n")
        environ["wsgi.errors"].flush()
    payload = json.dumps(out, sort_keys=True).encode("utf-8")
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]


def application(environ, start_response):
    return _dump("application", environ, start_response)


def second(environ, start_response):
    return _dump("second", environ, start_response)

"""The environ as a flat JSON object for the environ tests: str values as they
are (ASCII-escaped), others as repr(); plus the PEP 3333 checks the test
cannot do from outside: every CGI value is a native string (str that encodes
to latin-1), PATH_INFO/SCRIPT_NAME as their latin-1 bytes in hex, and the
request body."""
import json


def application(environ, start_response):
    out = {}
    not_native = []
    for key, value in environ.items():
        if isinstance(value, str):
            out[key] = value
            try:
                value.encode("latin-1")
            except UnicodeEncodeError:
                not_native.append(key)
        else:
            out[key] = repr(value)
            if "." not in key:
                not_native.append(key)
    out["pympm.not_native"] = ",".join(sorted(not_native))
    out["pympm.PATH_INFO_HEX"] = environ.get("PATH_INFO", "").encode("latin-1").hex()
    out["pympm.SCRIPT_NAME_HEX"] = environ.get("SCRIPT_NAME", "").encode("latin-1").hex()
    out["pympm.input_terminated"] = repr(environ.get("wsgi.input_terminated"))
    # Read to its end, as wsgi.input_terminated allows (no CONTENT_LENGTH for
    # a chunked body).
    out["pympm.body"] = environ["wsgi.input"].read().decode("latin-1")
    payload = json.dumps(out, sort_keys=True).encode("ascii")
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]

"""Target of the request fuzzer (tests/e2e/fuzz/test_request_fuzz.cpp), mounted
several times (/app, /inc with mod_include, /gz with mod_deflate, /small
with a small LimitRequestBody). Routes by the last segment of PATH_INFO, so
rewritten, dot-segment and error-document paths reach the same code.

Every response carries the request's X-Fuzz-Token header back, so the test
can tell which request a response belongs to (pipelining, error documents).
Bodies are deterministic: the test computes what each route must send.

Routes that fail on purpose are named fail_*, status and cl_* (their error
lines are what the test allows in the error log)."""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
DATA_FILE = os.path.join(HERE, "fuzz_data", "file.bin")  # written by the test
TEXT = b"included-text\n"
WRITE_PARTS = (b"written-1\n", b"written-2\n")
RETURNED = b"returned\n"
# What the SSI page includes, by ?inc=...: fixed targets only.
SSI_TARGETS = {
    "text": "/app/text",
    "stream": "/app/stream?n=3&size=5",
    "file": "/app/file",
    "write": "/app/write",
    "fail": "/app/fail_before",
    "nested": "/inc/ssi?inc=text",
    "echo": "/app/echo",
}


def query(environ):
    out = {}
    for part in environ.get("QUERY_STRING", "").split("&"):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k] = v
    return out


def token_headers(environ):
    token = environ.get("HTTP_X_FUZZ_TOKEN", "")
    # Mutated requests may carry anything: echo only what is a valid value.
    if token and token.isascii() and token.isalnum():
        return [("X-Fuzz-Token", token)]
    return []


def stream_piece(i, size):
    return bytes([ord("a") + i % 26]) * size


def read_body(environ, style):
    inp = environ["wsgi.input"]
    if style == "readn":
        parts = []
        while True:
            b = inp.read(777)
            if not b:
                return b"".join(parts)
            parts.append(b)
    if style == "readline":
        parts = []
        while True:
            line = inp.readline()
            if not line:
                return b"".join(parts)
            parts.append(line)
    if style == "iter":
        return b"".join(line for line in inp)
    if style == "readlines":
        return b"".join(inp.readlines())
    if style == "cl":
        # What many frameworks do: trust CONTENT_LENGTH.
        cl = environ.get("CONTENT_LENGTH", "")
        return inp.read(int(cl)) if cl.isdigit() else inp.read()
    return inp.read()


def application(environ, start_response):
    route = environ.get("PATH_INFO", "").rstrip("/").rsplit("/", 1)[-1]
    q = query(environ)
    th = token_headers(environ)
    octets = [("Content-Type", "application/octet-stream")]

    def send(status, body, headers=octets):
        start_response(status, headers + th + [("Content-Length", str(len(body)))])
        return [body]

    if route == "echo":
        body = read_body(environ, q.get("style", "read"))
        return send("200 OK", body)
    if route == "ignore":
        return send("200 OK", b"body not read\n")
    if route == "text":
        start_response("200 OK", [("Content-Type", "text/plain")] + th)
        return [TEXT]
    if route == "pid":
        return send("200 OK", str(os.getpid()).encode())
    if route == "stream":
        n, size = int(q.get("n", "4")), int(q.get("size", "100"))
        start_response("200 OK", octets + th)
        return (stream_piece(i, size) for i in range(n))
    if route == "slow":
        # Long enough that a client leaving mid-response finds it running.
        import time

        def gen():
            for i in range(400):
                if i % 50 == 0:
                    time.sleep(0.002)
                yield stream_piece(i, 4096)

        start_response("200 OK", octets + th)
        return gen()
    if route == "write":
        write = start_response("200 OK", [("Content-Type", "text/plain")] + th)
        for part in WRITE_PARTS:
            write(part)
        return [RETURNED]
    if route == "file":
        start_response("200 OK", octets + th)
        return environ["wsgi.file_wrapper"](open(DATA_FILE, "rb"), 8192)
    if route == "write_file":
        write = start_response("200 OK", octets + th)
        write(WRITE_PARTS[0])
        return environ["wsgi.file_wrapper"](open(DATA_FILE, "rb"), 8192)
    if route == "write_file_cl":
        # Content-Length covers what write() sent and the first n bytes of
        # the file: the server must stop the file there.
        n = int(q.get("n", "100"))
        write = start_response("200 OK", octets + th + [("Content-Length", str(len(WRITE_PARTS[0]) + n))])
        write(WRITE_PARTS[0])
        return environ["wsgi.file_wrapper"](open(DATA_FILE, "rb"), 8192)
    if route == "cl":
        return send("200 OK", b"0123456789")
    if route == "ssi":
        target = SSI_TARGETS.get(q.get("inc", "text"), "/app/text")
        page = b'<p>A</p><!--#include virtual="' + target.encode() + b'" --><p>B</p>\n'
        start_response("200 OK", [("Content-Type", "text/html")] + th)
        return [page]
    if route == "error":
        # The ErrorDocument page: the status httpd is answering with.
        status = environ.get("REDIRECT_STATUS", "500")
        if not (len(status) == 3 and status.isdigit()):
            status = "500"
        return send(
            status + " Fuzz Error", b"fuzz error page " + status.encode() + b"\n", [("Content-Type", "text/plain")]
        )

    # --- failing on purpose ---------------------------------------------
    if route == "fail_before":
        raise RuntimeError("fuzz-deliberate fail_before")
    if route == "fail_after":
        start_response("200 OK", octets + th)
        raise RuntimeError("fuzz-deliberate fail_after")
    if route == "fail_midstream":

        def gen():
            yield b"partial\n"
            raise RuntimeError("fuzz-deliberate fail_midstream")

        start_response("200 OK", octets + th)
        return gen()
    if route == "cl_short":
        start_response("200 OK", octets + th + [("Content-Length", "100")])
        return [b"only ten.."]
    if route == "cl_long":
        start_response("200 OK", octets + th + [("Content-Length", "5")])
        return [b"12345", b"MUST-NOT-BE-SENT"]
    if route == "cl_huge":
        start_response("200 OK", octets + th + [("Content-Length", "1000000000000000")])
        return [b"tiny"]
    if route == "status":
        # Statuses an app must not be able to put on the wire as is.
        code = q.get("s", "100")
        reason = {
            "100": "Continue",
            "101": "Switching Protocols",
            "103": "Early Hints",
            "204": "No Content",
            "304": "Not Modified",
        }.get(code, "Odd")
        start_response(code + " " + reason, octets + th + [("Content-Length", "5")])
        return [b"hello"]

    return send(
        "404 Not Found",
        b"no route " + route.encode("latin-1", "replace")[:50] + b"\n",
        [("Content-Type", "text/plain")],
    )

# The app behind the balancer in tests/e2e/test_scale_out.cpp. The test
# writes it with VERSION set (1, then 2 for the rolling deploy). Every
# answer says which version and which backend (the address the request came
# in on) served it; a POST answers with the length and CRC-32 of the body it
# read, so the test knows the whole body arrived.
import os
import zlib

VERSION = "@VERSION@"


def application(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    out = (
        "version=%s\nbackend=%s\npid=%d\nmethod=%s\nlength=%d\ncrc32=%08x\n"
        % (
            VERSION,
            environ.get("SERVER_ADDR", "?"),
            os.getpid(),
            environ["REQUEST_METHOD"],
            len(body),
            zlib.crc32(body),
        )
    ).encode("ascii")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(out)))])
    return [out]

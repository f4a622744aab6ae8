"""The ASGI twin of fuzz_app.py for the request fuzzer's ASGI servers
(tests/e2e/fuzz/test_request_fuzz.cpp): raw ASGI 3, no framework, mounted as
fuzz_app.py is (/app, /inc, /gz, /small). Each route sends the bytes and
headers its WSGI namesake sends, so the fuzzer's expectations hold for both.

Where WSGI has no ASGI counterpart, the nearest one: /write sends its parts
as body messages with more_body, /file and /write_file send the data file in
8192-byte parts (as wsgi.file_wrapper reads it), and /write_file_cl sends
only the bytes its Content-Length covers (an ASGI app must not send more).
The body styles of /echo (how a WSGI app reads wsgi.input) become ways of
receiving and answering (see echo()); "stream", which answers each piece as
it arrives, only the fuzzer's ASGI route table asks for. /slow and /file
listen for http.disconnect while they stream, as Starlette's
StreamingResponse does.

The ErrorDocument page (/error) cannot see REDIRECT_STATUS: the ASGI
servers' ErrorDocument URLs carry the status as ?s=NNN, and the page
answers 200, which mod_pympm turns into the error's status as it does for a
static error page.

Routes that fail on purpose are named fail_*, status and cl_*, as in
fuzz_app.py (their error lines are what the test allows in the error log)."""
import asyncio
import os

# The bytes every route sends, shared with the WSGI app by construction (its
# folder is on sys.path, as for any script mounted with PyApp).
from fuzz_app import DATA_FILE, RETURNED, SSI_TARGETS, TEXT, WRITE_PARTS, stream_piece

FILE_BLOCK = 8192
OCTETS = [(b"content-type", b"application/octet-stream")]
TEXT_PLAIN = [(b"content-type", b"text/plain")]


def query(scope):
    out = {}
    for part in scope["query_string"].decode("latin-1").split("&"):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k] = v
    return out


def header(scope, name):
    """A request header as WSGI sees it: repeated fields joined by ", "
    (httpd merges them so), or None."""
    values = [v for n, v in scope["headers"] if n == name]
    return b", ".join(values).decode("latin-1") if values else None


def token_headers(scope):
    token = header(scope, b"x-fuzz-token") or ""
    # Mutated requests may carry anything: echo only what is a valid value.
    if token and token.isascii() and token.isalnum():
        return [(b"X-Fuzz-Token", token.encode())]
    return []


async def start(send, status, headers):
    await send({"type": "http.response.start", "status": status, "headers": headers})


async def part(send, body, more=True):
    await send({"type": "http.response.body", "body": body, "more_body": more})


async def whole(send, status, body, headers):
    await start(send, status, headers + [(b"content-length", str(len(body)).encode())])
    await part(send, body, False)


async def listening(receive, send, stream):
    """Runs `stream()` (which sends the response) while another task awaits
    receive() for http.disconnect, and stops the response when it comes: what
    Starlette's StreamingResponse (FastAPI's too) does with every stream."""

    async def listen():
        while (await receive())["type"] != "http.disconnect":
            pass

    sender = asyncio.ensure_future(stream())
    listener = asyncio.ensure_future(listen())
    done, pending = await asyncio.wait({sender, listener}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    for task in pending:
        try:
            await task
        except asyncio.CancelledError:
            pass
    if sender in done:
        sender.result()  # its exception, if any


async def send_file(send, limit=None):
    """The data file in FILE_BLOCK parts (at most `limit` bytes), the last
    part without more_body."""
    left = limit
    with open(DATA_FILE, "rb") as f:
        while True:
            block = f.read(FILE_BLOCK if left is None else min(FILE_BLOCK, left))
            if left is not None:
                left -= len(block)
            if len(block) < FILE_BLOCK or left == 0:
                return await part(send, block, False)
            await part(send, block)


async def receive_body(receive, enough=None):
    """The body's pieces as received, or None if the client went away or
    httpd refused the body (http.disconnect). `enough`: stop once this many
    bytes came, as an app that trusts Content-Length does."""
    parts, got = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        parts.append(message.get("body", b""))
        got += len(parts[-1])
        if not message.get("more_body", False) or (enough is not None and got >= enough):
            return parts


async def echo(scope, receive, send, style, th):
    """The body back, received and answered in the style asked for:
    read: all of it, then one body message with Content-Length; readn: the
    same without a length; readline: in parts of 777 bytes; iter: in parts
    of 1000 bytes with a Content-Length; readlines: one message per piece
    received; cl: trusts Content-Length (stops receiving once that much
    came); stream: each piece sent back as it arrives, the response begun
    before the body is read (ASGI only)."""
    if style == "stream":
        begun = False
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away: the response ends here
            if not begun:
                await start(send, 200, OCTETS + th)
                begun = True
            more = message.get("more_body", False)
            await part(send, message.get("body", b""), more)
            if not more:
                return
    enough = None
    if style == "cl":
        cl = header(scope, b"content-length") or ""
        enough = int(cl) if cl.isdigit() else None
    received = await receive_body(receive, enough)
    if received is None:
        return  # nobody waits for an answer (mod_pympm answers 400 or httpd's refusal)
    body = b"".join(received)
    if style == "readn":
        await start(send, 200, OCTETS + th)
        return await part(send, body, False)
    if style in ("readline", "iter", "readlines"):
        size = {"readline": 777, "iter": 1000}.get(style, 0)
        headers = OCTETS + th
        if style == "iter":
            headers = headers + [(b"content-length", str(len(body)).encode())]
        await start(send, 200, headers)
        pieces = [body[i : i + size] for i in range(0, len(body), size)] if size else received
        for piece in pieces:
            await part(send, piece)
        return await part(send, b"", False)
    return await whole(send, 200, body, OCTETS + th)


async def lifespan(receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        return await lifespan(receive, send)
    route = scope["path"].rstrip("/").rsplit("/", 1)[-1]
    q = query(scope)
    th = token_headers(scope)

    if route == "echo":
        return await echo(scope, receive, send, q.get("style", "read"), th)
    if route == "ignore":
        return await whole(send, 200, b"body not read\n", OCTETS + th)
    if route == "text":
        await start(send, 200, TEXT_PLAIN + th)
        return await part(send, TEXT, False)
    if route == "pid":
        return await whole(send, 200, str(os.getpid()).encode(), OCTETS + th)
    if route == "stream":
        n, size = int(q.get("n", "4")), int(q.get("size", "100"))
        await start(send, 200, OCTETS + th)
        # An odd count ends with its last piece, an even one with an empty part.
        for i in range(n):
            await part(send, stream_piece(i, size), not (n % 2 and i == n - 1))
        if n % 2 == 0:
            await part(send, b"", False)
        return
    if route == "slow":
        # Long enough that a client leaving mid-response finds it running;
        # listens for the client's going away as Starlette does.
        async def stream():
            await start(send, 200, OCTETS + th)
            for i in range(400):
                if i % 50 == 0:
                    await asyncio.sleep(0.002)
                await part(send, stream_piece(i, 4096))
            await part(send, b"", False)

        return await listening(receive, send, stream)
    if route == "write":
        await start(send, 200, TEXT_PLAIN + th)
        for piece in WRITE_PARTS:
            await part(send, piece)
        return await part(send, RETURNED, False)
    if route == "file":

        async def stream():
            await start(send, 200, OCTETS + th)
            await send_file(send)

        return await listening(receive, send, stream)
    if route == "write_file":
        await start(send, 200, OCTETS + th)
        await part(send, WRITE_PARTS[0])
        return await send_file(send)
    if route == "write_file_cl":
        n = int(q.get("n", "100"))
        await start(send, 200, OCTETS + th + [(b"content-length", str(len(WRITE_PARTS[0]) + n).encode())])
        await part(send, WRITE_PARTS[0])
        return await send_file(send, n)
    if route == "cl":
        return await whole(send, 200, b"0123456789", OCTETS + th)
    if route == "ssi":
        target = SSI_TARGETS.get(q.get("inc", "text"), "/app/text")
        page = b'<p>A</p><!--#include virtual="' + target.encode() + b'" --><p>B</p>\n'
        await start(send, 200, [(b"content-type", b"text/html")] + th)
        return await part(send, page, False)
    if route == "error":
        # The ErrorDocument page: the status httpd is answering with, from
        # the ErrorDocument URL.
        status = q.get("s", "500")
        if not (len(status) == 3 and status.isdigit()):
            status = "500"
        return await whole(send, 200, b"fuzz error page " + status.encode() + b"\n", TEXT_PLAIN + th)

    # --- failing on purpose ---------------------------------------------
    if route == "fail_before":
        raise RuntimeError("fuzz-deliberate fail_before")
    if route == "fail_after":
        await start(send, 200, OCTETS + th)
        raise RuntimeError("fuzz-deliberate fail_after")
    if route == "fail_midstream":
        await start(send, 200, OCTETS + th)
        await part(send, b"partial\n")
        raise RuntimeError("fuzz-deliberate fail_midstream")
    if route == "cl_short":
        await start(send, 200, OCTETS + th + [(b"content-length", b"100")])
        return await part(send, b"only ten..", False)
    if route == "cl_long":
        await start(send, 200, OCTETS + th + [(b"content-length", b"5")])
        await part(send, b"12345")
        return await part(send, b"MUST-NOT-BE-SENT", False)
    if route == "cl_huge":
        await start(send, 200, OCTETS + th + [(b"content-length", b"1000000000000000")])
        return await part(send, b"tiny", False)
    if route == "status":
        # Statuses an app must not be able to put on the wire as is.
        code = int(q.get("s", "100")) if q.get("s", "100").isdigit() else 100
        await start(send, code, OCTETS + th + [(b"content-length", b"5")])
        return await part(send, b"hello", False)

    return await whole(send, 404, b"no route " + route.encode("latin-1", "replace")[:50] + b"\n", TEXT_PLAIN)

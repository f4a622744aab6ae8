"""The probe's WebSocket clients (run.sh), raw frames over asyncio streams.

  clients.py push PORT N SECS [tls]   N sockets held SECS s: how many "push"
                                      text frames each got from the server
  clients.py echo PORT N [tls]        N sockets idle 3 s, then 3 frames in one
                                      write (one TLS record): echoed in order?
  clients.py frame PORT               one socket sends a frame: answered, closed,
                                      or left unread for 10 s?
  clients.py graceful PORT N          N sockets open, then a graceful restart
                                      (httpd.conf and httpd.pid in $WORK): the
                                      close codes, and whether the old child
                                      exits within 40 s
"""

import asyncio
import base64
import collections
import os
import ssl
import subprocess
import sys
import time


def tls_context(wanted):
    if not wanted:
        return None
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def open_ws(port, ctx):
    r, w = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
    key = base64.b64encode(os.urandom(16)).decode()
    w.write(
        (
            "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = await r.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(head[:40])
    return r, w


async def read_frame(r, timeout):
    h = await asyncio.wait_for(r.readexactly(2), timeout)
    return h[0] & 0x0F, await r.readexactly(h[1] & 0x7F)


def masked(payload):
    k = os.urandom(4)
    return bytes([0x81, 0x80 | len(payload)]) + k + bytes(b ^ k[i & 3] for i, b in enumerate(payload))


async def push(port, n, secs, ctx):
    counts = [0] * n

    async def one(i):
        r, w = await open_ws(port, ctx)
        end = time.monotonic() + secs
        try:
            while time.monotonic() < end:
                op, p = await read_frame(r, end - time.monotonic())
                if op == 1 and p == b"push":
                    counts[i] += 1
                elif op == 8:
                    counts[i] = -1
                    break
        except asyncio.TimeoutError:
            pass
        w.close()

    await asyncio.gather(*(one(i) for i in range(n)))
    print(f"sockets={n} secs={secs} pushes_min={min(counts)} max={max(counts)} total={sum(counts)}")


async def echo(port, n, ctx):
    results = []

    async def one():
        r, w = await open_ws(port, ctx)
        await asyncio.sleep(3)
        t0 = time.monotonic()
        w.write(masked(b"a1") + masked(b"b22") + masked(b"c333"))
        got = []
        while len(got) < 3:
            op, p = await read_frame(r, 10)
            if op == 1 and p != b"push":
                got.append(p)
        results.append((got == [b"a1", b"b22", b"c333"], time.monotonic() - t0))
        w.close()

    await asyncio.gather(*(one() for _ in range(n)))
    lat = sorted(t for _, t in results)
    in_order = all(ok for ok, _ in results)
    print(f"sockets={n} echoed_in_order={in_order} p50_ms={lat[n // 2] * 1e3:.1f} max_ms={lat[-1] * 1e3:.1f}")


async def graceful(port, n):
    work = os.environ["WORK"]
    codes = [None] * n
    opened = asyncio.Event()
    count = [0]

    async def one(i):
        r, w = await open_ws(port, None)
        count[0] += 1
        if count[0] == n:
            opened.set()
        try:
            while True:
                op, p = await read_frame(r, 20)
                if op == 8:
                    codes[i] = int.from_bytes(p[:2], "big") if len(p) >= 2 else 1005
                    break
        except asyncio.TimeoutError:
            codes[i] = "none in 20 s"
        except asyncio.IncompleteReadError:
            codes[i] = "eof"
        w.close()

    tasks = [asyncio.create_task(one(i)) for i in range(n)]
    await opened.wait()
    parent = open(os.path.join(work, "httpd.pid")).read().strip()
    old = subprocess.run(["pgrep", "-P", parent], capture_output=True, text=True).stdout.split()
    t0 = time.monotonic()
    subprocess.run(["apache2", "-f", os.path.join(work, "httpd.conf"), "-k", "graceful"], check=True)
    await asyncio.gather(*tasks)
    t_codes = time.monotonic() - t0

    def alive():
        return any(os.path.exists(f"/proc/{p}") for p in old)

    while alive() and time.monotonic() - t0 < 40:
        await asyncio.sleep(0.1)
    print(
        f"sockets={n} codes={dict(collections.Counter(codes))} all_in={t_codes:.2f}s "
        f"old_child_exited={not alive()} (waited {time.monotonic() - t0:.0f} s)"
    )


async def frame(port):
    r, w = await open_ws(port, None)
    t0 = time.monotonic()
    w.write(masked(b"hi"))
    try:
        data = await asyncio.wait_for(r.read(100), 10)
        print(f"answered {data!r} in {time.monotonic() - t0:.2f} s" if data else "closed")
    except asyncio.TimeoutError:
        print("left unread for 10 s")
    w.close()


def main(argv):
    what, port = argv[1], int(argv[2])
    n = int(argv[3]) if len(argv) > 3 else 1
    if what == "frame":
        asyncio.run(frame(port))
    elif what == "push":
        asyncio.run(push(port, n, float(argv[4]), tls_context(len(argv) > 5)))
    elif what == "echo":
        asyncio.run(echo(port, n, tls_context(len(argv) > 4)))
    else:
        asyncio.run(graceful(port, n))


if __name__ == "__main__":
    main(sys.argv)

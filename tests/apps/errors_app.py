"""Failure modes of an app, chosen by PATH_INFO. Module globals record which
iterables were closed, so that a later request can report it (run with one
child so that every request reaches the same interpreter)."""
import os

CLOSED = []


class Tracked:
    """A response iterable that records its close()."""

    def __init__(self, name, items, fail_at=None):
        self.name = name
        self.items = list(items)
        self.fail_at = fail_at

    def __iter__(self):
        for i, item in enumerate(self.items):
            if i == self.fail_at:
                raise RuntimeError("pympm-test-iter-boom " + self.name)
            yield item
        if self.fail_at is not None and self.fail_at >= len(self.items):
            raise RuntimeError("pympm-test-iter-boom " + self.name)

    def close(self):
        CLOSED.append(self.name)


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/raise":
        raise RuntimeError("pympm-test-boom")
    if path == "/raise_after_start":
        start_response("200 OK", [("Content-Type", "text/plain")])
        raise ValueError("pympm-test-boom-after-start")
    if path == "/str_body":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return ["pympm-test-a-str-not-bytes"]
    if path == "/closing":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Tracked("closing", [b"part1 ", b"part2"])
    if path == "/closing_raises":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Tracked("closing_raises", [b"never"], fail_at=0)
    if path == "/closing_str":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Tracked("closing_str", ["a str"])
    if path == "/closed":
        body = ",".join(CLOSED).encode()
    elif path == "/pid":
        body = str(os.getpid()).encode()
    else:
        body = b"ok"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]

"""Routes for the hardening tests (tests/e2e/test_hardening.cpp, issue 9):
ErrorDocument targets and subrequest targets inside a mount, responses
that used to desync a connection, body reads whose cost must stay linear,
and app threads that touch what the request is sending or reading."""
import hashlib
import json
import os
import resource
import threading
import time
from urllib.parse import parse_qs

import pympm


def _json(start_response, obj, status="200 OK"):
    body = json.dumps(obj, sort_keys=True).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _text(start_response, text, status="200 OK", ctype="text/plain"):
    body = text.encode()
    start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(body)))])
    return [body]


def _records(n):
    # Fixed-size lines, so that a torn or repeated read is visible.
    return [b"%015d\n" % i for i in range(n)]


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    q = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}

    if path == "/error":
        # An ErrorDocument target: httpd runs it as an internal redirect,
        # possibly on the thread of the request that failed.
        return _text(
            start_response,
            "error page for %s (status %s) by pid %d\n"
            % (environ.get("REDIRECT_URL", "?"), environ.get("REDIRECT_STATUS", "?"), os.getpid()),
        )

    if path == "/echo":
        data = environ["wsgi.input"].read()
        return _text(start_response, "%d %s\n" % (len(data), hashlib.md5(data).hexdigest()))

    if path == "/ssi":
        # mod_include makes a subrequest into this mount for each include,
        # from the output filter of this very response.
        n = int(q.get("n", "2"))
        html = "<p>outer</p>\n" + "".join(
            '<!--#include virtual="%s/inner?i=%d" -->\n' % (environ["SCRIPT_NAME"], i) for i in range(n)
        )
        start_response("200 OK", [("Content-Type", "text/html")])
        return [html.encode()]

    if path == "/inner":
        return _text(start_response, "<p>inner %s pid %d</p>" % (q.get("i", "?"), os.getpid()), ctype="text/html")

    if path == "/file_after_write":
        # 5 bytes by write(), then a 10-byte file: only 5 of it fit in the
        # declared Content-Length.
        write = start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "10")])
        write(b"hello")
        return environ["wsgi.file_wrapper"](open(q["file"], "rb"))

    if path == "/read_cpu":
        # CPU time this child spends in wsgi.input.read() of the whole body.
        inp = environ["wsgi.input"]
        t0 = time.process_time()
        data = inp.read()
        cpu = time.process_time() - t0
        return _json(start_response, {"length": len(data), "cpu": cpu})

    if path == "/hello":
        return _text(start_response, "hello from %d\n" % os.getpid())

    if path == "/big_stream":
        mb = int(q.get("mb", "64"))
        chunk = b"z" * (1024 * 1024)
        start_response(
            "200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(mb * len(chunk)))]
        )
        return (chunk for _ in range(mb))

    if path == "/shared_list":
        # An app thread clears the response list as soon as the request
        # thread lets the GIL go to send the first item.
        n = int(q.get("n", "100000"))
        items = [b"%07d\n" % i for i in range(n)]
        go = threading.Event()

        def clear():
            go.wait()
            items.clear()

        threading.Thread(target=clear, daemon=True).start()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(8 * n))])
        go.set()
        return items

    if path == "/two_readers":
        # Two app threads read the same wsgi.input line by line at once.
        inp = environ["wsgi.input"]
        got = [[], []]

        def reader(k):
            while True:
                line = inp.readline()
                if not line:
                    return
                got[k].append(line)

        threads = [threading.Thread(target=reader, args=(k,)) for k in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        lines = got[0] + got[1]
        valid = [line for line in lines if len(line) == 16 and line[:15].isdigit() and line[15:] == b"\n"]
        return _json(
            start_response,
            {
                "lines": len(lines),
                "valid": len(valid),
                "distinct": len(set(valid)),
                "by_thread": [len(got[0]), len(got[1])],
            },
        )

    if path == "/child_info":
        info = pympm.child_info()
        return _json(
            start_response, {k: info[k] for k in ("pid", "thread_states", "py_threads", "slots_lent") if k in info}
        )

    if path == "/sleep":
        time.sleep(float(q.get("s", "1")))
        return _text(start_response, "slept %s in %d\n" % (q.get("s", "1"), os.getpid()))

    if path == "/memory_error":
        # A header value the server must copy while the address space is
        # nearly full: the copy fails in C++, and the app must see a
        # MemoryError it can handle (not a C++ exception unwinding through
        # the interpreter).
        value = "v" * (64 * 1024 * 1024)
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        with open("/proc/self/statm") as f:
            vm_bytes = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        try:
            resource.setrlimit(resource.RLIMIT_AS, (vm_bytes + 16 * 1024 * 1024, hard))
            try:
                start_response("200 OK", [("Content-Type", "text/plain"), ("X-Big", value)])
                accepted = True
            except MemoryError:
                accepted = False
        finally:
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        del value
        if accepted:
            return [b"no error\n"]
        return _text(start_response, "MemoryError\n")

    return _text(start_response, "no route %s\n" % path, status="404 Not Found")

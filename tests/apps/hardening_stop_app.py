"""An app whose on_stop callback takes 2 s (say, flushing metrics) and a
route that runs for a while: a graceful restart must let the running request
finish (tests/e2e/test_hardening.cpp, issue 9 item 9)."""
import time
from urllib.parse import parse_qs

import pympm


@pympm.on_stop
def _flush():
    time.sleep(2)
    print("on_stop done", flush=True)


def application(environ, start_response):
    q = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    s = q.get("s", "1")
    print("sleeping %s" % s, flush=True)
    time.sleep(float(s))
    body = ("slept %s\n" % s).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]

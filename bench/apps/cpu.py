# Burns 20 ms of this thread's CPU time (or ?ms=N) holding the GIL, so that
# concurrent requests in one process either queue (PyThreads 1) or interleave
# under the GIL (several Python threads). Thread CPU time, not wall time:
# each request does the same work however it is scheduled.
import time

DEFAULT_MS = 20


def application(environ, start_response):
    ms = DEFAULT_MS
    query = environ.get("QUERY_STRING", "")
    if query.startswith("ms="):
        try:
            ms = max(0, min(1000, int(query[3:])))
        except ValueError:
            pass
    end = time.thread_time() + ms / 1000.0
    n = 0
    while time.thread_time() < end:
        n += 1
    body = b"ok %d\n" % n
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]

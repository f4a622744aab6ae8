# A hello-world app whose import costs what a framework's does (Flask and
# its dependencies take about 0.3-0.5 s of CPU on a slow core): the
# `reload` scenario measures what a graceful restart costs the requests
# that arrive while new workers import it.
import time

IMPORT_CPU_SECONDS = 0.5

_end = time.process_time() + IMPORT_CPU_SECONDS
while time.process_time() < _end:
    pass

BODY = b"Hello, World!\n"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def application(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]

# A 64 KiB response held in memory: the cost of moving response bytes.
BODY = b"0123456789abcdef" * 4096
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def application(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]

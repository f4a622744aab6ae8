"""Fails to import: requests to its mount must get 500, other mounts work."""
raise ImportError("pympm-test-import-failure")


def application(environ, start_response):  # never reached
    start_response("200 OK", [])
    return [b"unreachable"]

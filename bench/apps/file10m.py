# A 10 MiB file sent through wsgi.file_wrapper, so a server may hand the file
# to the kernel (sendfile/mmap) like a static file. The bench writes
# file10m.bin next to this script.
import os

PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "file10m.bin")


def application(environ, start_response):
    f = open(PATH, "rb")
    size = os.fstat(f.fileno()).st_size
    start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))])
    wrapper = environ.get("wsgi.file_wrapper")
    if wrapper is not None:
        return wrapper(f, 65536)
    return iter(lambda: f.read(65536), b"")

"""Health endpoint of a mod_pympm backend, for the load balancer in front.

Mounted next to the app (see backend.conf):

    PyApp /health /srv/www/app/health.py

GET (or HEAD) /health answers, from the child that accepted the connection:

    200  every app mounted in this child is imported and the child is not
         stopping;
    503  the child has been told to stop (graceful restart, graceful stop,
         MaxConnectionsPerChild), or an app mounted in this child failed to
         import (its requests get 500 until a request to it imports it).

The body is plain text, one key=value per line: status (ok, stopping or
import-failed), pid, generation (httpd's generation: it grows by one at
every graceful restart, so a deploy script can tell new children from old
ones), and failed (the mounts that did not import), e.g.

    status=ok
    pid=4242
    generation=3

It runs no app code and no I/O, so it answers in microseconds. A stop-gap:
the same answer may come from a built-in `SetHandler pympm-health` in a
later version of the module (README, "Scaling out").
"""
import sys

import pympm


def _failed_mounts(own_mount):
    """Mounts of this child whose app is not imported. pympm imports every
    app when the child starts; a failed import leaves the app's module out of
    sys.modules until a request to that app retries it."""
    script_module_name = getattr(pympm, "_script_module_name", None)
    failed = []
    for mount in pympm.child_info().get("apps", []):
        url, _, target = mount.partition("=")
        location = target.rpartition(":")[0] or target
        if url == own_mount:
            continue
        if location.startswith("/"):
            if script_module_name is None:
                continue  # no way to tell: count it as imported
            name = script_module_name(location)
        else:
            name = location
        if name not in sys.modules:
            failed.append(url or "/")
    return failed


def application(environ, start_response):
    own_mount = environ.get("SCRIPT_NAME", "") or "/"
    info = pympm.child_info()
    failed = _failed_mounts(own_mount)
    if pympm.stopping.is_set():
        status, state = "503 Service Unavailable", "stopping"
    elif failed:
        status, state = "503 Service Unavailable", "import-failed"
    else:
        status, state = "200 OK", "ok"
    lines = ["status=" + state, "pid=%d" % info["pid"], "generation=%d" % info.get("generation", 0)]
    if failed:
        lines.append("failed=" + ",".join(failed))
    body = ("\n".join(lines) + "\n").encode("ascii", "backslashreplace")
    start_response(status, [("Content-Type", "text/plain; charset=us-ascii"),
                            ("Content-Length", str(len(body))),
                            ("Cache-Control", "no-store")])
    return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]

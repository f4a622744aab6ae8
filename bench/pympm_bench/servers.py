"""Every deployment the bench measures, and the registry of them.

A deployment is a server class (process.Server), alone or behind a front
(fronts.py) in a process.Stack, registered in DEPLOYMENTS with its name,
the app interfaces it runs ("wsgi", "asgi"), its --servers aliases and its
chart colour. Adding a peer (as hypercorn was) is a class here and a row or
two in DEPLOYMENTS; the order of DEPLOYMENTS is the order of every table."""

import os
import pwd
import signal
import socket
import time

from .host import (
    APXS,
    GROUP,
    MOD_WSGI,
    PY_DIST,
    PYTHON,
    SETPRIV,
    USER,
    UWSGI,
    dpkg_version,
    output,
)
from .fronts import HttpdFront, NginxFront
from .httpd import Httpd
from .process import Server, Stack

# ---------------------------------------------------------------- in httpd


class PympmServer(Httpd):
    packages = Httpd.packages + (
        ("apache2-dev", APXS),
        ("python3-dev", "/usr/include/python3.11/Python.h"),
        ("cmake", "/usr/bin/cmake"),
        ("g++", "/usr/bin/g++"),
    )

    @classmethod
    def py_threads(cls, sc, quick):
        pts = sc.py_threads
        if quick and len(pts) > 2:
            pts = (pts[0], pts[-1])
        return pts

    def extra_conf(self):
        lines = ["LoadModule pympm_module %s" % self.entry.module]
        if self.sc.interface == "asgi":
            # ASGI needs PyEnableThreads On (the default; the child's event
            # loop runs on a thread of its own): said explicitly.
            lines += ["PyEnableThreads On", "PyApp %s %s/%s.py:app asgi" % (self.sc.mount, self.tree.apps, self.sc.app)]
        else:
            lines.append("PyApp %s %s/%s.py" % (self.sc.mount, self.tree.apps, self.sc.app))
        if self.entry.py_threads is not None:
            lines.append("PyThreads %d" % self.entry.py_threads)
        return "\n".join(lines) + "\n"


class ModWsgiServer(Httpd):
    packages = Httpd.packages + (("libapache2-mod-wsgi-py3", MOD_WSGI),)

    @classmethod
    def versions(cls):
        return {"mod_wsgi": dpkg_version("libapache2-mod-wsgi-py3")}

    def extra_conf(self):
        return (
            "LoadModule wsgi_module %s\n"
            "WSGIScriptAlias %s %s/%s.py\n"
            "WSGIApplicationGroup %%{GLOBAL}\nWSGIEnableSendfile On\n"
            % (MOD_WSGI, self.sc.mount, self.tree.apps, self.sc.app)
        )


class CeilingServer(Httpd):
    """The static file under DocumentRoot, nothing else."""

    @classmethod
    def can_run(cls, sc):
        return bool(sc.static)


class FloorServer(Httpd):
    """bench/floor's module answers the app's body from memory: httpd with
    no app at all."""

    packages = Httpd.packages + (("apache2-dev", APXS), ("gcc", "/usr/bin/gcc"))

    @classmethod
    def can_run(cls, sc):
        return bool(sc.floor)

    def extra_conf(self):
        return "LoadModule bench_floor_module %s\nBenchFloorBody %s/%s\n" % (
            self.tree.floor,
            self.tree.htdocs,
            self.sc.floor,
        )


# ---------------------------------------------------------------- app servers


class UwsgiServer(Server):
    stop_signal = signal.SIGINT  # SIGTERM means "brutal reload" to uWSGI 2.0
    reload_signal = signal.SIGHUP  # graceful reload
    program = "uwsgi"
    protocol = "uwsgi"
    packages = (("uwsgi", UWSGI), ("uwsgi-plugin-python3", "/usr/lib/uwsgi/plugins/python3_plugin.so"))

    @classmethod
    def versions(cls):
        return {"uWSGI": output([UWSGI, "--version"]) if os.path.exists(UWSGI) else "?"}

    def keeps_alive(self):
        return False  # the uwsgi protocol carries one request per connection

    def listen_args(self):
        if self.sock:
            # The master binds as root, then drops to nobody; the front's
            # workers (nobody too) must be able to connect.
            return ["--socket", self.sock, "--chown-socket", "%s:%s" % (USER, GROUP)]
        # The keep-alive flavour of --http-socket: every other server keeps
        # connections open too.
        return ["--http11-socket", "127.0.0.1:%d" % self.port]

    def command(self):
        sc = self.sc
        cmd = (
            [UWSGI, "--plugin", "python3"]
            + self.listen_args()
            + ["--master", "--processes", str(sc.procs), "--threads", str(sc.threads)]
            + ["--wsgi-file", os.path.join(self.tree.apps, sc.app + ".py"), "--need-app"]
            + ["--disable-logging", "--die-on-term", "--uid", USER, "--gid", GROUP, "--logto", self.error_log]
        )
        if sc.threads > 1:
            cmd.append("--enable-threads")
        return cmd


class GunicornServer(Server):
    stop_signal = signal.SIGINT  # quick shutdown (SIGTERM waits 30 s for workers)
    reload_signal = signal.SIGHUP  # new workers first, then the old ones stop
    program = "gunicorn"
    packages = (("gunicorn", "/usr/bin/gunicorn"),)

    @classmethod
    def versions(cls):
        return {"gunicorn": dpkg_version("gunicorn")}

    def keeps_alive(self):
        return self.sc.threads > 1  # gthread keeps connections, sync closes each

    def command(self):
        sc = self.sc
        bind = "unix:" + self.sock if self.sock else "127.0.0.1:%d" % self.port
        cmd = [PYTHON, "-m", "gunicorn", "--bind", bind, "--workers", str(sc.procs), "--user", USER, "--group", GROUP]
        cmd += ["--chdir", self.tree.apps, "--error-logfile", self.error_log, "--log-level", "warning"]
        if self.sock:
            # Longer than nginx's 60 s idle timeout for upstream connections:
            # nginx closes idle ones, gunicorn never closes one that nginx is
            # about to reuse (that request would fail).
            cmd += ["--keep-alive", "75"]
        if sc.threads == 1:
            cmd += ["--worker-class", "sync"]
        else:
            cmd += ["--worker-class", "gthread", "--threads", str(sc.threads)]
        return cmd + [sc.app + ":application"]


class UvicornServer(Server):
    """uvicorn as its docs deploy it: --workers P (a supervisor process and P
    worker processes, each one event loop), uvloop and httptools (the
    `uvicorn[standard]` extras, Debian's python3-uvloop and
    python3-httptools), no access log. It cannot drop privileges itself:
    setpriv starts it as nobody."""

    program = "uvicorn"
    # The supervisor terminates its workers on SIGINT or SIGTERM alike; each
    # finishes its requests in flight and runs the lifespan shutdown.
    stop_signal = signal.SIGTERM
    packages = tuple(("python3-" + m, "%s/%s/__init__.py" % (PY_DIST, m)) for m in ("uvicorn", "uvloop", "httptools"))

    @classmethod
    def versions(cls):
        return {m: dpkg_version("python3-" + m) for m in ("uvicorn", "uvloop", "httptools")}

    def keeps_alive(self):
        return True

    def start(self, wrap=None):
        if self.sock:
            # The supervisor (as nobody) creates the socket in the
            # deployment's folder (the front's and the app's folders stay root's).
            os.chown(os.path.dirname(self.sock), pwd.getpwnam(USER).pw_uid, -1)
        super().start(wrap)

    def command(self):
        sc = self.sc
        if self.sock:
            # Longer than the fronts' idle timeouts for upstream connections
            # (nginx 60 s): the front closes idle ones, uvicorn (default 5 s)
            # never closes one that the front is about to reuse.
            bind = ["--uds", self.sock, "--timeout-keep-alive", "75"]
        else:
            bind = ["--host", "127.0.0.1", "--port", str(self.port)]
        return (
            [SETPRIV, "--reuid=" + USER, "--regid=" + GROUP, "--clear-groups", "--", self.python(), "-m", "uvicorn"]
            + bind
            + ["--workers", str(sc.procs), "--loop", "uvloop", "--http", "httptools", "--no-access-log"]
            + ["--log-level", "warning", "--no-use-colors", "--app-dir", self.tree.apps, sc.app + ":app"]
        )

    def python(self):
        return PYTHON

    def wait_socket(self, timeout=30.0):
        """Until a worker listens: the supervisor binds the socket, the
        workers call listen(). httpd's mod_proxy would answer 503 for 60 s
        (its retry) after one refused connection."""
        super().wait_socket(timeout)
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(self.sock)
                return
            except OSError as e:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        "%s: %s refuses connections after %.0f s (%s)\n%s"
                        % (self.entry.label, self.sock, timeout, e, self.logs())
                    )
            time.sleep(0.05)

    def worker_pids(self):
        """The workers, not multiprocessing's resource tracker (a child of the
        supervisor too); the process itself with one worker (no supervisor)."""
        pids = []
        for pid in super().worker_pids():
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    if b"resource_tracker" in f.read():
                        continue
            except OSError:
                continue
            pids.append(pid)
        if not pids and self.sc.procs == 1 and self.proc:
            pids = [self.proc.pid]
        return pids


class UvicornLibpythonServer(UvicornServer):
    """Bare uvicorn, as `uvicorn`, on the interpreter mod_pympm embeds:
    python3 linked against libpython3.X.so (tools/python_on_libpython.c).
    Debian's /usr/bin/python3 is a static build of the same Python with PGO
    and LTO, its shared library comes from a build without
    --enable-optimizations; this peer shows what the same Python code costs
    in the library every embedding server runs."""

    packages = UvicornServer.packages + (("gcc", "/usr/bin/gcc"), ("python3-dev", PYTHON + "-config"))

    def python(self):
        return self.tree.libpython_python


class HypercornServer(UvicornServer):
    """hypercorn, bare on 127.0.0.1 (no front runs it: no unix socket):
    --workers P (a supervisor forking P workers, one event loop each) with
    its uvloop worker class, as uvicorn runs uvloop; HTTP/1.1 is h11
    (hypercorn has no httptools), its defaults otherwise (no access log;
    backlog 100, which took asgi-io-512's 512 connections opened at once
    without a connect error or delay in a trial). As nobody through
    setpriv, stopped (SIGTERM: the workers finish their requests in flight)
    and sampled as uvicorn."""

    program = "hypercorn"
    packages = tuple(("python3-" + m, "%s/%s/__init__.py" % (PY_DIST, m)) for m in ("hypercorn", "uvloop"))

    @classmethod
    def versions(cls):
        return {m: dpkg_version("python3-" + m) for m in ("hypercorn", "uvloop")}

    def command(self):
        sc = self.sc
        return (
            [SETPRIV, "--reuid=" + USER, "--regid=" + GROUP, "--clear-groups", "--", PYTHON, "-m", "hypercorn"]
            + ["--bind", "127.0.0.1:%d" % self.port, "--workers", str(sc.procs), "--worker-class", "uvloop"]
            + ["--log-level", "warning"]
            + ["%s:app" % os.path.join(self.tree.apps, sc.app + ".py")]
        )


# ---------------------------------------------------------------- the registry


class Deployment:
    """A name of --servers: `server` alone, or behind `front` in a Stack."""

    def __init__(self, name, server, front=None, interfaces=("wsgi",), aliases=(), colour="#333", websocket=False):
        self.name, self.server, self.front = name, server, front
        self.interfaces, self.aliases, self.colour = interfaces, aliases, colour
        self.websocket = websocket  # runs the WebSocket scenarios (sc.ws_mode)

    def parts(self):
        return (self.server,) if self.front is None else (self.server, self.front)

    def packages(self):
        return [p for part in self.parts() for p in part.packages]

    def can_run(self, sc):
        if sc.reloads and getattr(self.server, "reload_signal", None) is None:
            return False
        if sc.ws_mode and not self.websocket:
            return False
        return sc.interface in self.interfaces and self.server.can_run(sc)

    def create(self, entry, sc, tree, root, port):
        if self.front is None:
            return self.server(entry, sc, tree, root, port)
        return Stack(self.front, self.server, entry, sc, tree, root, port)


DEPLOYMENTS = [
    Deployment(
        "mod_pympm", PympmServer, interfaces=("wsgi", "asgi"), aliases=("pympm",), colour="#d62728", websocket=True
    ),
    Deployment("mod_wsgi", ModWsgiServer, aliases=("wsgi",), colour="#1f77b4"),
    Deployment("nginx+uwsgi", UwsgiServer, NginxFront, aliases=("nginx-uwsgi",), colour="#98df8a"),
    Deployment("nginx+gunicorn", GunicornServer, NginxFront, aliases=("nginx-gunicorn",), colour="#c5b0d5"),
    Deployment("httpd+uwsgi", UwsgiServer, HttpdFront, aliases=("httpd-uwsgi", "mod_proxy_uwsgi"), colour="#bcbd22"),
    Deployment("uwsgi", UwsgiServer, colour="#2ca02c"),
    Deployment("gunicorn", GunicornServer, colour="#9467bd"),
    Deployment(
        "nginx+uvicorn",
        UvicornServer,
        NginxFront,
        interfaces=("asgi",),
        aliases=("nginx-uvicorn",),
        colour="#ffbb78",
        websocket=True,
    ),
    Deployment(
        "httpd+uvicorn", UvicornServer, HttpdFront, interfaces=("asgi",), aliases=("httpd-uvicorn",), colour="#dbdb8d"
    ),
    Deployment("uvicorn", UvicornServer, interfaces=("asgi",), colour="#ff7f0e", websocket=True),
    Deployment("uvicorn-libpython", UvicornLibpythonServer, interfaces=("asgi",), colour="#f7b6d2"),
    Deployment("hypercorn", HypercornServer, interfaces=("asgi",), colour="#8c564b"),
    Deployment("floor", FloorServer, interfaces=("wsgi", "asgi"), colour="#c7c7c7"),
    Deployment("ceiling", CeilingServer, aliases=("static",), colour="#7f7f7f"),
]
BY_NAME = {d.name: d for d in DEPLOYMENTS}
NAMES = [d.name for d in DEPLOYMENTS]
ALIASES = {alias: d.name for d in DEPLOYMENTS for alias in d.aliases}


def get(name):
    return BY_NAME[name]


def resolve(name):
    """The deployment's name for a name or alias of --servers (None: unknown)."""
    name = ALIASES.get(name, name)
    return name if name in BY_NAME else None


def colour(name):
    return BY_NAME[name].colour if name in BY_NAME else "#333"


def versions():
    """The versions of every deployment's programs: the app servers' first,
    then the fronts'."""
    parts = [d.server for d in DEPLOYMENTS] + [d.front for d in DEPLOYMENTS if d.front]
    out = {}
    for part in dict.fromkeys(parts):
        for name, version in part.versions().items():
            out.setdefault(name, version)
    return out

"""What every deployment is to the bench: a Server (one program in its own
session) or a Stack (a front proxying to an app server). Both offer the same
interface: start(), wait_ready(), running(), stop(), pgids() and worker_pids()
(whose CPU and memory are sampled), log_files() and logs(), and `port`.

A server class gives command() (its argv) and, if it reads a generated
config, config() (the text, written to config_path before the start);
class attributes say which Debian packages it needs (`packages`), which
scenarios it can run (can_run) and its version for the report (versions)."""

import http.client
import os
import signal
import socket
import subprocess
import time

from .console import log


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def crashed(path):
    try:
        with open(path, "rb") as f:
            text = f.read()
    except OSError:
        return False
    return b"AH00052" in text or b"Fatal Python error" in text


def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def part_root(root, name):
    path = os.path.join(root, name)
    os.makedirs(path)
    os.chmod(path, 0o755)
    return path


class Server:
    """One server program in its own session (one process group): start,
    poll readiness, sample workers, stop. With `sock` it is an app server
    listening on that unix socket behind a front (see Stack), not on `port`."""

    stop_signal = signal.SIGTERM
    program = None  # names its logs when it is part of a Stack
    protocol = "http"  # what a front speaks to it on `sock`
    config_name = None  # file name of its generated config, if any
    packages = ()  # (Debian package, a file proving it is installed)

    def __init__(self, entry, sc, tree, root, port=None, sock=None):
        self.entry, self.sc, self.tree, self.root, self.port = entry, sc, tree, root, port
        self.sock = sock
        self.proc = None
        self.error_log = os.path.join(root, "error.log")
        self.stdout_log = os.path.join(root, "stdout.log")
        self.config_path = os.path.join(root, self.config_name) if self.config_name else None

    @classmethod
    def can_run(cls, sc):
        """Whether this server has something to serve in the scenario (its
        app interface aside, which the deployment checks)."""
        return True

    @classmethod
    def py_threads(cls, sc, quick):
        """The PyThreads values it runs the scenario with, one entry each
        (None: not a PyThreads server)."""
        return (None,)

    @classmethod
    def versions(cls):
        """{name: version} of the programs it adds to the report."""
        return {}

    def config(self):
        return None

    def command(self):
        raise NotImplementedError

    def start(self, wrap=None):
        """Writes the config and starts the program; `wrap` may rewrite its
        argv (profile-callgrind runs httpd -X under valgrind)."""
        text = self.config()
        if text is not None:
            with open(self.config_path, "w") as f:
                f.write(text)
        argv = self.command()
        if wrap:
            argv = wrap(argv)
        with open(self.stdout_log, "wb") as out:
            # Own session: the whole server is one process group to kill.
            self.proc = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.root,
            )

    # The signal that makes it reload gracefully (new workers, running
    # requests finish), for the `reload` scenario; None: it has none.
    reload_signal = None

    def reload(self):
        os.kill(self.proc.pid, self.reload_signal)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def pgids(self):
        """Process groups holding every process of this server."""
        return [self.proc.pid] if self.proc else []

    def log_files(self, prefix=""):
        """(path, name in the results' logs/) of each log this server writes."""
        return [(self.error_log, prefix + "error.log"), (self.stdout_log, prefix + "stdout.log")]

    def logs(self):
        text = []
        for path, _ in self.log_files():
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    content = f.read()[-4000:]
                if content.strip():
                    text.append("--- %s\n%s" % (path, content))
        return "\n".join(text) or "(no log output)"

    def check_alive(self):
        if self.proc.poll() is not None:
            raise RuntimeError(
                "%s exited with status %s during startup\n%s" % (self.entry.label, self.proc.returncode, self.logs())
            )

    def wait_ready(self, timeout=30.0, attempt_timeout=2.0):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            self.check_alive()
            # A child crashing on the first request makes httpd respawn it
            # forever: fail now instead of at the timeout.
            if crashed(self.error_log):
                raise RuntimeError("%s: a worker crashed during startup\n%s" % (self.entry.label, self.logs()))
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=attempt_timeout)
                conn.request("GET", self.sc.path)
                resp = conn.getresponse()
                resp.read()
                conn.close()
                # A front answers 502-504 until its app server accepts.
                if resp.status not in (502, 503, 504):
                    return
                last = "status %d" % resp.status
            except (OSError, http.client.HTTPException) as e:
                last = e
            time.sleep(0.05)
        raise RuntimeError(
            "%s not answering on port %d after %.0f s (%s)\n%s"
            % (self.entry.label, self.port, timeout, last, self.logs())
        )

    def wait_socket(self, timeout=30.0):
        """Until the app server has created its unix socket (a front started
        earlier would log failed connections)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            if os.path.exists(self.sock):
                return
            time.sleep(0.05)
        raise RuntimeError("%s: no %s after %.0f s\n%s" % (self.entry.label, self.sock, timeout, self.logs()))

    def worker_pids(self):
        """Children of the main process: httpd children, uWSGI/gunicorn workers."""
        pids = []
        main = self.proc.pid
        try:
            with open("/proc/%d/task/%d/children" % (main, main)) as f:
                pids = [int(p) for p in f.read().split()]
        except OSError:
            pass
        return pids

    def stop(self):
        if self.proc is None:
            return
        pgid = self.proc.pid
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, self.stop_signal)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                log("%s did not stop in 10 s: SIGKILL" % self.entry.label)
        # Whatever is left of the group (a stuck child, the main process after
        # a timeout) goes now.
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        except PermissionError:
            pass
        if self.proc.poll() is None:
            self.proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and group_alive(pgid):
            time.sleep(0.02)
        self.proc = None


class Stack:
    """A deployment of two servers, each in its own session: an HTTP front
    proxying to an app server on a unix socket. Measured as one server: the
    CPU, memory and logs of both; workers are the app server's."""

    def __init__(self, front_class, app_class, entry, sc, tree, root, port):
        self.entry, self.sc, self.port = entry, sc, port
        sock = os.path.join(root, "app.sock")
        self.app = app_class(entry, sc, tree, part_root(root, "app"), sock=sock)
        self.front = front_class(entry, sc, tree, part_root(root, "front"), port, self.app)

    def start(self):
        self.app.start()
        self.app.wait_socket()
        self.front.start()

    def wait_ready(self, timeout=30.0, attempt_timeout=2.0):
        self.front.wait_ready(timeout, attempt_timeout)
        if not self.app.running():
            raise RuntimeError("%s: the app server exited during startup\n%s" % (self.entry.label, self.logs()))

    @property
    def reload_signal(self):
        return self.app.reload_signal

    def reload(self):
        self.app.reload()

    def running(self):
        return self.app.running() and self.front.running()

    def pgids(self):
        return self.app.pgids() + self.front.pgids()

    def worker_pids(self):
        return self.app.worker_pids()

    def log_files(self):
        return self.app.log_files(self.app.program + ".") + self.front.log_files(self.front.program + ".")

    def logs(self):
        return "\n".join((self.app.logs(), self.front.logs()))

    def stop(self):
        # The front first: it would answer 502 once the app server is gone.
        self.front.stop()
        self.app.stop()

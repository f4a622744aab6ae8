"""The files every server serves, readable by the servers' user, and the
answers expected from them."""

import asyncio
import importlib.util
import io
import os
import random
import shutil
import sys

from .host import APPS_SRC

MIB = 1024 * 1024
# Deterministic, incompressible 10 MiB: the app file10m sends it with
# wsgi.file_wrapper, the ceiling serves it as a static file.
DATA_FILE = "file10m.bin"


class Tree:
    """apps/ (copies of bench/apps and DATA_FILE), htdocs/ (the ceiling's
    static copies: DATA_FILE, and what an app answers for each scenario's
    `static` or `floor` file name), `floor`: the floor module once built,
    and `libpython_python`: python3 on the shared libpython, once built."""

    def __init__(self, root, scenarios):
        self.apps = os.path.join(root, "apps")
        self.htdocs = os.path.join(root, "htdocs")
        self.floor = None
        self.libpython_python = None
        self._answers = {}
        self._files = {}
        os.makedirs(self.apps)
        os.makedirs(self.htdocs)
        for name in os.listdir(APPS_SRC):
            if name.endswith(".py"):
                shutil.copy(os.path.join(APPS_SRC, name), self.apps)
        with open(os.path.join(self.apps, DATA_FILE), "wb") as f:
            f.write(random.Random(5).randbytes(10 * MIB))
        os.link(os.path.join(self.apps, DATA_FILE), os.path.join(self.htdocs, DATA_FILE))
        for sc in scenarios:
            for name in {sc.static, sc.floor} - {None}:
                path = os.path.join(self.htdocs, name)
                if not os.path.exists(path):
                    with open(path, "wb") as f:
                        f.write(self.app_answer(sc.app)[0])
        for d in (root, self.apps, self.htdocs):
            os.chmod(d, 0o755)

    def app_answer(self, app):
        """The bytes and Content-Type the app answers a GET / with, called in
        this process (the floor and the ceiling serve the same)."""
        if app not in self._answers:
            if app.startswith("asgi_"):
                self._answers[app] = asgi_response(load_app(app))
            else:
                self._answers[app] = wsgi_response(load_app(app))
        return self._answers[app]

    def read(self, name):
        """The bytes of a file of apps/ (DATA_FILE)."""
        if name not in self._files:
            with open(os.path.join(self.apps, name), "rb") as f:
                self._files[name] = f.read()
        return self._files[name]


def load_app(app):
    spec = importlib.util.spec_from_file_location("bench_" + app, os.path.join(APPS_SRC, app + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def wsgi_response(mod):
    env = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "SERVER_NAME": "x",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    headers = {}
    body = b"".join(mod.application(env, lambda s, h, e=None: headers.update(h)))
    return body, headers["Content-Type"]


def asgi_response(mod):
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": [],
        "client": ["127.0.0.1", 1],
        "server": ["127.0.0.1", 80],
    }
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(mod.app(scope, receive, send))
    headers = {k.decode().lower(): v.decode() for k, v in sent[0]["headers"]}
    return b"".join(m.get("body", b"") for m in sent[1:]), headers["content-type"]

"""A Flask app as people write them (tests/e2e/test_python_conformance.cpp,
issue 10): a UTF-8 Jinja template with non-ASCII text, a module-level
ThreadPoolExecutor for background work, and a bearer token check. It needs
no configuration beyond PyApp."""
import concurrent.futures
import hmac
import os

from flask import Flask, abort, render_template, request

app = Flask(__name__)
EXECUTOR = concurrent.futures.ThreadPoolExecutor(max_workers=2)
TOKEN = "s3cr3t-token"


def _slow_greeting(name):
    return "Grüß Gott, %s!" % name


@app.route("/page/<name>")
def page(name):
    greeting = EXECUTOR.submit(_slow_greeting, name).result(timeout=10)
    return render_template("page.html", greeting=greeting, pid=os.getpid())


@app.route("/api/secret")
def secret():
    auth = request.headers.get("Authorization", "")
    if not auth.startswith("Bearer ") or not hmac.compare_digest(auth[7:].encode(), TOKEN.encode()):
        abort(401)
    return {"secret": "✓ granted", "pid": os.getpid()}

"""A small Flask app (Debian's python3-flask) for the framework tests and the
conf/examples/flask-site.conf example: routing, url_for under the mount
prefix, JSON, a form POST, a multipart upload and a streamed response."""
import hashlib
import os
import time

from flask import Flask, Response, jsonify, redirect, request, stream_with_context, url_for

app = Flask(__name__)


@app.route("/")
def index():
    # URLs Flask builds must carry the mount (SCRIPT_NAME).
    return jsonify(
        hello=url_for("hello", name="world"),
        hello_external=url_for("hello", name="world", _external=True),
        script_root=request.script_root,
        path=request.path,
        pid=os.getpid(),
    )


@app.route("/hello/<name>")
def hello(name):
    return "Hello, %s!\n" % name


@app.route("/go")
def go():
    return redirect(url_for("hello", name="redirected"))


@app.route("/items/<int:item_id>", methods=["GET", "PUT", "DELETE"])
def item(item_id):
    return jsonify(id=item_id, method=request.method)


@app.route("/json", methods=["POST"])
def json_echo():
    data = request.get_json()
    return jsonify(received=data, keys=sorted(data) if isinstance(data, dict) else None)


@app.route("/form", methods=["POST"])
def form():
    return jsonify(name=request.form.get("name"), tags=request.form.getlist("tag"))


@app.route("/upload", methods=["POST"])
def upload():
    f = request.files["file"]
    data = f.read()
    return jsonify(
        filename=f.filename,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        note=request.form.get("note"),
    )


@app.route("/stream")
def stream():
    delay = float(request.args.get("sleep", "0"))

    @stream_with_context
    def generate():
        yield "first %s\n" % request.path
        time.sleep(delay)
        yield "second\n"

    return Response(generate(), mimetype="text/plain")


application = app

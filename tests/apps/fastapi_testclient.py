"""Runs the requests of tests/e2e/test_asgi.cpp against fastapi_app through
FastAPI's own TestClient and prints [status, content-type, body] for each,
as JSON, for the test to compare with what httpd answers."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fastapi.testclient import TestClient  # noqa: E402

import fastapi_app  # noqa: E402

REQUESTS = [
    ("GET", "/items/5?q=abc&limit=3", None),
    ("GET", "/items/notanumber", None),
    ("POST", "/orders", {"name": "tea", "quantity": 4, "tags": ["b", "a"]}),
    ("POST", "/orders", {"name": "tea"}),
    ("GET", "/stream?n=4", None),
    ("GET", "/plain", None),
    ("GET", "/nowhere", None),
]

if __name__ == "__main__":
    out = []
    with TestClient(fastapi_app.app) as client:
        for method, target, body in REQUESTS:
            r = client.request(method, target, json=body)
            out.append([r.status_code, r.headers.get("content-type"), r.text])
    print(json.dumps(out))

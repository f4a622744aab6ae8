"""HTTP load from wrk: one Lua script per scenario (its request, its pacing,
and a done() hook printing wrk's figures as JSON), and the one request that
checks a server's answer before any load."""

import http.client
import json
import os
import re
import subprocess

from .host import WRK, dpkg_version

REPORT = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "bytes": %d, "err_connect": %d, '
    .. '"err_read": %d, "err_write": %d, "err_status": %d, "err_timeout": %d, '
    .. '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean))
end
"""

# When each client sends its next request (a scenario's `pacing`; none:
# at once, saturating).
PACING = {
    # Requests wait for the next tick of a shared BENCH_THINK_MS period
    # (LuaJIT FFI: wrk gives scripts no millisecond clock).
    "burst": """
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local period = tonumber(os.getenv("BENCH_THINK_MS") or "250")
delay = function()
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
  local now = tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
  return math.floor(period - now % period)
end
""",
    # Alternative load (--cpu-load poisson): exponential think time before
    # each request, seed fixed per round.
    "poisson": """
local mean_ms = tonumber(os.getenv("BENCH_THINK_MS") or "200")
math.randomseed(tonumber(os.getenv("BENCH_SEED") or "1"))
delay = function()
  return math.floor(-mean_ms * math.log(1 - math.random()))
end
""",
}


def verify(sc, port, tree):
    """One request with the scenario's method, body and headers, answered
    with status 200 and what sc.answer accepts."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(sc.method, sc.path, body=sc.body, headers=dict(sc.headers))
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    if resp.status != 200:
        raise RuntimeError("status %d: %r" % (resp.status, data[:200]))
    sc.answer(sc, tree, data, resp.getheader("Content-Type"))


class Wrk:
    """The load generator of HTTP scenarios (see scenarios.Scenario.load)."""

    packages = (("wrk", WRK),)

    def __init__(self, work, args):
        self.threads = args.wrk_threads
        self.dir = os.path.join(work, "lua")
        os.makedirs(self.dir, exist_ok=True)

    @staticmethod
    def versions():
        return {"wrk": dpkg_version("wrk")}

    verify = staticmethod(verify)

    def script(self, sc):
        """The scenario's script, written on first use: its request (wrk's
        default: GET), its pacing, the JSON report."""
        path = os.path.join(self.dir, sc.name + ".lua")
        if os.path.exists(path):
            return path
        lines = []
        if sc.method != "GET" or sc.body is not None or sc.headers:
            lines.append("wrk.method = %s" % json.dumps(sc.method))
            if sc.body is not None:
                body = os.path.join(self.dir, sc.name + ".body")
                with open(body, "wb") as f:
                    f.write(sc.body)
                lines += [
                    'local body_file = assert(io.open(%s, "rb"))' % json.dumps(body),
                    'wrk.body = body_file:read("*a")',
                    "body_file:close()",
                ]
            lines += ["wrk.headers[%s] = %s" % (json.dumps(k), json.dumps(v)) for k, v in sc.headers]
        text = "".join(line + "\n" for line in lines) + PACING.get(sc.pacing, "") + REPORT
        with open(path, "w") as f:
            f.write(text)
        return path

    def run(self, sc, port, seconds, seed):
        cmd = [WRK, "-t", str(min(self.threads, sc.conns)), "-c", str(sc.conns), "-d", "%ds" % seconds]
        cmd += ["--timeout", "10s", "--latency", "-s", self.script(sc), "http://127.0.0.1:%d%s" % (port, sc.path)]
        env = dict(os.environ, BENCH_THINK_MS=str(sc.think_ms), BENCH_SEED=str(seed))
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds + 60)
        m = re.search(r"^WRKJSON (.*)$", r.stdout, re.M)
        if r.returncode != 0 or not m:
            raise RuntimeError("wrk failed (%d): %s %s" % (r.returncode, r.stdout, r.stderr))
        d = json.loads(m.group(1))
        d["rps"] = d["requests"] / (d["duration_us"] / 1e6)
        # Non-2xx answers and timeouts are failures. Read errors are connections
        # the server closed (gunicorn's sync worker, the event MPM shedding
        # keep-alive connections when a child has no idle thread): wrk reconnects.
        d["errors"] = d["err_status"] + d["err_timeout"] + d["err_connect"]
        d["closed"] = d["err_read"] + d["err_write"]
        return d

"""results.md and results.json of a run, and the results section of
docs/benchmarks.md (--publish): the tables, the ratios against each
interface's baselines, and how the numbers print."""

import json
import os
import shutil

from .console import die, log
from .host import REPO_DIR

# ---------------------------------------------------------------- numbers


def fmt_rps(s):
    if s["rounds_ok"] == 1:
        return "%.0f" % s["rps_median"]
    return "%.0f (%.0f–%.0f)" % (s["rps_median"], s["rps_min"], s["rps_max"])


def fmt_ms(v):
    return "%.2f" % v if v < 10 else "%.1f" % v if v < 100 else "%.0f" % v


def ratio(a, b):
    return a / b if a and b else None


def fmt_cores(v):
    return "–" if v is None else "%.2f" % v


def fmt_mib(kib):
    return "%.1f" % (kib / 1024) if kib else "–"


def fmt_ratio(r):
    return "%.2f×" % r if r is not None else "–"


# ---------------------------------------------------------------- ratios

# The servers every row of a scenario is divided by, per app interface:
# (summary key, server, column title). An interface without baselines has
# no ratio columns.
BASELINES = {
    "wsgi": [
        ("vs_mod_wsgi", "mod_wsgi", "÷ mod_wsgi"),
        ("vs_nginx_uwsgi", "nginx+uwsgi", "÷ nginx+uWSGI"),
        ("vs_floor", "floor", "÷ floor"),
        ("vs_ceiling", "ceiling", "÷ ceiling"),
    ],
    "asgi": [
        ("vs_nginx_uvicorn", "nginx+uvicorn", "÷ nginx+uvicorn"),
        ("vs_httpd_uvicorn", "httpd+uvicorn", "÷ httpd+uvicorn"),
        ("vs_floor", "floor", "÷ floor"),
    ],
}


def baselines(sc_res):
    # results.json of runs before the ASGI scenarios have no "interface".
    return BASELINES.get(sc_res.get("interface", "wsgi"), [])


def add_ratios(sc_res):
    """Adds to each summary its ratios against the baselines."""
    by = {e["label"]: e["summary"] for e in sc_res["entries"] if e["summary"]}
    for key, server, _ in baselines(sc_res):
        base = by.get(server, {}).get("rps_median")
        for e in sc_res["entries"]:
            if e["summary"]:
                e["summary"][key] = ratio(e["summary"]["rps_median"], base)


# ---------------------------------------------------------------- results.md


def markdown(results):
    lines = method_lines(results["meta"])
    if any(s.get("interface") == "asgi" for s in results["scenarios"]):
        lines += asgi_method_lines()
    if any(s.get("ws_mode") for s in results["scenarios"]):
        lines += websocket_method_lines()
    for s in results["scenarios"]:
        lines += scenario_lines(s)
    lines += targets_lines(results["targets"])
    return "\n".join(lines)


def method_lines(m):
    st = m["settings"]
    lines = [
        "Run %s on %s (%s cores, %s GiB), %s; kernel %s."
        % (
            m["date"],
            m["machine"]["cpu"],
            m["machine"]["cores"],
            m["machine"]["mem_gib"],
            m["machine"]["os"],
            m["machine"]["kernel"],
        ),
        "",
        "Command: `%s`" % m["command"],
        "",
    ]
    if m.get("loadavg_before"):
        lines += [
            "Load average when the run started (other work on the machine): %s." % " ".join(m["loadavg_before"]),
            "",
        ]
    lines += [
        "Versions: " + "; ".join("%s %s" % (k, v) for k, v in m["versions"].items()) + ".",
        "",
        "Each server ran %d round(s), interleaved; each run: fresh processes on a free "
        "127.0.0.1 port, %d s wrk warm-up, %d s measured (CPU scenario %d s), wrk %d "
        "thread(s), keep-alive. req/s = median of rounds (min–max); p50/p99 = median of "
        "rounds; peak RSS/worker = peak VmHWM of any worker process (httpd child, uWSGI, "
        "gunicorn or uvicorn worker) at the end of a run (max over rounds); total RSS (PSS) "
        "= VmHWM (PSS) summed over every process of the deployment (nginx, uWSGI master and "
        "workers; httpd parent and children), max over rounds. Ratios divide medians. "
        "server CPU / other CPU: cores used during the measured run by every process of "
        "the deployment and by everything but the deployment and wrk (other work on the "
        "machine; above ~0.2 it skews the result), medians. cs/req: voluntary context "
        "switches of every thread of the deployment during the measured run, per request "
        "(median of rounds)." % (st["rounds"], st["warmup"], st["duration"], st["duration_cpu"], st["wrk_threads"]),
        "",
        "Servers: httpd (same build, MPM and counts for mod_pympm, mod_wsgi, httpd+uwsgi, "
        "the floor and the ceiling) with KeepAlive On, MaxKeepAliveRequests 0, "
        "EnableSendfile On, LogLevel warn, no access log, User nobody; mod_wsgi embedded "
        "with WSGIApplicationGroup %{GLOBAL} and WSGIEnableSendfile On; floor = httpd with "
        "bench/floor's C module answering the app's body from memory (no app at all); "
        "ceiling = httpd serving the app's body as a static file. nginx+uwsgi: nginx (one "
        "worker per core, keep-alive to the client, access log off, Debian's defaults "
        "otherwise) with uwsgi_pass to uWSGI --socket (unix) --master --processes P "
        "--threads T; nginx+gunicorn: nginx proxy_pass over HTTP/1.1 to gunicorn on a unix "
        "socket, upstream keep-alive with gthread; httpd+uwsgi: httpd with "
        "mod_proxy_uwsgi to the same uWSGI. uwsgi: bare uWSGI --http11-socket (the "
        "keep-alive flavour of --http-socket); gunicorn: bare gunicorn -w P; gunicorn "
        "runs the sync worker for 1 thread, gthread --threads T otherwise. Same app files "
        "(bench/apps/) everywhere.",
        "",
    ]
    return lines


def asgi_method_lines():
    return [
        "ASGI scenarios (asgi-*) run the ASGI servers only, on the same app file "
        "(callable `app`): mod_pympm with `PyApp / app.py:app asgi` (PyEnableThreads On, "
        "PyThreads auto); uvicorn --workers P --loop uvloop --http httptools "
        "--no-access-log --log-level warning (Debian's python3-uvicorn, python3-uvloop, "
        "python3-httptools; as nobody through setpriv), bare on 127.0.0.1 (uvicorn), "
        "behind the same nginx with proxy_pass over HTTP/1.1 and upstream keep-alive "
        "(nginx+uvicorn), or behind httpd with the scenario's MPM and counts and "
        "mod_proxy_http (`ProxyPass / unix:app.sock|http://app/`, backend connections "
        "reused; httpd+uvicorn), on a unix socket with --timeout-keep-alive 75 behind a "
        "front; hypercorn --workers P --worker-class uvloop --log-level warning (Debian's "
        "python3-hypercorn, h11; bare, as nobody through setpriv). Same process count: "
        "P httpd children × T threads, P uvicorn or hypercorn workers (one event loop "
        "each). A mod_pympm request in flight holds an httpd thread (at most P × T at "
        "once); a uvicorn worker has no such limit: the scenarios open P × T "
        "connections (asgi-io-512: 2 × 256 threads, 512 connections).",
        "",
    ]


def websocket_method_lines():
    return [
        "WebSocket scenarios (ws-*) run mod_pympm, bare uvicorn and nginx+uvicorn on "
        "bench/apps/asgi_ws_echo.py (a raw ASGI echo), with uvicorn's default WebSocket "
        "implementation (websockets) and nginx as the WebSocket proxy (Upgrade and "
        "Connection passed on, proxy_read_timeout 3600s). The load is bench/tools/ws_load.c: "
        "one epoll loop, a handshake per connection, masked 16-byte text frames, no "
        "compression offered. ws-echo: each connection sends and waits for its echo, over "
        "and over; msg/s = echoes per second, p50/p99 = round trip. ws-idle: the "
        "connections are opened, held idle for the run, then each sends one message at "
        "once; echoes = how many came back (of the connections), p50/p99 = their round "
        "trip; the RSS columns include the held connections (peak).",
        "",
    ]


def scenario_lines(s):
    lines = ["### %s — %s, %s, %d connections" % (s["name"], s["title"], s["model"], s["conns"])]
    if s.get("think_ms"):
        lines.append("")
        if s.get("load") == "poisson":
            lines.append(
                "Each client waits a random (exponential, mean %d ms) think time "
                "before each request; latency is what matters here." % s["think_ms"]
            )
        else:
            lines.append(
                "The 8 clients send together at every %d ms tick (8 × 20 ms of CPU "
                "arrive at once), then wait for the next tick. First come first served "
                "answers them after about 20, 40, ... 160 ms; interleaving under the GIL "
                "answers all of them near 160 ms. Latency is what matters here; req/s "
                "is set by the ticks." % s["think_ms"]
            )
    lines.append("")
    head = (
        ["server", s.get("unit", "req/s"), "p50 ms", "p99 ms", "peak RSS/worker MiB", "total RSS (PSS) MiB"]
        + [title for _, _, title in baselines(s)]
        + ["server CPU", "other CPU", "cs/req"]
    )
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|---" + "|---:" * (len(head) - 1) + "|")
    for e in s["entries"]:
        cells = entry_cells(e, bool(s.get("think_ms")), baselines(s))
        lines.append("| " + " | ".join(cells + [""] * (len(head) - len(cells))) + " |")
    lines.append("")
    return lines


def entry_cells(e, latency_matters, bases):
    """A table row; a failed server gets its name and error only."""
    sm = e["summary"]
    name = "**%s**" % e["label"] if e["label"].startswith("mod_pympm") else e["label"]
    if not sm:
        err = e["rounds"][-1].get("error", "failed") if e["rounds"] else "not run"
        return [name, "failed: %s" % err.splitlines()[0][:80]]
    notes = []
    if sm["errors"]:
        notes.append("%d non-2xx/timeouts" % sm["errors"])
    if sm["rounds_ok"] < sm["rounds"]:
        notes.append("%d/%d rounds failed" % (sm["rounds"] - sm["rounds_ok"], sm["rounds"]))
    if sm["log_problems"]:
        notes.append("errors in log")
    rps = fmt_rps(sm) + (" ⚠ " + ", ".join(notes) if notes else "")
    p50, p99 = fmt_ms(sm["p50_ms"]), fmt_ms(sm["p99_ms"])
    if latency_matters:
        p50, p99 = "**%s**" % p50, "**%s**" % p99
    total = fmt_mib(sm.get("total_rss_kib"))
    if sm.get("total_pss_kib"):
        total += " (%s)" % fmt_mib(sm["total_pss_kib"])
    return (
        [name, rps, p50, p99, fmt_mib(sm["rss_peak_kib"]), total]
        + [fmt_ratio(sm.get(key)) for key, _, _ in bases]
        + [fmt_cores(sm.get("cpu_server")), fmt_cores(sm.get("cpu_other")), fmt_cores(sm.get("cs_per_request"))]
    )


def targets_lines(targets):
    if not targets:
        return []
    lines = [
        "### Targets (issue 12; cpu-20ms: issue 5; asgi-*: issues 14 and 20; ws-*: issue 21)",
        "",
        "| target | measured | goal | met |",
        "|---|---:|---:|:---:|",
    ]
    for t in targets:
        lines.append("| %s | %s | %s | %s |" % (t["target"], t["measured"], t["goal"], "yes" if t["met"] else "**no**"))
    lines.append("")
    return lines


# ---------------------------------------------------------------- files


def write(results, out):
    """results.json and results.md in `out`; returns the markdown."""
    md = markdown(results)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write("# mod_pympm benchmark\n\n" + md + "\n")
    return md


def replace_section(doc, begin, end, text):
    """Replaces what stands between the markers `begin` and `end` of doc."""
    with open(doc) as f:
        body = f.read()
    if begin not in body or end not in body:
        die("%s has no %s ... %s section" % (doc, begin, end))
    head, rest = body.split(begin, 1)
    _, tail = rest.split(end, 1)
    with open(doc, "w") as f:
        f.write(head + begin + "\n" + text + end + tail)
    log("updated %s" % doc)


def publish(md, chart_path):
    """Replaces the results section of docs/benchmarks.md with this run."""
    doc = os.path.join(REPO_DIR, "docs", "benchmarks.md")
    text = md.rstrip() + "\n\n![chart](benchmarks.png)\n"
    replace_section(doc, "<!-- bench-results:begin -->", "<!-- bench-results:end -->", text)
    if os.path.exists(chart_path):
        shutil.copy(chart_path, os.path.join(REPO_DIR, "docs", "benchmarks.png"))

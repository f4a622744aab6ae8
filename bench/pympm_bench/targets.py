"""The goals issues set for the bench's figures, checked against a run:
issue 12's throughput ratios, issues 14's and 20's for ASGI, issue 21's
for WebSockets, issue 5's PyThreads latency one, and peak RSS per child
against mod_wsgi."""

from .report import fmt_ms, ratio

# Ratios issue 20 sets with each side's total RSS beside them: what a
# thread per request in flight costs mod_pympm against uvicorn's loops.
WITH_TOTAL_RSS = ("asgi-sleep", "asgi-io-512")


def total_mib(summary):
    """A deployment's total RSS in MiB, as the targets print it."""
    return "%.0f" % (summary["total_rss_kib"] / 1024) if summary and summary.get("total_rss_kib") else "?"


def speed_goals(scenarios):
    """(scenario, peer, least mod_pympm ÷ peer)."""
    goals = [("hello-prefork-2", "uwsgi", 1.0), ("hello-prefork-2", "floor", 0.85)]
    for s in scenarios:
        if s["app"] in ("bench/apps/hello.py", "bench/apps/body64k.py"):
            goals.append((s["name"], "nginx+uwsgi", 2.0 if s["mpm"] == "prefork" else 1.75))
            goals.append((s["name"], "nginx+gunicorn", 4.0))
    goals += [
        ("post-1m", "mod_wsgi", 1.1),
        ("post-1m", "nginx+uwsgi", 1.0),
        ("file-10m", "ceiling", 0.95),
        ("asgi-hello", "nginx+uvicorn", 1.5),
        # Issue 20: ASGI as close to httpd's floor as WSGI is, and far
        # ahead of the Apache shops' httpd + mod_proxy_http + uvicorn.
        ("asgi-hello", "floor", 0.8),
        ("asgi-hello", "httpd+uvicorn", 1.5),
        ("fastapi-json", "nginx+uvicorn", 1.0),
        ("asgi-sleep", "uvicorn", 0.9),
        ("asgi-io-512", "uvicorn", 0.9),
        ("ws-echo", "nginx+uvicorn", 1.0),
    ]
    return goals


def check(results):
    """The targets as measured in this run: [{target, measured, goal, met}]."""
    sc = {s["name"]: {e["label"]: e["summary"] for e in s["entries"] if e["summary"]} for s in results["scenarios"]}
    out = []

    def add(text, value, goal, ok):
        out.append({"target": text, "measured": value, "goal": goal, "met": ok})

    def rps(name, label):
        return sc.get(name, {}).get(label, {}).get("rps_median")

    for name, peer, goal in speed_goals(results["scenarios"]):
        r = ratio(rps(name, "mod_pympm"), rps(name, peer))
        if r is None:
            continue
        text, value = "%s: mod_pympm / %s" % (name, peer), "%.2f" % r
        if name in WITH_TOTAL_RSS:
            text += ", total RSS mod_pympm vs %s" % peer
            value += ", %s vs %s MiB" % (total_mib(sc[name]["mod_pympm"]), total_mib(sc[name][peer]))
        add(text, value, "≥ %.2f" % goal, r >= goal)
    # Issue 20: an ASGI hello against mod_pympm's own WSGI hello on the same
    # MPM, counts and connections (hello-event-2x16 is asgi-hello's twin).
    r = ratio(rps("asgi-hello", "mod_pympm"), rps("hello-event-2x16", "mod_pympm"))
    if r is not None:
        add("asgi-hello: mod_pympm ASGI / mod_pympm WSGI (hello-event-2x16)", "%.2f" % r, "≥ 0.90", r >= 0.9)
    for name, rows in sc.items():
        mine = [s["rss_peak_kib"] for label, s in rows.items() if label.startswith("mod_pympm") and s["rss_peak_kib"]]
        theirs = rows.get("mod_wsgi", {}).get("rss_peak_kib")
        if mine and theirs:
            add(
                "%s: peak RSS per child, mod_pympm vs mod_wsgi" % name,
                "%.1f vs %.1f MiB" % (max(mine) / 1024, theirs / 1024),
                "≤",
                max(mine) <= theirs,
            )
    # ws-idle (issue 21): every held connection served, RSS set against
    # bare uvicorn's.
    rows = sc.get("ws-idle", {})
    conns = {s["name"]: s["conns"] for s in results["scenarios"]}.get("ws-idle")
    mine, bare = rows.get("mod_pympm"), rows.get("uvicorn")
    if mine and conns:
        add(
            "ws-idle: echoes answered, total RSS mod_pympm vs uvicorn",
            "%.0f, %s vs %s MiB" % (mine["rps_min"], total_mib(mine), total_mib(bare)),
            "%d" % conns,
            mine["rps_min"] >= conns and not mine["errors"],
        )
    rows = sc.get("cpu-20ms", {})
    t1, t8 = rows.get("mod_pympm PyThreads 1"), rows.get("mod_pympm PyThreads 8")
    if t1 and t8:
        add(
            "cpu-20ms: p50 PyThreads 1 < PyThreads 8",
            "%s vs %s ms" % (fmt_ms(t1["p50_ms"]), fmt_ms(t8["p50_ms"])),
            "<",
            t1["p50_ms"] < t8["p50_ms"],
        )
    return out

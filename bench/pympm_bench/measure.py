"""Measuring: the entries of a scenario, one run of one entry (fresh
processes, a check of the answer, warm-up, the measured load, CPU, memory
and logs), and the interleaved rounds of a scenario with their summary.

A load generator (scenarios.Scenario.load) returns wrk's figures: requests,
duration_us, p50_us, p90_us, p99_us, max_us, mean_us, rps, errors (failed
requests) and closed (connections the server closed); the report reads
these."""

import contextlib
import os
import re
import shutil
import statistics
import threading
import time

from . import sampling, servers
from .console import log
from .process import free_port
from .report import fmt_ms


class Entry:
    """A server as it appears in a scenario's rotation (mod_pympm once per PyThreads)."""

    def __init__(self, server, py_threads=None, module=None):
        self.server, self.py_threads, self.module = server, py_threads, module
        self.label = server if py_threads is None else "%s PyThreads %d" % (server, py_threads)
        self.slug = self.label.replace(" ", "-").lower()
        self.rounds = []


def entries_for(sc, names, module, quick):
    out = []
    for name in names:
        d = servers.get(name)
        if d.can_run(sc):
            out += [Entry(name, pt, module) for pt in d.server.py_threads(sc, quick)]
    return out


# Crashes, app errors, and the errors of the fronts and peers: nginx
# ("[error] 123#123:"), mod_proxy(_uwsgi, _http), gunicorn ("[ERROR]",
# "[CRITICAL]"), uvicorn ("ERROR:    Exception in ASGI application").
BAD_LOG = re.compile(
    r"\[pympm:(?:error|crit)\]|AH00052|segfault|Segmentation fault|core dumped"
    r"|Traceback \(most recent call last\)"
    r"|\[(?:error|crit|alert|emerg)\] \d+#|\[proxy(?:_uwsgi|_http)?:error\]"
    r"|\[(?:ERROR|CRITICAL)\]|^(?:ERROR|CRITICAL): "
)


def log_problems(server, cut):
    """Bad lines of every log of the server, split at `cut` ({path: size}
    at the end of the measured run; None: the run did not get there)."""
    problems, at_stop = [], []
    for path, _ in server.log_files():
        if not os.path.exists(path):
            continue
        with open(path, "rb") as f:
            text = f.read()
        end = len(text) if cut is None else cut.get(path, 0)
        problems += [line for line in text[:end].decode(errors="replace").splitlines() if BAD_LOG.search(line)]
        at_stop += [line for line in text[end:].decode(errors="replace").splitlines() if BAD_LOG.search(line)]
    return problems, at_stop


def save_logs(server, logdir, entry, rnd):
    os.makedirs(logdir, exist_ok=True)
    for path, name in server.log_files():
        if os.path.exists(path) and os.path.getsize(path):
            shutil.copy(path, os.path.join(logdir, "%s-r%d.%s" % (entry.slug, rnd, name)))


def file_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


@contextlib.contextmanager
def alongside(during, server, seconds):
    """Runs a scenario's `during` on a thread while the body (the measured
    load) runs; its exception fails the run."""
    if during is None:
        yield
        return
    failed = []

    def target():
        try:
            during(server, seconds)
        except Exception as ex:
            failed.append(ex)

    thread = threading.Thread(target=target, name="during", daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join(timeout=seconds + 60)
    if thread.is_alive():
        raise RuntimeError("the scenario's `during` did not return")
    if failed:
        raise failed[0]


def one_run(entry, sc, tree, load, work, rnd, args):
    root = os.path.join(work, "srv", "%s-%s-r%d" % (sc.name, entry.slug, rnd))
    os.makedirs(root)
    os.chmod(root, 0o755)
    server = servers.get(entry.server).create(entry, sc, tree, root, free_port())
    result = {"round": rnd}
    if args.wait_quiet:
        result["busy_before"] = round(sampling.wait_quiet(args.wait_quiet), 2)
    log_end = None
    try:
        t0 = time.monotonic()
        server.start()
        server.wait_ready()
        result["startup_s"] = round(time.monotonic() - t0, 3)
        load.verify(sc, server.port, tree)
        duration = max(1, int(round(args.duration * sc.duration_factor)))
        if args.warmup > 0:
            load.run(sc, server.port, args.warmup, 1000 + rnd)
        pgids = server.pgids()
        cpu0 = sampling.cpu_snapshot(pgids)
        cs0 = sampling.voluntary_switches(pgids)
        with alongside(sc.during, server, duration):
            d = load.run(sc, server.port, duration, rnd)
        cs1 = sampling.voluntary_switches(pgids)
        cpu1 = sampling.cpu_snapshot(pgids)
        log_end = {path: file_size(path) for path, _ in server.log_files()}
        mem = sampling.memory(server)
        if not server.running():
            raise RuntimeError("%s died during the run\n%s" % (entry.label, server.logs()))
        result.update(
            rps=d["rps"],
            p50_ms=d["p50_us"] / 1000,
            p90_ms=d["p90_us"] / 1000,
            p99_ms=d["p99_us"] / 1000,
            max_ms=d["max_us"] / 1000,
            mean_ms=d["mean_us"] / 1000,
            requests=d["requests"],
            errors=d["errors"],
            cs_per_request=round((cs1 - cs0) / d["requests"], 2) if d["requests"] else None,
            wrk=d,
            **mem,
            **sampling.cpu_split(cpu0, cpu1, d["duration_us"] / 1e6),
        )
    finally:
        server.stop()
        # Problems up to the end of the measured run count against the
        # server; those while it stops are kept apart (wrk leaves requests
        # in flight when it exits, and some servers crash on SIGTERM then).
        problems, at_stop = log_problems(server, log_end)
        save_logs(server, os.path.join(args.out, "logs", sc.name), entry, rnd)
        if problems:
            result["log_problems"] = problems[:5]
        if at_stop:
            result["log_problems_at_stop"] = at_stop[:5]
    return result


def run_scenario(sc, entries, tree, load, work, args):
    """Every entry one at a time, in interleaved rounds (A B C A B C ...);
    returns the scenario's part of results.json."""
    log("== %s (%s, %s, %d connections)" % (sc.name, sc.title, sc.model, sc.conns))
    for rnd in range(1, args.rounds + 1):
        for e in entries:
            try:
                r = one_run(e, sc, tree, load, work, rnd, args)
                log(
                    "  r%d %-24s %9.0f %s  p50 %7s ms  p99 %7s ms  RSS %s MiB%s"
                    % (
                        rnd,
                        e.label,
                        r["rps"],
                        sc.unit,
                        fmt_ms(r["p50_ms"]),
                        fmt_ms(r["p99_ms"]),
                        "%.1f" % (r["rss_max_kib"] / 1024) if r["rss_max_kib"] else "?",
                        "  (%d errors)" % r["errors"] if r["errors"] else "",
                    )
                )
                if r.get("log_problems"):
                    log("     log: " + r["log_problems"][0][:200])
                if r.get("log_problems_at_stop"):
                    log("     log at stop: " + r["log_problems_at_stop"][0][:200])
            except Exception as ex:  # one server failing must not end the bench
                r = {"round": rnd, "error": str(ex)}
                log("  r%d %-24s FAILED: %s" % (rnd, e.label, ex))
            e.rounds.append(r)
    return {
        "name": sc.name,
        "title": sc.title,
        "model": sc.model,
        "mpm": sc.mpm,
        "interface": sc.interface,
        "procs": sc.procs,
        "threads": sc.threads,
        "conns": sc.conns,
        "think_ms": sc.think_ms,
        "load": sc.pacing,
        "path": sc.path,
        "unit": sc.unit,
        "ws_mode": sc.ws_mode,
        "app": "bench/apps/%s.py" % sc.app,
        "entries": [
            {
                "label": e.label,
                "server": e.server,
                "py_threads": e.py_threads,
                "summary": summarize(e),
                "rounds": e.rounds,
            }
            for e in entries
        ],
    }


def median_or_none(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(entry):
    ok = [r for r in entry.rounds if "rps" in r]
    if not ok:
        return None
    rss = [r["rss_max_kib"] for r in ok if r.get("rss_max_kib")]
    total_rss = [r["total_rss_kib"] for r in ok if r.get("total_rss_kib")]
    total_pss = [r["total_pss_kib"] for r in ok if r.get("total_pss_kib")]
    return {
        "rps_median": statistics.median(r["rps"] for r in ok),
        "rps_min": min(r["rps"] for r in ok),
        "rps_max": max(r["rps"] for r in ok),
        "p50_ms": statistics.median(r["p50_ms"] for r in ok),
        "p99_ms": statistics.median(r["p99_ms"] for r in ok),
        "rss_peak_kib": max(rss) if rss else None,
        "total_rss_kib": max(total_rss) if total_rss else None,
        "total_pss_kib": max(total_pss) if total_pss else None,
        "cpu_other": median_or_none(r.get("cpu_other") for r in ok),
        "cpu_server": median_or_none(r.get("cpu_server") for r in ok),
        "cs_per_request": median_or_none(r.get("cs_per_request") for r in ok),
        "errors": sum(r["errors"] for r in ok),
        "closed": sum(r["wrk"]["closed"] for r in ok),
        "rounds_ok": len(ok),
        "rounds": len(entry.rounds),
        "log_problems": sum(len(r.get("log_problems", [])) for r in entry.rounds),
    }

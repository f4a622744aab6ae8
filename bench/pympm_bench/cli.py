"""bench/run's command line: the options, then setting up, measuring every
chosen scenario and writing the report (or, with --report, only the
report)."""

import argparse
import datetime
import json
import os
import shlex
import shutil
import sys
import tempfile
import time

from . import build, host, measure, packages, report, servers, targets
from .chart import chart
from .console import die, log
from .scenarios import SCENARIOS
from .tree import Tree


def parse_args(doc):
    ap = argparse.ArgumentParser(
        description=doc.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="scenarios: " + ", ".join(s.name for s in SCENARIOS) + "\nservers: " + ", ".join(servers.NAMES),
    )
    ap.add_argument("--quick", action="store_true", help="4 scenarios, 2 rounds of 2 s (about 5 minutes)")
    ap.add_argument("--rounds", type=int, help="interleaved rounds per scenario (default 3, quick 2)")
    ap.add_argument("--duration", type=int, help="measured seconds per run (default 5, quick 2)")
    ap.add_argument("--warmup", type=int, help="warm-up seconds per run (default 1)")
    ap.add_argument("--only", help="comma-separated scenarios to run")
    ap.add_argument("--servers", default=",".join(servers.NAMES), help="comma-separated servers (default: all)")
    ap.add_argument("--out", help="results folder (default bench/results/<timestamp>)")
    ap.add_argument("--module", help="use this mod_pympm.so instead of building one")
    ap.add_argument(
        "--build-dir",
        default=os.path.join(host.BENCH_DIR, ".build"),
        help="where mod_pympm is built (default bench/.build)",
    )
    ap.add_argument(
        "--wrk-threads",
        type=int,
        default=1,
        help="wrk threads (default 1: on 2 cores wrk must not starve the server)",
    )
    ap.add_argument(
        "--cpu-load",
        choices=("burst", "poisson"),
        default="burst",
        help="cpu-20ms arrivals: all 8 clients at every 250 ms tick (default), "
        "or each after an exponential think time (mean 200 ms)",
    )
    ap.add_argument("--think-ms", type=int, help="cpu-20ms tick period (burst) or mean think time (poisson), ms")
    ap.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="SECONDS",
        help="before each run, wait up to SECONDS for other work on the machine to stop (default 0: do not wait)",
    )
    ap.add_argument("--no-install", action="store_true", help="never call apt-get")
    ap.add_argument(
        "--publish", action="store_true", help="write the results into docs/benchmarks.md and docs/benchmarks.png"
    )
    ap.add_argument("--keep", action="store_true", help="keep the temporary server roots")
    ap.add_argument(
        "--report",
        metavar="DIR",
        help="measure nothing: rewrite results.md and chart.png of DIR from its "
        "results.json (with --publish, also docs/benchmarks.md)",
    )
    args = ap.parse_args()
    # 0 is refused below, not taken for the default.
    args.rounds = (2 if args.quick else 3) if args.rounds is None else args.rounds
    args.duration = (2 if args.quick else 5) if args.duration is None else args.duration
    args.warmup = 1 if args.warmup is None else args.warmup
    chosen = []
    for s in args.servers.split(","):
        name = servers.resolve(s.strip())
        if name is None:
            ap.error("unknown server %r (choose from %s)" % (s.strip(), ", ".join(servers.NAMES)))
        chosen.append(name)
    args.server_list = [s for s in servers.NAMES if s in chosen]
    names = [s.name for s in SCENARIOS]
    if args.only:
        wanted = [w.strip() for w in args.only.split(",")]
        for w in wanted:
            if w not in names:
                ap.error("unknown scenario %r (choose from %s)" % (w, ", ".join(names)))
        args.scenarios = [s for s in SCENARIOS if s.name in wanted]
    else:
        args.scenarios = [s for s in SCENARIOS if s.quick or not args.quick]
    for s in SCENARIOS:
        if s.think_ms and args.cpu_load == "poisson":
            s.pacing, s.think_ms = "poisson", 200
        if s.think_ms and args.think_ms is not None:
            s.think_ms = args.think_ms
    if args.rounds < 1 or args.duration < 1:
        ap.error("--rounds and --duration must be at least 1")
    return args


def write_report(results, out, publish_docs):
    results["targets"] = targets.check(results)
    md = report.write(results, out)
    chart_path = os.path.join(out, "chart.png")
    try:
        chart(results, chart_path)
    except Exception as ex:
        log("chart failed: %s" % ex)
    if publish_docs:
        report.publish(md, chart_path)
    return md


def rewrite_report(args):
    """--report DIR: the report of a past run from its results.json."""
    with open(os.path.join(args.report, "results.json")) as f:
        results = json.load(f)
    for sc_res in results["scenarios"]:
        report.add_ratios(sc_res)
    print(write_report(results, args.report, args.publish))
    return 0


def meta(args, module, loads):
    versions = host.base_versions()
    if module:
        versions["mod_pympm"] = build.module_version()
    versions.update(servers.versions())
    for load in loads:
        versions.update(load.versions())
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": "bench/run" + "".join(" " + shlex.quote(a) for a in sys.argv[1:]),
        "machine": host.machine_info(),
        "versions": versions,
        # Other work on the machine skews results; say how busy it was.
        "loadavg_before": host.loadavg(),
        "settings": {
            "rounds": args.rounds,
            "duration": args.duration,
            "duration_cpu": int(round(args.duration * 1.6)),
            "cpu_load": args.cpu_load,
            "warmup": args.warmup,
            "wrk_threads": args.wrk_threads,
            "servers": args.server_list,
        },
    }


def main(doc):
    args = parse_args(doc)
    if args.report:
        return rewrite_report(args)
    if os.geteuid() != 0:
        die("run as root: httpd binds and drops to User nobody, and apt installs peers")
    os.umask(0o022)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    args.out = os.path.abspath(args.out or os.path.join(host.BENCH_DIR, "results", stamp))
    os.makedirs(args.out, exist_ok=True)
    # Only what the chosen scenarios run (uvicorn for asgi-*, uWSGI, ... for
    # the others).
    used = [servers.get(s) for s in args.server_list]
    used = [d for d in used if any(d.can_run(sc) for sc in args.scenarios)]
    load_classes = list(dict.fromkeys(sc.load for sc in args.scenarios))
    packages.ensure(used, load_classes, not args.no_install)
    module = None
    if "mod_pympm" in args.server_list:
        if args.module:
            module = os.path.abspath(args.module)
        else:
            module = build.build_module(args.build_dir, [s for s in servers.NAMES if s != "mod_pympm"])
        if not os.path.exists(module):
            die("no such module: " + module)
        log("mod_pympm: %s" % module)

    work = tempfile.mkdtemp(prefix="pympm-bench-")
    os.chmod(work, 0o755)
    tree = Tree(work, args.scenarios)
    # What a deployment needs compiled first: the floor's module, python3 on libpython.
    for name, attr, builder in (
        ("floor", "floor", build.build_floor),
        ("uvicorn-libpython", "libpython_python", build.build_libpython_launcher),
    ):
        if servers.get(name) in used:
            try:
                setattr(tree, attr, builder(work))
            except RuntimeError as ex:
                shutil.rmtree(work, ignore_errors=True)
                die(str(ex))
    loads = {cls: cls(work, args) for cls in load_classes}
    results = {"meta": meta(args, module, load_classes), "scenarios": []}
    plan = [(sc, measure.entries_for(sc, args.server_list, module, args.quick)) for sc in args.scenarios]
    nruns = sum(len(ents) for _, ents in plan) * args.rounds
    est = sum(len(ents) * (args.warmup + args.duration * sc.duration_factor + 1.5) for sc, ents in plan) * args.rounds
    log("%d scenarios, %d runs, about %.0f min; results in %s" % (len(plan), nruns, est / 60, args.out))
    started = time.monotonic()
    try:
        for sc, ents in plan:
            sc_res = measure.run_scenario(sc, ents, tree, loads[sc.load], work, args)
            report.add_ratios(sc_res)
            results["scenarios"].append(sc_res)
    except KeyboardInterrupt:
        log("interrupted: reporting what was measured")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log("server roots kept in " + work)
    results["meta"]["elapsed_s"] = round(time.monotonic() - started)
    md = write_report(results, args.out, args.publish)
    log("done in %.1f min: %s/results.md, results.json, chart.png" % (results["meta"]["elapsed_s"] / 60, args.out))
    print()
    print(md)
    failed = any(not e["summary"] for s in results["scenarios"] for e in s["entries"])
    return 1 if failed else 0

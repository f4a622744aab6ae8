"""CPU and memory of a deployment's processes, and of the machine, from /proc."""

import os
import resource
import time


def group_stats(pgids):
    """{pid: /proc/pid/stat fields after the command name} of every process
    in these process groups."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) in pgids:  # pgrp
            out[int(name)] = fields
    return out


def busy_seconds():
    """CPU seconds the whole machine spent busy so far (all but idle and iowait)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(pgids):
    """CPU seconds so far: whole machine (busy), every process of the server
    (all its process groups: nginx and uWSGI alike), and our reaped children
    (wrk)."""
    hz = os.sysconf("SC_CLK_TCK")
    server = sum(int(f[11]) + int(f[12]) for f in group_stats(pgids).values()) / hz  # utime + stime
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return busy_seconds(), server, ru.ru_utime + ru.ru_stime


def voluntary_switches(pgids):
    """Voluntary context switches so far of every thread of the server's
    processes (a thread that sleeps on a lock, a futex or epoll)."""
    total = 0
    for pid in group_stats(pgids):
        try:
            tids = os.listdir("/proc/%d/task" % pid)
        except OSError:
            continue
        for tid in tids:
            try:
                with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                    for line in f:
                        if line.startswith("voluntary_ctxt_switches:"):
                            total += int(line.split()[1])
                            break
            except OSError:
                continue
    return total


def cpu_split(a, b, seconds):
    """Cores used during the measured run by the server, by wrk, and by
    everything else on the machine (other work skews the result)."""
    busy, server, client = (y - x for x, y in zip(a, b))
    return {
        "cpu_server": round(server / seconds, 2),
        "cpu_wrk": round(client / seconds, 2),
        "cpu_other": round(max(0.0, busy - server - client) / seconds, 2),
    }


def proc_kib(pid, file, key):
    """A "Key: N kB" line of /proc/pid/<file> (None: gone or absent)."""
    try:
        with open("/proc/%d/%s" % (pid, file)) as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def pss_kib(pid):
    """Proportional set size: shared pages divided among their sharers."""
    return proc_kib(pid, "smaps_rollup", "Pss:")


def vm_hwm_kib(pid):
    return proc_kib(pid, "status", "VmHWM:")


def memory(server):
    """Peak RSS (VmHWM) and PSS of each worker, and of all processes of the
    server summed (httpd parent and children; nginx, uWSGI master and
    workers), at the end of a run."""
    workers = server.worker_pids()
    everyone = list(group_stats(server.pgids()))
    rss = [v for v in (vm_hwm_kib(p) for p in workers) if v]
    pss = [v for v in (pss_kib(p) for p in workers) if v]
    return {
        "workers": len(workers),
        "rss_kib": rss,
        "pss_kib": pss,
        "rss_max_kib": max(rss) if rss else None,
        "processes": len(everyone),
        "total_rss_kib": sum(v for v in (vm_hwm_kib(p) for p in everyone) if v) or None,
        "total_pss_kib": sum(v for v in (pss_kib(p) for p in everyone) if v) or None,
    }


def machine_busy(seconds=0.5):
    """Cores busy over a short window (nothing of ours runs between runs)."""
    a = busy_seconds()
    time.sleep(seconds)
    return (busy_seconds() - a) / seconds


def wait_quiet(limit_s, threshold=0.25):
    """Waits (at most limit_s) until other work leaves the machine idle."""
    deadline = time.monotonic() + limit_s
    busy = machine_busy()
    while busy > threshold and time.monotonic() < deadline:
        busy = machine_busy(1.0)
    return busy

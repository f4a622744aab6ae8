"""The machine the bench runs on: where the programs and the sources are, how
to call a program, and what the machine is (for the report)."""

import os
import re
import subprocess

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_DIR = os.path.dirname(BENCH_DIR)
APPS_SRC = os.path.join(BENCH_DIR, "apps")
FLOOR_SRC = os.path.join(BENCH_DIR, "floor", "mod_bench_floor.c")
LIBPYTHON_LAUNCHER_SRC = os.path.join(BENCH_DIR, "tools", "python_on_libpython.c")
PYTHON = "/usr/bin/python3"
HTTPD = "/usr/sbin/apache2"
HTTPD_MODULES = "/usr/lib/apache2/modules"
APXS = "/usr/bin/apxs"
MOD_WSGI = os.path.join(HTTPD_MODULES, "mod_wsgi.so")
UWSGI = "/usr/bin/uwsgi"
NGINX = "/usr/sbin/nginx"
WRK = "/usr/bin/wrk"
SETPRIV = "/usr/bin/setpriv"
PY_DIST = "/usr/lib/python3/dist-packages"
# The servers drop to this user and group, and read the served tree as them.
USER, GROUP = "nobody", "nogroup"


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, **kw)


def output(cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return (r.stdout + r.stderr).strip()
    except (OSError, subprocess.SubprocessError) as e:
        return "unavailable (%s)" % e


def dpkg_version(pkg):
    v = output(["dpkg-query", "-W", "-f=${Version}", pkg])
    return v if v and "no packages found" not in v else "not installed"


def base_versions():
    """httpd's and Python's: every deployment's (httpd runs the floor and
    the ceiling, Python every app)."""
    m = re.search(r"Server version:\s*(\S+)", output([HTTPD, "-v"]))
    return {
        "httpd": m.group(1) if m else "?",
        "Python": output([PYTHON, "-c", "import platform; print(platform.python_version())"]),
    }


def machine_info():
    cpu = "unknown"
    for line in output(["lscpu"]).splitlines():
        if line.startswith("Model name:"):
            cpu = line.split(":", 1)[1].strip()
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) / 1024 / 1024
    osname = "unknown"
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    osname = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "mem_gib": round(mem), "os": osname, "kernel": os.uname().release}


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[:3]

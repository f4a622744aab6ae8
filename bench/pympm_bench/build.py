"""Building what the bench runs from source: mod_pympm (Release, in its own
build dir), the floor module (bench/floor, with httpd's own compiler and
flags) and python3 on libpython (tools/python_on_libpython.c)."""

import os
import shlex
import subprocess

from .console import die, log
from .host import APXS, FLOOR_SRC, LIBPYTHON_LAUNCHER_SRC, PYTHON, REPO_DIR, output, run


def build_module(build_dir, others=()):
    """Builds mod_pympm in release mode in build_dir; returns the .so. `others`:
    the other servers, named in the advice when the build fails."""
    log("building mod_pympm (Release) in %s" % build_dir)
    cache = os.path.join(build_dir, "CMakeCache.txt")
    try:
        if not os.path.exists(cache):
            run(
                [
                    "cmake",
                    "-S",
                    REPO_DIR,
                    "-B",
                    build_dir,
                    "-DCMAKE_BUILD_TYPE=Release",
                    "-DPYMPM_BUILD_TESTS=OFF",
                    "-DPython3_EXECUTABLE=" + PYTHON,
                ],
                stdout=subprocess.DEVNULL,
            )
        run(
            ["cmake", "--build", build_dir, "-j", str(os.cpu_count() or 2), "--target", "mod_pympm"],
            stdout=subprocess.DEVNULL,
        )
    except subprocess.CalledProcessError:
        die("mod_pympm did not build (see above); benchmark the peers only with --servers " + ",".join(others))
    for dirpath, _, files in os.walk(build_dir):
        if "mod_pympm.so" in files:
            return os.path.join(dirpath, "mod_pympm.so")
    die("built, but no mod_pympm.so under " + build_dir)


def module_version():
    """The commit mod_pympm was built from, and whether its sources differ."""
    commit = output(["git", "-C", REPO_DIR, "rev-parse", "--short", "HEAD"])
    dirty = output(["git", "-C", REPO_DIR, "status", "--porcelain", "--", "module", "mpm_bridge"])
    return "git %s%s (Release)" % (commit, "+uncommitted" if dirty else "")


def build_floor(dest_dir):
    """Compiles bench/floor/mod_bench_floor.c with httpd's own compiler and
    flags (as apxs would, without its libtool droppings in the source tree)
    into dest_dir; returns the .so."""

    def apxs(var):
        return shlex.split(subprocess.run([APXS, "-q", var], capture_output=True, text=True, check=True).stdout)

    so = os.path.join(dest_dir, "mod_bench_floor.so")
    cmd = (
        apxs("CC")
        + apxs("CFLAGS")
        + apxs("EXTRA_CPPFLAGS")
        + apxs("EXTRA_INCLUDES")
        + ["-Wall", "-fPIC", "-shared", "-o", so, FLOOR_SRC]
    )
    try:
        run(cmd, stdout=subprocess.DEVNULL)
    except (OSError, subprocess.CalledProcessError):
        raise RuntimeError("the floor module did not build: " + " ".join(cmd))
    return so


def build_libpython_launcher(dest_dir):
    """Compiles tools/python_on_libpython.c into dest_dir: the python3
    command linked against the shared libpython that mod_pympm embeds
    (python3-config --embed); returns the program."""
    config = PYTHON + "-config"
    prog = os.path.join(dest_dir, "python3-on-libpython")
    cmd = ["gcc", "-O2", LIBPYTHON_LAUNCHER_SRC, "-o", prog]
    try:
        for flags in (["--includes"], ["--ldflags", "--embed"]):
            cmd += shlex.split(subprocess.run([config] + flags, capture_output=True, text=True, check=True).stdout)
        run(cmd, stdout=subprocess.DEVNULL)
    except (OSError, subprocess.CalledProcessError):
        raise RuntimeError("python3 on libpython did not build: " + " ".join(cmd))
    os.chmod(prog, 0o755)
    return prog

"""The Debian packages a run needs, installed with apt when missing.

A package is (name, a file that proves it is installed): cheaper and more
telling than asking dpkg. Each server class and load generator lists its own
(`packages`); COMMON are every run's."""

import os
import subprocess

from .console import die, log
from .host import HTTPD, run

COMMON = (
    ("apache2", HTTPD),
    ("python3-matplotlib", "/usr/lib/python3/dist-packages/matplotlib/__init__.py"),
)
# Packages whose installation starts a system daemon: the bench runs its own
# from generated configs, and a system nginx would sit on port 80 (which the
# packaging test's apache2 needs).
DAEMONS = ("nginx",)


def ensure(deployments, loads, install):
    """Installs what the deployments and the load generators (classes) need."""
    wanted = list(COMMON)
    for d in deployments:
        wanted += d.packages()
    for load in loads:
        wanted += load.packages
    needed = []
    for pkg, probe in wanted:
        if not os.path.exists(probe) and pkg not in needed:
            needed.append(pkg)
    if not needed:
        return
    if not install:
        die("missing packages: %s (drop --no-install to let the bench install them)" % " ".join(needed))
    log("installing with apt: " + " ".join(needed))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        run(["apt-get", "install", "-y", "--no-install-recommends"] + needed, env=env)
    except subprocess.CalledProcessError:
        run(["apt-get", "update"], env=env)
        run(["apt-get", "install", "-y", "--no-install-recommends"] + needed, env=env)
    for name in DAEMONS:
        if name in needed:
            disable_system_service(name)


def disable_system_service(name):
    """Stops and disables the daemon a package started on install."""
    if os.path.isdir("/run/systemd/system"):
        cmds = [["systemctl", "disable", "--now", name]]
    else:
        cmds = [["invoke-rc.d", name, "stop"], ["update-rc.d", name, "disable"]]
    for cmd in cmds:
        # Best effort: policy-rc.d may have kept it from starting at all.
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

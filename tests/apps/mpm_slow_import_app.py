"""mpm_stop_app (threads started, stop-waiter, on_stop, atexit) whose import
then takes 2 s when markers/slow exists: a child can be told to stop while
child_init is still importing the app (tests/e2e/test_mpm_stop.cpp). It
writes markers/importing.<pid> before the pause."""
import os
import time

import mpm_stop_app

application = mpm_stop_app.application

if os.path.exists(os.path.join(mpm_stop_app.MARKERS, "slow")):
    mpm_stop_app._mark("importing")
    time.sleep(2)

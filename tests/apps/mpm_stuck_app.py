"""mpm_stop_app plus a non-daemon thread "stuck-worker" that never ends and
ignores pympm.stopping: the child must log it with its stack and exit anyway
after PyShutdownTimeout (tests/e2e/test_mpm_stop.cpp)."""
import mpm_stop_app

mpm_stop_app.start_stuck_thread()
application = mpm_stop_app.application

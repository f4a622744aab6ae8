#include "config/effective_model.h"

#include <algorithm>

namespace pympm {

EffectiveModel compute_effective_model(const ChildSettings& settings, const MpmModel& mpm) {
    EffectiveModel m;
    const int tpc = mpm.threads_per_child > 0 ? mpm.threads_per_child : 1;
    m.enable_threads = settings.enable_threads;

    if (!settings.enable_threads && tpc > 1) {
        m.error = "PyEnableThreads Off needs exactly one request thread per child, but the " + mpm.name + " MPM runs " +
                  std::to_string(tpc) +
                  " threads per child (ThreadsPerChild); write PyEnableThreads On (with PyThreads 1 "
                  "to run one request in Python at a time), or set ThreadsPerChild 1, or use the "
                  "prefork MPM";
    }

    if (!settings.enable_threads && mpm.http2 && !m.error) {
        m.error = "PyEnableThreads Off cannot serve HTTP/2: mod_http2 runs each request on one of its own "
                  "worker threads (Protocols lists h2 or h2c), while Off keeps the GIL on the one request "
                  "thread of the child; write PyEnableThreads On (with PyThreads 1 to run one request in "
                  "Python at a time), or remove h2 and h2c from Protocols";
    }

    const bool asgi = std::any_of(settings.mounts.begin(), settings.mounts.end(), [](const Mount& mount) {
        return mount.target.interface == AppTarget::Interface::asgi;
    });
    if (!settings.enable_threads && asgi && !m.error) {
        m.error = "ASGI apps need PyEnableThreads On: their event loop runs on a thread of its own, which needs "
                  "the GIL between requests; write PyEnableThreads On (PyThreads 1 still runs one request in "
                  "the app at a time), or mount the app as WSGI";
    }

    if (settings.py_threads <= 0) {
        m.py_threads = tpc;
    } else if (settings.py_threads > tpc && mpm.http2) {
        // mod_http2's workers add request threads the MPM does not count.
        m.py_threads = settings.py_threads;
    } else if (settings.py_threads > tpc) {
        m.py_threads = tpc;
        if (!mpm.threaded || mpm.name == "prefork")
            m.warnings.push_back("PyThreads " + std::to_string(settings.py_threads) + " lowered to 1: the " + mpm.name +
                                 " MPM runs one request per child");
        else
            m.warnings.push_back("PyThreads " + std::to_string(settings.py_threads) + " lowered to " +
                                 std::to_string(tpc) + ": the " + mpm.name + " MPM runs only " + std::to_string(tpc) +
                                 " request threads per child (ThreadsPerChild)");
    } else {
        m.py_threads = settings.py_threads;
    }
    // With HTTP/2 the gate always runs: mod_http2's workers can bring more
    // requests at once than the MPM's threads.
    m.gate_needed = m.py_threads < tpc || mpm.http2;
    m.multithread = m.py_threads > 1;
    m.multiprocess = mpm.max_daemons > 1;
    return m;
}

std::string describe_model(const EffectiveModel& model, const MpmModel& mpm) {
    return "mpm=" + mpm.name + " threads_per_child=" + std::to_string(mpm.threads_per_child) +
           " py_threads=" + std::to_string(model.py_threads) +
           " enable_threads=" + (model.enable_threads ? "on" : "off") + (mpm.http2 ? " http2=on" : "");
}

} // namespace pympm

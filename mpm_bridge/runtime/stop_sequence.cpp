#include "runtime/stop_sequence.h"

#include "python/gil.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

namespace pympm {

StopWatchdog::StopWatchdog(std::chrono::milliseconds limit, LogSink& log, std::string what)
    : thread_([this, limit, &log, what = std::move(what)] {
          std::unique_lock lock(mutex_);
          if (cv_.wait_for(lock, limit, [this] { return done_; })) return;
          log.log(LogLevel::warning,
                  std::string(PYMPM_APLOGNO(00070)) + what + " did not finish within " + log_seconds(limit) +
                      " (an app thread keeps the GIL, or an on_stop callback, "
                      "atexit handler or the interpreter's finalisation blocks); the child exits now");
          ::_exit(0);
      }) {}

StopWatchdog::~StopWatchdog() {
    {
        std::lock_guard lock(mutex_);
        done_ = true;
    }
    cv_.notify_one();
    thread_.join();
}

std::thread start_stopper(const PympmModule& py, LogSink& log) {
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &previous);
    struct RestoreMask {
        sigset_t& previous;
        ~RestoreMask() { pthread_sigmask(SIG_SETMASK, &previous, nullptr); }
    } restore{previous};
    return std::thread([py = &py, log = &log] {
        GilAcquire gil;
        PyRef r = PyRef::steal(PyObject_CallNoArgs(py->signal_stopping.get()));
        if (!r) {
            std::string trace = take_python_error(*py);
            log->log(LogLevel::error, std::string(PYMPM_APLOGNO(00030)) + "signalling pympm.stopping failed: " + trace);
        }
    });
}

bool run_stop_steps(const PympmModule& py, double timeout_s, LogSink& log, std::string& stuck_names) {
    PYMPM_ASSERT_GIL();
    PyRef stuck = PyRef::steal(PyObject_CallFunction(py.shutdown.get(), "d", timeout_s));
    if (!stuck) {
        std::string trace = take_python_error(py);
        log.log(LogLevel::error, std::string(PYMPM_APLOGNO(00034)) + "the stop sequence failed: " + trace);
        return true;
    }
    if (!PyList_Check(stuck.get()) || PyList_GET_SIZE(stuck.get()) == 0) return true;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(stuck.get()); ++i) {
        const char* s = PyUnicode_AsUTF8(PyList_GET_ITEM(stuck.get(), i));
        if (!stuck_names.empty()) stuck_names += ", ";
        stuck_names += s ? s : "?";
    }
    PyErr_Clear();
    return false;
}

} // namespace pympm

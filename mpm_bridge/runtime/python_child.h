// The Python side of one httpd child, as the module sees it: no Python type
// or header comes through here (module/ must not depend on CPython's
// headers), only the calls httpd's hooks make. It owns the ChildRuntime.
#pragma once

#include "base/log.h"
#include "child/child_control.h"
#include "child/child_health.h"
#include "config/child_settings.h"
#include "config/effective_model.h"
#include "config/mpm_model.h"
#include "request/request_io.h"
#include "status/status_board.h"

#include <memory>

namespace pympm {

class ChildRuntime;

class PythonChild {
public:
    PythonChild(ChildSettings settings, MpmModel mpm, LogSink& log);
    ~PythonChild();
    PythonChild(const PythonChild&) = delete;
    PythonChild& operator=(const PythonChild&) = delete;

    // Before start(): the server's status board (null: none) and how to make
    // this child leave.
    void set_status_board(StatusBoard* board);
    void set_control(ChildControl* control);
    // child_init: starts Python, imports the apps, logs "child ready".
    void start(int generation);
    // Serves one request with the app at `app_index`. Returns 0 when a
    // response was sent, else the status for httpd to send.
    int handle(int app_index, RequestIO& io) noexcept;
    // child_stopping: pympm.stopping is set and on_stop callbacks run.
    void notify_stopping() noexcept;
    // Pool cleanup at child exit: the rest of the stop sequence.
    void shutdown() noexcept;
    // For SetHandler pympm-health, from any thread, without the GIL.
    ChildHealth health() const;
    const ChildSettings& settings() const;
    const EffectiveModel& model() const;
    // Safe to destroy: Python never started, or was finalised. Otherwise the
    // process is about to exit and the runtime's Python references must not
    // be released.
    bool disposable() const;

private:
    std::unique_ptr<ChildRuntime> runtime_;
};

} // namespace pympm

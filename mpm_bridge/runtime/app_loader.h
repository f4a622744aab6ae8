// The apps of a child: importing each (at child start, and again on a
// request after a failed import, one import at a time) and, for an ASGI app,
// checking it and running its lifespan startup on the child's event loop.
#pragma once

#include "asgi/asgi_context.h"
#include "base/log.h"
#include "config/app_target.h"
#include "python/interpreter.h"
#include "python/python_ref.h"

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

namespace pympm {

struct App {
    AppTarget target;
    std::string name; // "/mount=target" for logs
    PyRef callable;
    // One import at a time; requests that waited for one take its result
    // (success or failure) instead of importing again.
    std::unique_ptr<std::mutex> import_mutex = std::make_unique<std::mutex>();
    unsigned attempts = 0; // imports tried, under the GIL
    // ASGI: what its lifespan startup left, whether it failed, and whether
    // its scope's path leaves the mount out (old Starlette).
    PyRef lifespan_state;
    std::string lifespan_failure;
    bool path_without_mount = false;
    // Imported (and, for ASGI, its lifespan startup did not fail): what the
    // health endpoint reads without the GIL.
    std::unique_ptr<std::atomic<bool>> usable = std::make_unique<std::atomic<bool>>(false);
};

class AppLoader {
public:
    // `py` and `asgi` are the runtime's: an ASGI app's import starts the
    // event loop in `asgi`.
    AppLoader(const PympmModule& py, AsgiContext& asgi, LogSink& log) : py_(py), asgi_(asgi), log_(log) {}

    // Imports `app`, GIL held; false (logged) if it failed.
    bool import(App& app, bool at_startup);
    // The app's callable, imported first if an import failed before (one
    // import at a time); null if it fails again. GIL held.
    PyObject* callable(App& app);

private:
    // After an ASGI app's import: checks it and runs its lifespan startup.
    bool prepare_asgi(App& app, PyObject* callable);
    void log(LogLevel level, const std::string& message) { log_.log(level, message); }

    const PympmModule& py_;
    AsgiContext& asgi_;
    LogSink& log_;
};

} // namespace pympm

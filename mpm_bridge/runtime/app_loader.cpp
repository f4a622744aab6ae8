#include "runtime/app_loader.h"

#include "python/gil.h"
#include "runtime/app_interface_check.h"

#include <chrono>

namespace pympm {

bool AppLoader::import(App& app, bool at_startup) {
    PYMPM_ASSERT_GIL();
    const auto t0 = std::chrono::steady_clock::now();
    ++app.attempts;
    PyRef kind = PyRef::steal(PyUnicode_FromString(app.target.kind == AppTarget::Kind::script ? "script" : "module"));
    PyRef location = PyRef::steal(PyUnicode_DecodeFSDefault(app.target.location.c_str()));
    PyRef callable = PyRef::steal(PyUnicode_FromString(app.target.callable.c_str()));
    PyRef result;
    if (kind && location && callable)
        result = PyRef::steal(
            PyObject_CallFunctionObjArgs(py_.load_app.get(), kind.get(), location.get(), callable.get(), nullptr));
    if (!result) {
        std::string trace = take_python_error(py_);
        log(LogLevel::error, std::string(PYMPM_APLOGNO(00012)) + "could not import app " + app.name +
                                 (at_startup ? " at child start" : " on request") +
                                 "; its requests get 500 and the import is retried on the next one:");
        for_each_line(trace, [&](std::string_view line) {
            log(LogLevel::error, std::string(PYMPM_APLOGNO(00012)) + "  " + std::string(line));
        });
        return false;
    }
    if (app.target.interface == AppTarget::Interface::asgi && !prepare_asgi(app, result.get())) return false;
    if (app.target.interface == AppTarget::Interface::wsgi) {
        const std::string problem = asgi_app_mounted_as_wsgi(py_, result.get());
        if (!problem.empty()) {
            log(LogLevel::error, wsgi_mount_error(app.name.substr(0, app.name.find('=')), app.target.location,
                                                  app.target.callable, problem));
            return false;
        }
    }
    app.callable = result;
    app.usable->store(app.lifespan_failure.empty());
    log(LogLevel::info, std::string(PYMPM_APLOGNO(00011)) + "imported app " + app.name + " in " +
                            log_seconds(std::chrono::steady_clock::now() - t0));
    return true;
}

bool AppLoader::prepare_asgi(App& app, PyObject* callable) {
    PYMPM_ASSERT_GIL();
    PyRef part = load_asgi_part(py_);
    PyRef prepare = part ? PyRef::steal(PyObject_GetAttrString(part.get(), "_asgi_prepare")) : PyRef();
    PyRef name = PyRef::steal(PyUnicode_FromString(app.name.c_str()));
    PyRef r = prepare && name ? PyRef::steal(PyObject_CallFunctionObjArgs(prepare.get(), callable, name.get(), nullptr))
                              : PyRef();
    PyObject *problem = nullptr, *relative = nullptr, *outcome = nullptr, *detail = nullptr, *state = nullptr;
    std::string error;
    if (!r || !PyArg_ParseTuple(r.get(), "OOOOO", &problem, &relative, &outcome, &detail, &state)) {
        error = take_python_error(py_);
    } else if (problem != Py_None) {
        const char* text = PyUnicode_Check(problem) ? PyUnicode_AsUTF8(problem) : nullptr;
        error = text ? text : "not an ASGI app";
    } else if (!asgi_.start(py_, error)) {
        // logged below
    }
    if (!error.empty()) {
        PyErr_Clear();
        log(LogLevel::error, std::string(PYMPM_APLOGNO(00012)) + "could not use app " + app.name +
                                 " as ASGI; its requests get 500 and the import is retried on the next one: " + error);
        return false;
    }
    app.path_without_mount = PyObject_IsTrue(relative) == 1;
    const std::string how = PyUnicode_Check(outcome) ? PyUnicode_AsUTF8(outcome) : "";
    const std::string why = PyUnicode_Check(detail) ? PyUnicode_AsUTF8(detail) : "";
    PyErr_Clear();
    if (how == "complete") {
        app.lifespan_state = PyRef::borrow(state);
        log(LogLevel::info, std::string(PYMPM_APLOGNO(00071)) + "lifespan startup of " + app.name + " complete");
    } else if (how == "failed") {
        app.lifespan_failure = why.empty() ? "lifespan.startup.failed" : why;
        log(LogLevel::error, std::string(PYMPM_APLOGNO(00072)) + "lifespan startup of " + app.name +
                                 " failed: " + app.lifespan_failure + "; its requests get 500");
    } else {
        // Apps without lifespan support raise on its scope (the spec): fine.
        log(LogLevel::info, std::string(PYMPM_APLOGNO(00073)) + "app " + app.name +
                                " does not take part in ASGI lifespan (" + why + ")");
    }
    if (app.path_without_mount)
        log(LogLevel::info, std::string(PYMPM_APLOGNO(00076)) + "app " + app.name +
                                " uses Starlette before 0.35, which routes on a path without its mount: its scope's "
                                "path leaves the mount out (root_path has it)");
    return true;
}

PyObject* AppLoader::callable(App& app) {
    PYMPM_ASSERT_GIL();
    if (app.callable) return app.callable.get();
    // The import is retried on a request. Two at once would each see the
    // other's half-executed module in sys.modules.
    const unsigned seen = app.attempts;
    lock_without_gil(*app.import_mutex); // the importer needs the GIL
    std::lock_guard lock(*app.import_mutex, std::adopt_lock);
    if (!app.callable && app.attempts == seen) import(app, false);
    return app.callable.get();
}

} // namespace pympm

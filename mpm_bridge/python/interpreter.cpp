#include "python/interpreter.h"

#include "pympm_asgi_source.h"
#include "pympm_bootstrap_source.h"
#include "base/request_log.h"
#include "python/eager_task.h"
#include "python/py_err_scope.h"
#include "python/python_entry.h"
#include "python/thread_binding.h"

#include <atomic>
#include <csignal>
#include <sys/stat.h>
#include <unistd.h>

#ifndef PYMPM_PYTHON_EXECUTABLE
#define PYMPM_PYTHON_EXECUTABLE ""
#endif

namespace pympm {

namespace {

LogSink* g_log = nullptr;

PyObject* native_log(PyObject*, PyObject* args) {
    return python_entry([&]() -> PyObject* {
        int level = 0;
        const char* text = nullptr;
        Py_ssize_t len = 0;
        if (!PyArg_ParseTuple(args, "is#", &level, &text, &len)) return nullptr;
        if (level < 0) level = 0;
        if (level > 7) level = 7;
        LogSink* sink = ThreadRequestLog::current(); // the request this thread runs the app for
        if (!sink) sink = g_log;
        if (sink) sink->log(static_cast<LogLevel>(level), std::string_view(text, static_cast<std::size_t>(len)));
        Py_RETURN_NONE;
    });
}

// Filled by the runtime (gate statistics live in C++).
PyObject* (*g_gate_stats)() = nullptr;

PyObject* native_gate_stats(PyObject*, PyObject*) {
    return python_entry([]() -> PyObject* { return g_gate_stats ? g_gate_stats() : PyDict_New(); });
}

// pympm._load_asgi: executes the ASGI part into a fresh module _pympm_asgi
// (in sys.modules) and returns it. Called once, under the part's lock.
PyObject* native_exec_asgi(PyObject*, PyObject*) {
    return python_entry([]() -> PyObject* {
        PyRef module = PyRef::steal(PyModule_New("_pympm_asgi"));
        if (!module) return nullptr;
        PyObject* dict = PyModule_GetDict(module.get()); // borrowed
        if (PyDict_SetItemString(dict, "__builtins__", PyEval_GetBuiltins()) != 0) return nullptr;
        PyRef code = PyRef::steal(Py_CompileString(kPympmAsgiSource, "<pympm_asgi>", Py_file_input));
        PyRef res = code ? PyRef::steal(PyEval_EvalCode(code.get(), dict, dict)) : PyRef();
        if (!res || PyDict_SetItemString(PyImport_GetModuleDict(), "_pympm_asgi", module.get()) != 0) return nullptr;
        return module.release();
    });
}

PyMethodDef native_methods[] = {{"log", native_log, METH_VARARGS, "log(level, text): one line to httpd's error log"},
                                {"gate_stats", native_gate_stats, METH_NOARGS, "PyThreads gate counters"},
                                {"exec_asgi", native_exec_asgi, METH_NOARGS, "executes pympm's ASGI part"},
                                {"eager_task_starter", native_eager_task_starter, METH_O,
                                 "eager_task_starter(loop): start(coro) -> task, its first step run now; or None"},
                                {nullptr, nullptr, 0, nullptr}};

PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT, "_pympm", "mod_pympm internals", -1, native_methods, nullptr, nullptr, nullptr, nullptr};

PyObject* init_native() { return PyModule_Create(&native_module); }

bool file_exists(const std::string& p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0;
}

std::string status_message(const PyStatus& st, const char* what) {
    std::string m = what;
    if (st.func) m += std::string(" (") + st.func + ")";
    if (st.err_msg) m += std::string(": ") + st.err_msg;
    return m;
}

} // namespace

void set_gate_stats_provider(PyObject* (*fn)()) { g_gate_stats = fn; }

PythonStart start_python(const ChildSettings& settings, LogSink& log) {
    PythonStart result;
    g_log = &log;
    if (PyImport_AppendInittab("_pympm", init_native) != 0) {
        result.error = "could not register the _pympm module";
        return result;
    }
    {
        PyPreConfig pre;
        PyPreConfig_InitIsolatedConfig(&pre);
        // An isolated pre-configuration ignores the locale: in httpd's C
        // locale text would be ASCII. UTF-8 mode is what python3 itself uses
        // there (PEP 540); Off takes the encoding of the locale that httpd's
        // environment names (LANG, LC_ALL, LC_CTYPE).
        pre.utf8_mode = settings.utf8_mode ? 1 : 0;
        if (!settings.utf8_mode) pre.configure_locale = 1;
#ifdef PYMPM_SANITIZE_BUILD
        // Python objects come from malloc, not from pymalloc's arenas, so
        // that ASan sees every use after free of one.
        pre.allocator = PYMEM_ALLOCATOR_MALLOC;
#endif
        PyStatus pst = Py_PreInitialize(&pre);
        if (PyStatus_Exception(pst)) {
            result.error = status_message(pst, "Python failed to pre-initialise");
            return result;
        }
    }
    PyConfig config;
    PyConfig_InitIsolatedConfig(&config);
    config.install_signal_handlers = 0; // httpd owns the signals
    config.parse_argv = 0;
    config.configure_c_stdio = 0;
    config.pathconfig_warnings = 0;

    auto fail = [&](const PyStatus& st, const char* what) {
        result.error = status_message(st, what);
        PyConfig_Clear(&config);
        return result;
    };

    PyStatus st;
    if (!settings.home.empty() && file_exists(settings.home + "/pyvenv.cfg")) {
        // A virtual environment: Python finds the base install through
        // pyvenv.cfg next to the venv's interpreter.
        std::string exe = settings.home + "/bin/python3";
        st = PyConfig_SetBytesString(&config, &config.program_name, exe.c_str());
        if (PyStatus_Exception(st)) return fail(st, "setting program_name");
    } else if (!settings.home.empty()) {
        st = PyConfig_SetBytesString(&config, &config.home, settings.home.c_str());
        if (PyStatus_Exception(st)) return fail(st, "setting home");
    } else if (*PYMPM_PYTHON_EXECUTABLE) {
        // sys.executable is the Python the module was built for (httpd's own
        // binary would be useless to subprocess or multiprocessing).
        st = PyConfig_SetBytesString(&config, &config.program_name, PYMPM_PYTHON_EXECUTABLE);
        if (PyStatus_Exception(st)) return fail(st, "setting program_name");
    }
    char arg0[] = "mod_pympm";
    char* argv[] = {arg0, nullptr};
    st = PyConfig_SetBytesArgv(&config, 1, argv);
    if (PyStatus_Exception(st)) return fail(st, "setting argv");

    st = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(st)) {
        result.error = status_message(st, "Python failed to start");
        return result;
    }
    thread_binding::python_started();

    result.version = std::to_string(PY_MAJOR_VERSION) + "." + std::to_string(PY_MINOR_VERSION) + "." +
                     std::to_string(PY_MICRO_VERSION);
    PyObject* prefix = PySys_GetObject("prefix"); // borrowed
    if (prefix && PyUnicode_Check(prefix)) {
        const char* p = PyUnicode_AsUTF8(prefix);
        if (p) result.home = p;
    }
    PyErr_Clear();

    // PyPath: prepended in the order given.
    PyObject* path = PySys_GetObject("path"); // borrowed
    if (path && PyList_Check(path)) {
        Py_ssize_t at = 0;
        for (const auto& dir : settings.python_path) {
            PyRef d = PyRef::steal(PyUnicode_DecodeFSDefault(dir.c_str()));
            if (!d || PyList_Insert(path, at++, d.get()) != 0) PyErr_Clear();
        }
    }
    result.ok = true;
    return result;
}

bool load_pympm_module(PympmModule& out, std::string& error) {
    PYMPM_ASSERT_GIL();
    PyRef module = PyRef::steal(PyModule_New("pympm"));
    if (!module) {
        error = "could not create the pympm module";
        PyErr_Clear();
        return false;
    }
    PyObject* dict = PyModule_GetDict(module.get()); // borrowed
    PyDict_SetItemString(dict, "__builtins__", PyEval_GetBuiltins());
    PyRef code = PyRef::steal(Py_CompileString(kPympmBootstrapSource, "<pympm>", Py_file_input));
    PyRef res = code ? PyRef::steal(PyEval_EvalCode(code.get(), dict, dict)) : PyRef();
    if (!res) {
        PyErrScope failure;
        error = "the pympm bootstrap failed: " + failure.message();
        failure.discard();
        return false;
    }
    PyObject* modules = PyImport_GetModuleDict(); // borrowed
    PyDict_SetItemString(modules, "pympm", module.get());

    auto get = [&](const char* name) { return PyRef::borrow(PyDict_GetItemString(dict, name)); };
    out.module = module;
    out.load_app = get("_load_app");
    out.format_exception = get("_format_exception");
    out.signal_stopping = get("_signal_stopping");
    out.shutdown = get("_shutdown");
    out.file_wrapper = get("FileWrapper");
    out.client_disconnected = get("ClientDisconnected");
    out.request_body_error = get("RequestBodyError");
    out.request_timeout = get("RequestTimeout");
    out.thread_stack = get("_thread_stack");
    out.child_info = get("_child_info");
    out.load_asgi = get("_load_asgi");
    PyRef log_stream = get("_log_stream");

    // sys.stdout at notice, sys.stderr and wsgi.errors at error (mod_wsgi: all at error);
    // their fileno() is the descriptor the module points at the error log.
    auto make_stream = [&](LogLevel level, const char* name, int fd) {
        if (!log_stream) return PyRef();
        return PyRef::steal(PyObject_CallFunction(log_stream.get(), "isi", static_cast<int>(level), name, fd));
    };
    PyRef out_stream = make_stream(LogLevel::notice, "<stdout>", STDOUT_FILENO);
    PyRef err_stream = make_stream(LogLevel::error, "<stderr>", STDERR_FILENO);
    out.errors_stream = make_stream(LogLevel::error, "wsgi.errors", STDERR_FILENO);
    if (!out_stream || !err_stream || !out.errors_stream || !out.load_app || !out.shutdown || !out.request_timeout ||
        !out.thread_stack || !out.load_asgi) {
        error = "the pympm bootstrap is incomplete";
        PyErr_Clear();
        return false;
    }
    PySys_SetObject("stdout", out_stream.get());
    PySys_SetObject("stderr", err_stream.get());
    PySys_SetObject("__stdout__", out_stream.get());
    PySys_SetObject("__stderr__", err_stream.get());
    return true;
}

PyRef load_asgi_part(const PympmModule& m) {
    PYMPM_ASSERT_GIL();
    if (!m.load_asgi) {
        PyErr_SetString(PyExc_RuntimeError, "the pympm module is not loaded");
        return PyRef();
    }
    return PyRef::steal(PyObject_CallNoArgs(m.load_asgi.get()));
}

std::string take_python_error(const PympmModule& m) {
    PYMPM_ASSERT_GIL();
    PyErrScope pending;
    if (!pending) return "(no Python exception)";
    PyObject* value = pending.value();
    std::string text;
    if (m.format_exception) {
        PyRef tb = PyRef::steal(PyException_GetTraceback(value));
        PyRef s = PyRef::steal(PyObject_CallFunctionObjArgs(m.format_exception.get(),
                                                            reinterpret_cast<PyObject*>(Py_TYPE(value)), value,
                                                            tb ? tb.get() : Py_None, nullptr));
        if (s) {
            const char* u = PyUnicode_AsUTF8(s.get());
            if (u) text = u;
        }
        PyErr_Clear();
    }
    if (text.empty()) text = pending.message("(unprintable exception)");
    pending.discard();
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return text;
}

} // namespace pympm

#include "embedded_python.h"

#include "config/child_settings.h"
#include "python/interpreter.h"
#include "python/py_err_scope.h"
#include "python/thread_binding.h"
#include "wsgi/wsgi_request.h"

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>

using namespace pympm;

namespace pympm_test {

void RecordingLogSink::log(LogLevel level, std::string_view message) {
    std::lock_guard lock(mutex_);
    lines_.emplace_back(level, std::string(message));
}

std::size_t RecordingLogSink::mark() const {
    std::lock_guard lock(mutex_);
    return lines_.size();
}

bool RecordingLogSink::logged_since(std::size_t mark, LogLevel level, std::string_view needle) const {
    std::lock_guard lock(mutex_);
    for (std::size_t i = mark; i < lines_.size(); ++i)
        if (lines_[i].first == level && lines_[i].second.find(needle) != std::string::npos) return true;
    return false;
}

namespace {

[[noreturn]] void give_up(const std::string& why) {
    // Nothing Python can be tested: say why once, not in every test.
    std::fprintf(stderr, "unit tests: the embedded interpreter could not start: %s\n", why.c_str());
    std::abort();
}

} // namespace

EmbeddedPython::EmbeddedPython() {
    // As ChildRuntime::start: the interpreter, the pympm module, the WSGI
    // context, then PyEnableThreads On (requests release the GIL while they
    // block) and the GIL let go for the request threads.
    ChildSettings settings;
    PythonStart ps = start_python(settings, log);
    if (!ps.ok) give_up(ps.error);
    std::string error;
    if (!load_pympm_module(ctx.py, error) || !wsgi.init(ctx.py, /*multithread=*/true, /*multiprocess=*/true, error))
        give_up(error);
    ctx.release_gil = true;
    thread_binding::release();
}

EmbeddedPython& EmbeddedPython::get() {
    // Made once and never destroyed: it owns Python objects, which must not
    // be let go of after the interpreter stops caring (at exit, without the
    // GIL).
    static EmbeddedPython* const instance = new EmbeddedPython();
    return *instance;
}

PyRef python_eval(std::string_view expression) {
    PyRef globals = PyRef::steal(PyDict_New());
    if (!globals || PyDict_SetItemString(globals.get(), "__builtins__", PyEval_GetBuiltins()) != 0) {
        BOOST_ERROR("python_eval: no namespace: " << take_exception());
        return PyRef();
    }
    const std::string code(expression);
    PyRef value = PyRef::steal(PyRun_String(code.c_str(), Py_eval_input, globals.get(), globals.get()));
    if (!value) BOOST_ERROR("python_eval(" << code << ") raised " << take_exception());
    return value;
}

std::string take_exception() {
    PyErrScope pending;
    if (!pending) return "";
    std::string out = std::string(pending.type_name()) + ": " + pending.message();
    pending.discard();
    return out;
}

namespace {

std::atomic<int> g_apps{0};

// textwrap.dedent, so that a test's source can be indented with the test.
std::string dedent(std::string_view source) {
    PyRef textwrap = PyRef::steal(PyImport_ImportModule("textwrap"));
    PyRef text = PyRef::steal(PyUnicode_FromStringAndSize(source.data(), static_cast<Py_ssize_t>(source.size())));
    PyRef out =
        textwrap && text ? PyRef::steal(PyObject_CallMethod(textwrap.get(), "dedent", "O", text.get())) : PyRef();
    const char* s = out ? PyUnicode_AsUTF8(out.get()) : nullptr;
    if (!s) {
        PyErr_Clear();
        return std::string(source);
    }
    return s;
}

} // namespace

WsgiApp::WsgiApp(std::string_view source, const char* callable)
    : name_("/t=test_app_" + std::to_string(++g_apps) + ".py") {
    with_python([&] {
        const std::string file = "<" + name_.substr(3) + ">";
        PyRef module = PyRef::steal(PyModule_New(file.c_str()));
        PyObject* globals = module ? PyModule_GetDict(module.get()) : nullptr; // borrowed
        PyRef code;
        if (globals && PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins()) == 0)
            code = PyRef::steal(Py_CompileString(dedent(source).c_str(), file.c_str(), Py_file_input));
        PyRef ran = code ? PyRef::steal(PyEval_EvalCode(code.get(), globals, globals)) : PyRef();
        PyObject* app = ran ? PyDict_GetItemString(globals, callable) : nullptr; // borrowed
        if (!app) {
            const std::string error = take_exception();
            BOOST_FAIL("the test app did not load: " << (error.empty() ? std::string("no ") + callable : error));
        }
        globals_ = PyRef::borrow(globals);
        callable_ = PyRef::borrow(app);
    });
}

WsgiApp::~WsgiApp() {
    with_python([&] {
        callable_.reset();
        globals_.reset();
    });
}

int WsgiApp::run(FakeRequestIO& io) {
    EmbeddedPython& py = EmbeddedPython::get();
    return with_python([&] {
        int status;
        {
            WsgiRequest req(py.ctx, py.wsgi, io, name_);
            status = req.run(callable_.get());
        }
        if (PyErr_Occurred()) BOOST_ERROR("the request left a Python exception pending: " << take_exception());
        return status;
    });
}

std::string WsgiApp::eval(std::string_view expression) {
    return with_python([&]() -> std::string {
        const std::string code(expression);
        PyRef value = PyRef::steal(PyRun_String(code.c_str(), Py_eval_input, globals_.get(), globals_.get()));
        PyRef text = value ? PyRef::steal(PyObject_Str(value.get())) : PyRef();
        const char* s = text ? PyUnicode_AsUTF8(text.get()) : nullptr;
        if (!s) {
            BOOST_ERROR("eval(" << code << ") raised " << take_exception());
            return "";
        }
        return s;
    });
}

} // namespace pympm_test

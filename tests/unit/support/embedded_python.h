// CPython inside the unit-test binary, started the way a child starts it
// (runtime/child_runtime.cpp, ChildRuntime::start): start_python with a
// test ChildSettings, the pympm module, the WSGI context, PyEnableThreads
// On, and the GIL let go until a request takes it. It starts on first use
// (tests that need no Python pay nothing) and is never finalised: like a
// child that exits without finalising, the process ends with it.
//
// A test defines its app inline and runs requests through a FakeRequestIO,
// as a request thread would (admission/request_admission.h takes the GIL):
//
//     WsgiApp app(R"(
//         def application(environ, start_response):
//             start_response("200 OK", [("Content-Type", "text/plain")])
//             return [b"hello"]
//     )");
//     FakeRequestIO io({.target = "/x"});
//     BOOST_TEST(app.run(io) == 0);
//     BOOST_TEST(io.body() == "hello");
#pragma once

#include "fake_request_io.h"

#include "admission/request_admission.h"
#include "base/log.h"
#include "python/python_ref.h"
#include "request/request_context.h"
#include "wsgi/wsgi_context.h"

#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace pympm_test {

// The child's log away from requests: print(), sys.stderr, wsgi.errors.
class RecordingLogSink final : public pympm::LogSink {
public:
    void log(pympm::LogLevel level, std::string_view message) override;
    // Lines logged so far (a mark for logged_since).
    std::size_t mark() const;
    bool logged_since(std::size_t mark, pympm::LogLevel level, std::string_view needle) const;

private:
    mutable std::mutex mutex_;
    std::vector<std::pair<pympm::LogLevel, std::string>> lines_;
};

class EmbeddedPython {
public:
    // Starts CPython on the first call, which must come from the test's
    // main thread (the one a child starts Python on).
    static EmbeddedPython& get();

    RecordingLogSink log;
    pympm::RequestContext ctx;
    pympm::WsgiContext wsgi;

private:
    EmbeddedPython();
};

// Runs `f()` with the GIL, taken as a request thread takes it (a
// RequestAdmission without a PyThreads gate). Python objects `f` makes must
// die inside it: it returns C++ values only.
template <class F>
decltype(auto) with_python(F&& f);

// Inside with_python: the value of a Python expression (a message, a
// header list), evaluated in a fresh namespace; fails the test on an error.
pympm::PyRef python_eval(std::string_view expression);
// Inside with_python: the pending exception as "TypeName: message", cleared
// ("" when none).
std::string take_exception();

// A WSGI app from Python source (indented as it reads best: the source is
// dedented), executed into a fresh module of its own.
class WsgiApp {
public:
    explicit WsgiApp(std::string_view source, const char* callable = "application");
    ~WsgiApp();
    WsgiApp(const WsgiApp&) = delete;
    WsgiApp& operator=(const WsgiApp&) = delete;

    // Serves one request as ChildRuntime::serve does; returns the handler
    // status (0: a response went out, else the status for httpd to send).
    // Fails the test if a Python exception is left pending.
    int run(FakeRequestIO& io);
    // str() of an expression evaluated in the app's module (its globals).
    std::string eval(std::string_view expression);
    // As the app is named in log lines.
    const std::string& name() const { return name_; }

private:
    std::string name_;
    pympm::PyRef globals_;
    pympm::PyRef callable_;
};

template <class F>
decltype(auto) with_python(F&& f) {
    EmbeddedPython::get();
    pympm::RequestAdmission admission(nullptr, false);
    return f();
}

} // namespace pympm_test

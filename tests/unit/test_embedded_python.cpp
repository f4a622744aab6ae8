// The unit tier's embedded interpreter and fake request: a request runs
// through the real WSGI core as a request thread runs it.
#include "embedded_python.h"
#include "fake_request_io.h"

#include "python/interpreter.h"

#include <boost/test/unit_test.hpp>

#if defined(__SANITIZE_ADDRESS__)
// The sanitizer allocator's (compiler-rt's allocator_interface.h, which gcc
// does not install): whether `p` is a block ASan's malloc handed out.
extern "C" int __sanitizer_get_ownership(const volatile void* p);
#endif

using namespace pympm;
using namespace pympm_test;

BOOST_AUTO_TEST_SUITE(embedded_python)

BOOST_AUTO_TEST_CASE(a_request_runs_through_the_wsgi_core) {
    WsgiApp app(R"(
        def application(environ, start_response):
            body = ("%s %s%s?%s" % (environ["REQUEST_METHOD"], environ["SCRIPT_NAME"], environ["PATH_INFO"],
                                     environ["QUERY_STRING"])).encode()
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [body]
    )");
    FakeRequestIO io({.mount = "/m", .target = "/x/y?a=1"});
    BOOST_TEST(app.run(io) == 0);
    BOOST_TEST(io.status() == 200);
    BOOST_TEST(io.header("Content-Type") == "text/plain");
    BOOST_TEST(io.header("Content-Length") == "14", "a list's length is declared");
    BOOST_TEST(io.body() == "GET /m/x/y?a=1");
    BOOST_TEST(io.finished());
    BOOST_TEST(!io.aborted());
    BOOST_TEST((io.calls() == std::vector<std::string>{"head", "body:last:14", "finish"}));
    BOOST_TEST(io.logs().empty(), io.log_text());
}

BOOST_AUTO_TEST_CASE(print_goes_to_the_childs_log) {
    WsgiApp app(R"(
        import sys
        def application(environ, start_response):
            print("unit-test-stdout-marker")
            sys.stderr.write("unit-test-stderr-marker\n")
            environ["wsgi.errors"].write("unit-test-errors-marker\n")
            start_response("204 No Content", [])
            return []
    )");
    FakeRequestIO io;
    const std::size_t mark = EmbeddedPython::get().log.mark();
    BOOST_TEST(app.run(io) == 0);
    const RecordingLogSink& log = EmbeddedPython::get().log;
    BOOST_TEST(log.logged_since(mark, LogLevel::notice, "unit-test-stdout-marker"));
    BOOST_TEST(log.logged_since(mark, LogLevel::error, "unit-test-stderr-marker"));
    BOOST_TEST(log.logged_since(mark, LogLevel::error, "unit-test-errors-marker"));
}

BOOST_AUTO_TEST_CASE(the_asgi_part_loads_once_with_what_the_cpp_side_looks_up) {
    with_python([] {
        const PympmModule& py = EmbeddedPython::get().ctx.py;
        PyRef part = load_asgi_part(py);
        BOOST_TEST_REQUIRE(static_cast<bool>(part), take_exception());
        BOOST_TEST(load_asgi_part(py).get() == part.get(), "loaded once");
        PyObject* modules = PyImport_GetModuleDict(); // borrowed
        BOOST_TEST(PyDict_GetItemString(modules, "_pympm_asgi") == part.get());
        // AsgiContext::start and ChildRuntime's ASGI app preparation look
        // these up in the part; the core's stop sequence calls the rest.
        for (const char* name :
             {"_asgi_start_loop", "_asgi_serve", "_asgi_track", "_asgi_resolve", "_asgi_reject", "_asgi_task_stack",
              "_asgi_prepare", "_asgi_shutdown", "_wake_async_waiters", "_run_async_callback", "wait_stopping"})
            BOOST_TEST(PyObject_HasAttrString(part.get(), name) == 1, name);
        // pympm.wait_stopping stays a coroutine function of the core module.
        PyRef core_wait = PyRef::steal(PyObject_GetAttrString(py.module.get(), "wait_stopping"));
        BOOST_TEST_REQUIRE(static_cast<bool>(core_wait), take_exception());
        PyRef code = PyRef::steal(PyObject_GetAttrString(core_wait.get(), "__code__"));
        PyRef flags = code ? PyRef::steal(PyObject_GetAttrString(code.get(), "co_flags")) : PyRef();
        BOOST_TEST_REQUIRE(static_cast<bool>(flags), take_exception());
        BOOST_TEST((PyLong_AsLong(flags.get()) & CO_COROUTINE) != 0);
    });
}

#if defined(__SANITIZE_ADDRESS__)
// PYMPM_SANITIZE_BUILD: start_python gives CPython plain malloc, so that
// ASan sees every Python object; the unit tier's interpreter must too.
BOOST_AUTO_TEST_CASE(python_objects_come_from_malloc_under_asan) {
    const bool owned = with_python([] {
        void* p = PyObject_Malloc(24);
        const bool asan_owns = __sanitizer_get_ownership(p) != 0;
        PyObject_Free(p);
        return asan_owns;
    });
    BOOST_TEST(owned, "a small Python allocation is not ASan's: pymalloc is in use");
}
#endif

BOOST_AUTO_TEST_SUITE_END()

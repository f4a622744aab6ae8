// The C-API guards of python/: PyErrScope (the pending exception held by
// C++ for a scope) and lock_without_gil (a mutex whose holder needs the GIL
// to let it go). PYMPM_ASSERT_GIL's abort is in test_lock_order.cpp, with
// the checker's other aborts.
#include "embedded_python.h"

#include "python/gil.h"
#include "python/py_err_scope.h"
#include "python/python_ref.h"

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

using namespace pympm;
using namespace pympm_test;

namespace {

// Raises `exception` (a Python expression) from a Python function, so that
// it has a traceback.
void raise_from_python(const char* exception) {
    PyRef globals = PyRef::steal(PyDict_New());
    PyDict_SetItemString(globals.get(), "__builtins__", PyEval_GetBuiltins());
    const std::string code = std::string("def raiser():\n    raise ") + exception + "\nraiser()\n";
    PyRef r = PyRef::steal(PyRun_String(code.c_str(), Py_file_input, globals.get(), globals.get()));
    BOOST_TEST_REQUIRE(!r);
    BOOST_TEST_REQUIRE(PyErr_Occurred() != nullptr);
}

} // namespace

BOOST_AUTO_TEST_SUITE(python_hygiene)

BOOST_AUTO_TEST_CASE(an_err_scope_puts_the_pending_exception_back) {
    with_python([] {
        raise_from_python("KeyError('the original')");
        {
            PyErrScope saved;
            BOOST_TEST(static_cast<bool>(saved));
            BOOST_TEST(!PyErr_Occurred(), "the error state is clear inside the scope");
            // Python that fails meanwhile, handled, and an error left
            // pending at the end of the scope.
            PyRef bad = PyRef::steal(PyObject_CallFunction(reinterpret_cast<PyObject*>(&PyLong_Type), "s", "x"));
            BOOST_TEST(!bad);
            PyErr_Clear();
            PyErr_SetString(PyExc_ValueError, "raised inside the scope");
        }
        BOOST_TEST(PyErr_ExceptionMatches(PyExc_KeyError) == 1, "the original is pending again, not the inner one");
        PyErrScope again;
        BOOST_TEST(again.message() == "'the original'");
        PyRef tb = PyRef::steal(PyException_GetTraceback(again.value()));
        BOOST_TEST(static_cast<bool>(tb), "its traceback came back with it");
        again.discard();
        return 0;
    });
}

BOOST_AUTO_TEST_CASE(an_err_scope_hands_out_a_normalised_exception) {
    with_python([] {
        // Set from C with a plain string value: held as an instance.
        PyErr_SetString(PyExc_OSError, "no such thing");
        PyErrScope pending;
        BOOST_TEST(PyObject_IsInstance(pending.value(), PyExc_OSError) == 1);
        BOOST_TEST(std::string(pending.type_name()) == "OSError");
        BOOST_TEST(pending.message() == "no such thing");
        PyRef taken = pending.take();
        BOOST_TEST(!pending, "taken: nothing is left to restore");
        BOOST_TEST(static_cast<bool>(taken));
        return 0;
    });
    with_python([] {
        BOOST_TEST(!PyErr_Occurred(), "a taken exception is not restored");
        return 0;
    });
}

BOOST_AUTO_TEST_CASE(an_err_scope_without_an_exception_restores_nothing) {
    with_python([] {
        {
            PyErrScope none;
            BOOST_TEST(!none);
            BOOST_TEST(none.message("(none)") == "(none)");
        }
        BOOST_TEST(!PyErr_Occurred());
        return 0;
    });
}

BOOST_AUTO_TEST_CASE(raise_makes_an_exception_pending_with_its_traceback) {
    with_python([] {
        raise_from_python("RuntimeError('from the app')");
        PyErrScope pending;
        PyRef exc = pending.take();
        BOOST_TEST_REQUIRE(!PyErr_Occurred());
        PyErrScope::raise(exc);
        BOOST_TEST(PyErr_ExceptionMatches(PyExc_RuntimeError) == 1);
        PyErrScope back;
        BOOST_TEST(back.value() == exc.get(), "the same object, not a copy");
        PyRef tb = PyRef::steal(PyException_GetTraceback(back.value()));
        BOOST_TEST(static_cast<bool>(tb));
        back.discard();
        return 0;
    });
}

// The I/O and import locks: their holder may need the GIL to finish. A
// thread that waits for one holding the GIL would deadlock with it;
// lock_without_gil lets the GIL go while it waits and takes it back.
BOOST_AUTO_TEST_CASE(lock_without_gil_lets_a_holder_that_needs_the_gil_finish, *boost::unit_test::timeout(60)) {
    std::atomic<bool> holder_ran_python{false};
    std::thread holder;
    const bool held_after = with_python([&] {
        std::mutex m;
        std::atomic<bool> locked{false};
        holder = std::thread([&] {
            std::lock_guard lock(m);
            locked = true;
            // Needs the GIL, which this test holds, before it lets `m` go.
            GilAcquire gil;
            holder_ran_python = PyGILState_Check() == 1;
        });
        while (!locked) std::this_thread::yield();
        lock_without_gil(m); // m.lock() here would wait for ever
        std::lock_guard lock(m, std::adopt_lock);
        const bool held = PyGILState_Check() == 1;
        holder.join();
        return held;
    });
    BOOST_TEST(holder_ran_python.load());
    BOOST_TEST(held_after, "the GIL is held again once the mutex is");
}

BOOST_AUTO_TEST_CASE(lock_without_gil_works_without_the_gil) {
    std::mutex m;
    lock_without_gil(m);
    BOOST_TEST(!m.try_lock());
    m.unlock();
}

BOOST_AUTO_TEST_SUITE_END()

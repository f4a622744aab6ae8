// The lock-order checker (base/lock_order.h): with PYMPM_LOCK_CHECKS
// (debug and sanitizer builds), wanting the GIL or Python while a leaf mutex
// is held aborts the process with both stacks. Each case that must abort
// runs in a forked child; the parent reads what it wrote to stderr.
#include "base/lock_order.h"

#include "embedded_python.h"
#include "python/gil.h"
#include "python/python_ref.h"

#include "unit_support.h"

#include <boost/test/unit_test.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>

using namespace pympm;
using pympm_test::contains;
using namespace std::chrono_literals;

namespace {

#if PYMPM_LOCK_CHECKS
struct Outcome {
    bool aborted = false;
    int exit_code = -1;
    std::string stderr_text;
};

// Runs `body` in a child process; how it ended and what it wrote to stderr.
Outcome in_child(const std::function<void()>& body) {
    int fds[2];
    BOOST_TEST_REQUIRE(::pipe(fds) == 0);
    const pid_t pid = ::fork();
    BOOST_TEST_REQUIRE(pid >= 0);
    if (pid == 0) {
        // Boost.Test catches SIGABRT to report it: here it must end the
        // child, as in httpd.
        struct sigaction dfl {};
        dfl.sa_handler = SIG_DFL;
        ::sigaction(SIGABRT, &dfl, nullptr);
        ::dup2(fds[1], STDERR_FILENO);
        ::close(fds[0]);
        body();
        ::_exit(0);
    }
    ::close(fds[1]);
    Outcome out;
    char buf[4096];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;)
        out.stderr_text.append(buf, static_cast<std::size_t>(n));
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    out.aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
    out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return out;
}

// Not inlined, so that its name is on the recorded stack.
__attribute__((noinline)) void lock_the_leaf(LeafMutex& m) { m.lock(); }

__attribute__((noinline)) void needs_the_gil() { PYMPM_ASSERT_GIL(); }
#endif

} // namespace

BOOST_AUTO_TEST_SUITE(lock_order_checker)

BOOST_AUTO_TEST_CASE(a_leaf_condition_wakes_its_waiter) {
    LeafMutex m;
    LeafCondition cv;
    bool ready = false;
    std::thread t([&] {
        std::lock_guard lock(m);
        ready = true;
        cv.notify_one();
    });
    {
        std::unique_lock lock(m);
        BOOST_TEST(cv.wait_for(lock, 10s, [&] { return ready; }));
    }
    t.join();
    BOOST_TEST(pympm::lock_order::leaves_held() == 0);
}

#if PYMPM_LOCK_CHECKS

BOOST_AUTO_TEST_CASE(taking_the_gil_with_a_leaf_mutex_held_aborts_with_both_stacks) {
    const Outcome o = in_child([] {
        static LeafMutex m;
        lock_the_leaf(m);
        lock_order::gil_wanted("PyEval_RestoreThread");
    });
    BOOST_TEST(o.aborted, o.stderr_text);
    BOOST_TEST(contains(o.stderr_text, "the GIL is taken while a leaf mutex is held at PyEval_RestoreThread"),
               o.stderr_text);
    BOOST_TEST(contains(o.stderr_text, "this thread, now:"), o.stderr_text);
    BOOST_TEST(contains(o.stderr_text, "held, locked at:"), o.stderr_text);
    // The recorded stack names where the mutex was locked.
    const std::string recorded = o.stderr_text.substr(o.stderr_text.find("held, locked at:"));
    BOOST_TEST(contains(recorded, "lock_the_leaf"), recorded);
}

BOOST_AUTO_TEST_CASE(running_python_with_a_leaf_mutex_held_aborts) {
    const Outcome o = in_child([] {
        static LeafMutex m;
        std::lock_guard lock(m);
        lock_order::python_wanted("a_python_call");
    });
    BOOST_TEST(o.aborted, o.stderr_text);
    BOOST_TEST(contains(o.stderr_text, "Python runs while a leaf mutex is held at a_python_call"), o.stderr_text);
}

BOOST_AUTO_TEST_CASE(waiting_for_the_io_lock_with_a_leaf_mutex_held_aborts) {
    const Outcome o = in_child([] {
        static LeafMutex m;
        std::lock_guard lock(m);
        lock_order::outer_lock_wanted("lock_without_gil");
    });
    BOOST_TEST(o.aborted, o.stderr_text);
}

// The same through the real guards and an embedded CPython: a thread that
// holds a leaf mutex and then takes the GIL (GilAcquire, as the
// child_stopping hook does) aborts before it waits for the GIL.
BOOST_AUTO_TEST_CASE(gil_acquire_with_a_leaf_mutex_held_aborts_before_waiting_for_the_gil) {
    pympm_test::EmbeddedPython::get(); // started here, on the main thread, before the fork
    const Outcome o = in_child([] {
        static LeafMutex m;
        lock_the_leaf(m);
        GilAcquire gil;
        std::fputs("the GIL was taken\n", stderr);
    });
    BOOST_TEST(o.aborted, o.stderr_text);
    BOOST_TEST(contains(o.stderr_text, "the GIL is taken while a leaf mutex is held at PyGILState_Ensure"),
               o.stderr_text);
    BOOST_TEST(!contains(o.stderr_text, "the GIL was taken"), o.stderr_text);
    BOOST_TEST(contains(o.stderr_text.substr(o.stderr_text.find("held, locked at:")), "lock_the_leaf"), o.stderr_text);
}

// A reference dropped may run __del__ (Python): with the GIL held but a
// leaf mutex locked after it, a PyRef's decref aborts.
BOOST_AUTO_TEST_CASE(dropping_a_python_reference_with_a_leaf_mutex_held_aborts) {
    pympm_test::EmbeddedPython::get();
    const Outcome o = in_child([] {
        pympm_test::with_python([] {
            PyRef list = PyRef::steal(PyList_New(0));
            static LeafMutex m;
            std::lock_guard lock(m);
            list.reset();
            return 0;
        });
    });
    BOOST_TEST(o.aborted, o.stderr_text);
    BOOST_TEST(contains(o.stderr_text, "Python runs while a leaf mutex is held at decref"), o.stderr_text);
}

BOOST_AUTO_TEST_CASE(the_gil_after_the_leaf_is_unlocked_is_fine) {
    const Outcome o = in_child([] {
        static LeafMutex m, n;
        {
            std::lock_guard a(m);
            std::lock_guard b(n);
        }
        // Unlocked in any order, and a waiter counts as holding it only
        // until it returns.
        m.lock();
        n.lock();
        m.unlock();
        n.unlock();
        LeafCondition cv;
        std::unique_lock lock(m);
        cv.wait_for(lock, 1ms, [] { return false; });
        lock.unlock();
        lock_order::gil_wanted("PyGILState_Ensure");
        lock_order::python_wanted("after");
    });
    BOOST_TEST(!o.aborted, o.stderr_text);
    BOOST_TEST(o.exit_code == 0);
}

// PYMPM_ASSERT_GIL() where code needs the GIL: with it, nothing happens;
// without it (PyGILState_Check says so), the child aborts naming the
// function.
BOOST_AUTO_TEST_CASE(code_that_needs_the_gil_aborts_without_it) {
    pympm_test::EmbeddedPython::get(); // the test's main thread lets the GIL go after
    const Outcome with_gil = in_child([] {
        pympm_test::with_python([] {
            needs_the_gil();
            return 0;
        });
    });
    BOOST_TEST(!with_gil.aborted, with_gil.stderr_text);
    BOOST_TEST(with_gil.exit_code == 0);
    const Outcome without = in_child([] { needs_the_gil(); });
    BOOST_TEST(without.aborted, without.stderr_text);
    BOOST_TEST(contains(without.stderr_text, "code that needs the GIL runs without it at needs_the_gil"),
               without.stderr_text);
}

#else

// Release builds: PYMPM_ASSERT_GIL() compiles to nothing (no check, even
// without the GIL).
BOOST_AUTO_TEST_CASE(code_that_needs_the_gil_is_not_checked_in_release_builds) {
    PYMPM_ASSERT_GIL();
    BOOST_TEST(true);
}

#endif

BOOST_AUTO_TEST_SUITE_END()

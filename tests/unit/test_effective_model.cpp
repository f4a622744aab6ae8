// The effective model: every MPM x PyThreads x PyEnableThreads combination,
// the warnings for lowered values and the error for Off with several request
// threads per child.
#include "config/effective_model.h"

#include "unit_support.h"

#include <boost/test/unit_test.hpp>

using namespace pympm;
using pympm_test::contains;

namespace {

MpmModel prefork(int max_daemons = 4) { return MpmModel{"prefork", false, 1, max_daemons}; }
MpmModel threaded(const char* name, int tpc, int max_daemons = 2) { return MpmModel{name, true, tpc, max_daemons}; }

ChildSettings settings(int py_threads, bool enable_threads = true) {
    ChildSettings s;
    s.py_threads = py_threads;
    s.enable_threads = enable_threads;
    return s;
}

} // namespace

BOOST_AUTO_TEST_SUITE(effective_model)

BOOST_AUTO_TEST_CASE(prefork_auto_and_one) {
    for (int n : {0, 1}) {
        auto m = compute_effective_model(settings(n), prefork());
        BOOST_TEST(m.py_threads == 1);
        BOOST_TEST(!m.multithread);
        BOOST_TEST(m.multiprocess);
        BOOST_TEST(!m.gate_needed);
        BOOST_TEST(m.enable_threads);
        BOOST_TEST(m.warnings.empty());
        BOOST_TEST(!m.error);
    }
}

BOOST_AUTO_TEST_CASE(prefork_lowers_above_one) {
    auto m = compute_effective_model(settings(4), prefork());
    BOOST_TEST(m.py_threads == 1);
    BOOST_TEST(!m.multithread);
    BOOST_TEST(!m.gate_needed);
    BOOST_TEST(!m.error);
    BOOST_REQUIRE(m.warnings.size() == 1u);
    BOOST_TEST(contains(m.warnings[0], "PyThreads 4 lowered to 1"), m.warnings[0]);
    BOOST_TEST(contains(m.warnings[0], "prefork"), m.warnings[0]);
}

BOOST_AUTO_TEST_CASE(prefork_enable_threads_off_is_fine) {
    for (int n : {0, 1, 3}) {
        auto m = compute_effective_model(settings(n, false), prefork());
        BOOST_TEST(!m.error);
        BOOST_TEST(!m.enable_threads);
        BOOST_TEST(m.py_threads == 1);
    }
}

BOOST_AUTO_TEST_CASE(prefork_single_child_is_not_multiprocess) {
    auto m = compute_effective_model(settings(0), prefork(1));
    BOOST_TEST(!m.multiprocess);
}

BOOST_AUTO_TEST_CASE(threaded_auto_is_threads_per_child) {
    for (const char* mpm : {"worker", "event"}) {
        auto m = compute_effective_model(settings(0), threaded(mpm, 4));
        BOOST_TEST(m.py_threads == 4);
        BOOST_TEST(m.multithread);
        BOOST_TEST(!m.gate_needed); // every thread may run Python
        BOOST_TEST(m.warnings.empty());
        BOOST_TEST(!m.error);
    }
}

BOOST_AUTO_TEST_CASE(threaded_below_threads_per_child_needs_the_gate) {
    for (const char* mpm : {"worker", "event"}) {
        auto one = compute_effective_model(settings(1), threaded(mpm, 4));
        BOOST_TEST(one.py_threads == 1);
        BOOST_TEST(!one.multithread); // wsgi.multithread is false iff one at a time
        BOOST_TEST(one.gate_needed);
        BOOST_TEST(one.warnings.empty());

        auto two = compute_effective_model(settings(2), threaded(mpm, 4));
        BOOST_TEST(two.py_threads == 2);
        BOOST_TEST(two.multithread);
        BOOST_TEST(two.gate_needed);

        auto same = compute_effective_model(settings(4), threaded(mpm, 4));
        BOOST_TEST(same.py_threads == 4);
        BOOST_TEST(!same.gate_needed);
        BOOST_TEST(same.warnings.empty());
    }
}

BOOST_AUTO_TEST_CASE(threaded_above_threads_per_child_is_lowered) {
    for (const char* mpm : {"worker", "event"}) {
        auto m = compute_effective_model(settings(8), threaded(mpm, 4));
        BOOST_TEST(m.py_threads == 4);
        BOOST_TEST(!m.gate_needed);
        BOOST_TEST(m.multithread);
        BOOST_REQUIRE(m.warnings.size() == 1u);
        BOOST_TEST(contains(m.warnings[0], "PyThreads 8 lowered to 4"), m.warnings[0]);
        BOOST_TEST(contains(m.warnings[0], mpm), m.warnings[0]);
        BOOST_TEST(contains(m.warnings[0], "ThreadsPerChild"), m.warnings[0]);
        BOOST_TEST(!m.error);
    }
}

BOOST_AUTO_TEST_CASE(threaded_enable_threads_off_is_refused) {
    for (const char* mpm : {"worker", "event"}) {
        for (int n : {0, 1, 2}) {
            auto m = compute_effective_model(settings(n, false), threaded(mpm, 4));
            BOOST_REQUIRE(m.error.has_value());
            // Says why (the directive, the MPM and its threads) and what to write instead.
            BOOST_TEST(contains(*m.error, "PyEnableThreads Off"), *m.error);
            BOOST_TEST(contains(*m.error, std::string("the ") + mpm + " MPM"), *m.error);
            BOOST_TEST(contains(*m.error, "4 threads per child"), *m.error);
            BOOST_TEST(contains(*m.error, "ThreadsPerChild 1"), *m.error);
            BOOST_TEST(contains(*m.error, "PyEnableThreads On"), *m.error);
        }
    }
}

BOOST_AUTO_TEST_CASE(threaded_one_thread_enable_threads_off_is_fine) {
    for (const char* mpm : {"worker", "event"}) {
        auto m = compute_effective_model(settings(0, false), threaded(mpm, 1));
        BOOST_TEST(!m.error);
        BOOST_TEST(m.py_threads == 1);
        BOOST_TEST(!m.gate_needed);
        BOOST_TEST(!m.multithread);
        BOOST_TEST(!m.enable_threads);
        auto lowered = compute_effective_model(settings(2, false), threaded(mpm, 1));
        BOOST_TEST(!lowered.error);
        BOOST_TEST(lowered.py_threads == 1);
        BOOST_TEST(lowered.warnings.size() == 1u);
    }
}

BOOST_AUTO_TEST_CASE(zero_threads_per_child_counts_as_one) {
    auto m = compute_effective_model(settings(0), MpmModel{"odd", true, 0, 1});
    BOOST_TEST(m.py_threads == 1);
    BOOST_TEST(!m.gate_needed);
}

BOOST_AUTO_TEST_CASE(describe) {
    auto mpm = threaded("event", 25);
    auto m = compute_effective_model(settings(4), mpm);
    BOOST_TEST(describe_model(m, mpm) == "mpm=event threads_per_child=25 py_threads=4 enable_threads=on");
    auto p = prefork();
    auto off = compute_effective_model(settings(0, false), p);
    BOOST_TEST(describe_model(off, p) == "mpm=prefork threads_per_child=1 py_threads=1 enable_threads=off");
}

// HTTP/2: mod_http2's workers bring requests beyond ThreadsPerChild.
BOOST_AUTO_TEST_CASE(http2_always_gates_and_refuses_off) {
    MpmModel event = threaded("event", 4);
    event.http2 = true;
    auto m = compute_effective_model(settings(0), event);
    BOOST_TEST(m.py_threads == 4);
    BOOST_TEST(m.gate_needed, "the gate counts h2 workers too");
    BOOST_TEST(!m.error);
    BOOST_TEST(contains(describe_model(m, event), "http2=on"));

    // PyThreads above ThreadsPerChild is kept: the workers can use it.
    auto above = compute_effective_model(settings(8), event);
    BOOST_TEST(above.py_threads == 8);
    BOOST_TEST(above.warnings.empty());
    BOOST_TEST(above.multithread);

    MpmModel pf = prefork();
    pf.http2 = true;
    auto off = compute_effective_model(settings(0, false), pf);
    BOOST_TEST_REQUIRE(off.error.has_value());
    BOOST_TEST(contains(*off.error, "PyEnableThreads Off cannot serve HTTP/2"));
    BOOST_TEST(contains(*off.error, "remove h2 and h2c from Protocols"));
    auto on = compute_effective_model(settings(0), pf);
    BOOST_TEST(!on.error);
    BOOST_TEST(on.gate_needed);
    BOOST_TEST(!on.multithread);
}

BOOST_AUTO_TEST_SUITE_END()

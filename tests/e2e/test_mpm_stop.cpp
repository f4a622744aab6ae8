// The stop sequence of a child (SPEC.md, "Lifecycle of an interpreter",
// step 4) on every way httpd ends a child: graceful restart,
// MaxConnectionsPerChild, stop (SIGTERM; in prefork the child runs the
// sequence from its signal handler). pympm.stopping, on_stop and atexit run;
// a thread that ignores stopping is logged with its stack and the child
// exits after PyShutdownTimeout; nothing crashes or hangs, also when the
// child is stopped in the middle of a request or while an app thread keeps
// the GIL busy.
#include "test_mpm_common.h"

#include <csignal>
#include <future>
#include <iostream>
#include <regex>
#include <set>
#include <vector>

using namespace pympm_test;
using namespace pympm_test::mpm;

namespace {

const char* kStopApp = "PyApp / @APPS@/mpm_stop_app.py\n";
const char* kStuckApp = "PyApp / @APPS@/mpm_stuck_app.py\n";

std::string pid_re(pid_t pid) { return "\\[pid " + std::to_string(pid) + "(:tid [0-9]+)?\\]"; }

pid_t get_pid(const HttpdServer& srv) { return static_cast<pid_t>(at_long(get_kv(srv.port(), "/pid"), "pid")); }

double marker_time(const std::string& dir, const std::string& kind, pid_t pid) {
    std::string text = read_text(dir + "/" + kind + "." + std::to_string(pid));
    try {
        return std::stod(text);
    } catch (...) {
        return -1;
    }
}

// Steps 1 and 4 ran in child `pid`: the thread waiting on pympm.stopping
// finished, the on_stop callback and the atexit handler ran, in that order
// (atexit after the wait for app threads).
void expect_stop_markers(const std::string& dir, pid_t pid) {
    BOOST_TEST_CONTEXT("child " << pid) {
        for (const char* kind : {"thread", "on_stop", "atexit"})
            BOOST_TEST(eventually([&] { return file_exists(dir + "/" + kind + "." + std::to_string(pid)); }, 5s),
                       "marker " << kind << " missing");
        double thread = marker_time(dir, "thread", pid), at_exit = marker_time(dir, "atexit", pid);
        BOOST_TEST(thread > 0);
        BOOST_TEST(at_exit >= thread, "atexit ran after the app thread ended");
    }
}

void expect_finalised(const HttpdServer& srv, pid_t pid, std::size_t mark) {
    BOOST_TEST(!srv.wait_for_log(pid_re(pid) + ".*PM00032: Python finalised", 5s, mark).empty(),
               "child " << pid << " did not log 'Python finalised'");
    BOOST_TEST(srv.count_log(pid_re(pid) + ".*PM00031", mark) == 0u);
}

// httpd had to escalate: it logs these when a child does not exit on time.
void expect_no_escalation(const HttpdServer& srv) {
    BOOST_TEST(srv.count_log("AH00044|AH00045|AH00046|still did not exit") == 0u,
               "httpd had to signal a child again or kill it");
}

// The stuck child's report: PM00031 with the thread's name, and its stack.
void expect_stuck_report(const HttpdServer& srv, pid_t pid, std::size_t mark, int timeout_s) {
    std::string line = srv.wait_for_log(pid_re(pid) + ".*PM00031: .*stuck-worker", 5s, mark);
    BOOST_TEST(!line.empty(), "no PM00031 naming stuck-worker for child " << pid);
    BOOST_TEST(contains(line, "PyShutdownTimeout " + std::to_string(timeout_s)), line);
    BOOST_TEST(srv.count_log(pid_re(pid) + ".*PM00042: thread 'stuck-worker'", mark) == 1u);
    BOOST_TEST(srv.count_log(pid_re(pid) + ".*PM00042: .*in spin_forever", mark) >= 1u, "the stack is logged");
    BOOST_TEST(srv.count_log(pid_re(pid) + ".*PM00042: .*time.sleep\\(0.05\\)", mark) >= 1u,
               "the stack shows the source line");
    BOOST_TEST(srv.count_log(pid_re(pid) + ".*PM00032", mark) == 0u, "Python must not be finalised");
}

HttpdOptions with(HttpdOptions o, int max_connections_per_child) {
    o.max_connections_per_child = max_connections_per_child;
    return o;
}

// One child at a time, but room in the scoreboard for a stopping one.
HttpdOptions threaded_recycling(Mpm mpm, int threads, std::string config) {
    HttpdOptions o = threaded_one_child(mpm, threads, std::move(config));
    o.server_limit = 2;
    return o;
}

struct StopVariant {
    std::string name;
    HttpdOptions options;
};

// The stop app under prefork (On and Off; `children` children) and event
// (one child of 4 threads).
std::vector<StopVariant> variants(int children) {
    std::string config = std::string(kStopApp) + "PyShutdownTimeout 5\n";
    return {StopVariant{"prefork", prefork_children(children, config)},
            StopVariant{"prefork Off", prefork_children(children, config + "PyEnableThreads Off\n")},
            StopVariant{"event", threaded_one_child(Mpm::event, 4, config)},
            StopVariant{"worker", threaded_one_child(Mpm::worker, 4, config)}};
}

// A request on its own connection. A child reaching MaxConnectionsPerChild
// may close a connection it had just accepted without answering (httpd's own
// race, seen with event): such a request is sent again, once.
HttpResponse get_closing(const HttpdServer& srv, const std::string& target) {
    HttpRequest req;
    req.target = target;
    req.headers.push_back({"Connection", "close"});
    try {
        return http_request(srv.port(), req);
    } catch (const HttpError& e) {
        BOOST_TEST_MESSAGE("retrying " << target << " after: " << e.what());
        std::cerr << "[stop] retried " << target << " after: " << e.what() << "\n";
        return http_request(srv.port(), req);
    }
}

} // namespace

// ========================================================= stop sequence

BOOST_AUTO_TEST_SUITE(mpm_stop, *boost::unit_test::label("slow"))

BOOST_AUTO_TEST_CASE(graceful_restart_runs_the_stop_sequence) {
    for (const StopVariant& v : variants(1)) {
        BOOST_TEST_CONTEXT(v.name) {
            HttpdServer srv(v.options);
            std::string markers = make_markers_dir(srv);
            srv.start();
            auto kv = get_kv(srv.port(), "/pid");
            BOOST_TEST(at(kv, "stopping") == "False");
            pid_t old_pid = static_cast<pid_t>(at_long(kv, "pid"));
            std::size_t mark = srv.log_mark();
            GoneWatcher watch(old_pid, 15s);
            const auto t0 = Clock::now();
            srv.graceful_restart();
            double gone = watch.seconds_since(t0);
            std::cerr << "[stop] " << v.name << " graceful: old child gone after " << gone << " s\n";
            BOOST_TEST(gone >= 0, "the old child exits");
            BOOST_TEST(gone < 3.0, "the old child took " << gone << " s");
            expect_stop_markers(markers, old_pid);
            expect_finalised(srv, old_pid, mark);
            BOOST_TEST(get_pid(srv) != old_pid);
            expect_no_escalation(srv);
        }
    }
}

BOOST_AUTO_TEST_CASE(stop_while_idle) {
    // prefork: the child is told by SIGTERM and runs the sequence inside the
    // signal handler; event: from the main thread after the workers ended.
    for (const StopVariant& v : variants(2)) {
        BOOST_TEST_CONTEXT(v.name) {
            HttpdServer srv(v.options);
            std::string markers = make_markers_dir(srv);
            srv.start();
            pid_t pid = get_pid(srv);
            auto children = srv.child_pids();
            std::size_t mark = srv.log_mark();
            const auto t0 = Clock::now();
            srv.stop();
            double took = HttpResponse::seconds(t0, Clock::now());
            std::cerr << "[stop] " << v.name << " stop while idle took " << took << " s\n";
            BOOST_TEST(took < 3.0, "stop took " << took << " s");
            for (pid_t c : children) BOOST_TEST(process_gone(c), "child " << c << " outlived httpd");
            expect_stop_markers(markers, pid);
            expect_finalised(srv, pid, mark);
            expect_no_escalation(srv);
        }
    }
}

BOOST_AUTO_TEST_CASE(prefork_stop_during_a_request) {
    // SIGTERM lands while the request runs Python (/spin: GIL held; /alloc:
    // mostly inside malloc and free) or waits in a blocking call (/sleep: GIL
    // released). prefork handles it on the request's own thread, on top of
    // whatever the request was doing: the child must not run Python there,
    // nor the rest of its exit (pool cleanups, exit()'s handlers and
    // destructors), which may need a lock the interrupted request holds
    // (seen as a child hanging until httpd's SIGKILL). It logs PM00033 and
    // _exits at once.
    for (auto [route, off] :
         {std::pair{"/spin?s=10", false}, std::pair{"/spin?s=10", true}, std::pair{"/sleep?s=10", false},
          std::pair{"/sleep?s=10", true}, std::pair{"/alloc?s=10&stdio=1", false}}) {
        BOOST_TEST_CONTEXT(route << (off ? " PyEnableThreads Off" : "")) {
            HttpdServer srv(prefork_children(1, std::string(kStopApp) + "PyShutdownTimeout 5\n" +
                                                    (off ? "PyEnableThreads Off\n" : "")));
            std::string markers = make_markers_dir(srv);
            srv.start();
            pid_t pid = get_pid(srv);
            auto pending = std::async(std::launch::async, [&srv, route] {
                try {
                    return http_get(srv.port(), route, 20s).status;
                } catch (const HttpError&) {
                    return -1; // the connection went away with the child
                }
            });
            const std::string request_marker = markers + "/request." + std::to_string(pid);
            BOOST_TEST_REQUIRE(eventually([&] { return file_exists(request_marker); }, 10s));
            std::size_t mark = srv.log_mark();
            const auto t0 = Clock::now();
            srv.stop();
            double took = HttpResponse::seconds(t0, Clock::now());
            std::cerr << "[stop] prefork" << (off ? " Off" : "") << " stop during " << route << " took " << took
                      << " s\n";
            BOOST_TEST(took < 3.0, "stop took " << took << " s");
            BOOST_TEST(process_gone(pid));
            BOOST_TEST(pending.get() != 200, "the interrupted request cannot have completed");
            BOOST_TEST(srv.count_log(pid_re(pid) + ".*PM00033: child stopped during a request", mark) == 1u);
            BOOST_TEST(srv.count_log(pid_re(pid) + ".*PM00032", mark) == 0u);
            // exit() would have flushed it: the child left with _exit.
            BOOST_TEST(srv.count_log("unflushed C stdio of " + std::to_string(pid)) == 0u,
                       "the child ran exit() after it was stopped during a request");
            expect_no_escalation(srv);
        }
    }
}

BOOST_AUTO_TEST_CASE(event_stop_during_a_request) {
    // Event ends a running request's thread only when the request is done;
    // the child then stops normally.
    HttpdServer srv(threaded_one_child(Mpm::event, 4, std::string(kStopApp) + "PyShutdownTimeout 5\n"));
    std::string markers = make_markers_dir(srv);
    srv.start();
    pid_t pid = get_pid(srv);
    auto pending = std::async(std::launch::async, [&srv] {
        try {
            return http_get(srv.port(), "/spin?s=1", 20s).status;
        } catch (const HttpError&) {
            return -1;
        }
    });
    BOOST_TEST_REQUIRE(eventually([&] { return file_exists(markers + "/request." + std::to_string(pid)); }, 10s));
    std::size_t mark = srv.log_mark();
    const auto t0 = Clock::now();
    srv.stop();
    double took = HttpResponse::seconds(t0, Clock::now());
    std::cerr << "[stop] event stop during a 1 s request took " << took << " s\n";
    BOOST_TEST(took < 3.0, "stop took " << took << " s");
    pending.get();
    expect_stop_markers(markers, pid);
    expect_finalised(srv, pid, mark);
    expect_no_escalation(srv);
}

BOOST_AUTO_TEST_CASE(threaded_stopping_is_set_while_requests_finish) {
    // Threaded MPMs tell the child to stop (child_stopping) while its
    // requests still run: pympm.stopping is visible to them. (prefork calls
    // child_stopping only once the request is done.)
    for (Mpm mpm : {Mpm::event, Mpm::worker}) {
        BOOST_TEST_CONTEXT(mpm_name(mpm)) {
            HttpdServer srv(threaded_one_child(mpm, 4, std::string(kStopApp) + "PyShutdownTimeout 5\n"));
            std::string markers = make_markers_dir(srv);
            srv.start();
            pid_t pid = get_pid(srv);
            auto pending = std::async(std::launch::async, [&srv] { return http_get(srv.port(), "/spin?s=2", 30s); });
            BOOST_TEST_REQUIRE(
                eventually([&] { return file_exists(markers + "/request." + std::to_string(pid)); }, 10s));
            std::size_t mark = srv.log_mark();
            srv.graceful_restart();
            auto r = pending.get();
            BOOST_TEST(r.status == 200, "a graceful restart lets the request finish");
            auto kv = parse_kv(r.body);
            BOOST_TEST(at_long(kv, "pid") == pid);
            BOOST_TEST(at(kv, "stopping") == "True", "pympm.stopping was set while the request ran");
            BOOST_TEST(wait_gone(pid, 10s) >= 0);
            double on_stop = marker_time(markers, "on_stop", pid);
            double request_end = mono(r.complete);
            BOOST_TEST(on_stop > 0);
            BOOST_TEST(on_stop < request_end, "on_stop ran before the request ended");
            expect_stop_markers(markers, pid);
            expect_finalised(srv, pid, mark);
            expect_no_escalation(srv);
        }
    }
}

BOOST_AUTO_TEST_CASE(stop_while_an_app_thread_keeps_the_gil_busy) {
    // A daemon thread in a pure-Python loop competes for the GIL the stop
    // path needs; daemon threads never hold up finalisation.
    for (Mpm mpm : {Mpm::prefork, Mpm::event}) {
        for (bool graceful : {true, false}) {
            BOOST_TEST_CONTEXT(mpm_name(mpm) << (graceful ? " graceful" : " stop")) {
                std::string config = std::string(kStopApp) + "PyShutdownTimeout 5\n";
                HttpdServer srv(mpm == Mpm::prefork ? prefork_children(1, config) : threaded_one_child(mpm, 4, config));
                std::string markers = make_markers_dir(srv);
                srv.start();
                pid_t pid = get_pid(srv);
                get_kv(srv.port(), "/hog");
                // Requests still get through while the hog runs.
                BOOST_TEST(get_pid(srv) == pid);
                std::size_t mark = srv.log_mark();
                GoneWatcher watch(pid, 15s);
                const auto t0 = Clock::now();
                if (graceful)
                    srv.graceful_restart();
                else
                    srv.stop();
                double took = watch.seconds_since(t0);
                BOOST_TEST(took >= 0, "the child exits");
                std::cerr << "[stop] " << mpm_name(mpm) << (graceful ? " graceful" : " stop")
                          << " with a GIL hog: child gone after " << took << " s\n";
                BOOST_TEST(took < 4.0, "took " << took << " s");
                expect_stop_markers(markers, pid);
                expect_finalised(srv, pid, mark);
                expect_no_escalation(srv);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(max_connections_per_child_recycles_without_hanging) {
    for (Mpm mpm : {Mpm::prefork, Mpm::event}) {
        BOOST_TEST_CONTEXT(mpm_name(mpm)) {
            std::string config = std::string(kStopApp) + "PyShutdownTimeout 5\n";
            // Two prefork children, so that one serves while httpd replaces
            // the other.
            HttpdServer srv(
                with(mpm == Mpm::prefork ? prefork_children(2, config) : threaded_recycling(mpm, 2, config), 2));
            std::string markers = make_markers_dir(srv);
            srv.start();
            std::set<pid_t> seen;
            std::size_t mark = srv.log_mark();
            const auto t0 = Clock::now();
            for (int i = 0; i < 7; ++i) {
                auto r = get_closing(srv, "/pid");
                BOOST_TEST_REQUIRE(r.status == 200, r.body);
                seen.insert(static_cast<pid_t>(at_long(parse_kv(r.body), "pid")));
            }
            std::cerr << "[stop] " << mpm_name(mpm) << " MaxConnectionsPerChild 2: 7 requests, " << seen.size()
                      << " children, " << HttpResponse::seconds(t0, Clock::now()) << " s\n";
            BOOST_TEST(seen.size() >= 3u, "children are recycled");
            // Every recycled child ran the stop sequence and finalised Python.
            pid_t current = get_pid(srv);
            for (pid_t p : seen) {
                if (p == current) continue;
                BOOST_TEST(wait_gone(p, 10s) >= 0, "child " << p << " still there");
                expect_stop_markers(markers, p);
                expect_finalised(srv, p, mark);
            }
            expect_no_escalation(srv);
        }
    }
}

BOOST_AUTO_TEST_CASE(idle_children_reaped) {
    // httpd retires idle children beyond its spare limits (prefork keeps
    // MaxSpareServers >= MinSpareServers + 1 = 2; event keeps
    // MaxSpareThreads >= MinSpareThreads + ThreadsPerChild = 3 threads);
    // each retired child runs the stop sequence and finalises.
    for (Mpm mpm : {Mpm::prefork, Mpm::event}) {
        BOOST_TEST_CONTEXT(mpm_name(mpm)) {
            std::string config = std::string(kStopApp) + "PyShutdownTimeout 5\n";
            HttpdOptions o;
            if (mpm == Mpm::prefork) {
                o = prefork_children(4, config);
                o.max_spare_servers = 1;
            } else {
                o = threaded_one_child(mpm, 2, config);
                o.start_servers = 4;
                o.server_limit = 4;
                o.max_request_workers = 8;
                o.max_spare_threads = 1;
            }
            HttpdServer srv(o);
            std::string markers = make_markers_dir(srv);
            srv.start();
            BOOST_TEST_REQUIRE(srv.wait_for_log_count("PM00010: child ready", 4, 15s) >= 4u);
            std::vector<pid_t> started;
            std::regex pid_of("\\[pid ([0-9]+)");
            for (auto& line : srv.log_lines_matching("PM00010: child ready")) {
                std::smatch m;
                if (std::regex_search(line, m, pid_of)) started.push_back(static_cast<pid_t>(std::stol(m[1])));
            }
            auto gone = [&] {
                std::vector<pid_t> out;
                for (pid_t p : started)
                    if (process_gone(p)) out.push_back(p);
                return out;
            };
            BOOST_TEST_REQUIRE(eventually([&] { return gone().size() >= 2u; }, 15s),
                               "httpd did not reap idle children");
            auto reaped = gone();
            std::cerr << "[stop] " << mpm_name(mpm) << ": " << reaped.size() << " of " << started.size()
                      << " idle children reaped\n";
            for (pid_t p : reaped) {
                expect_stop_markers(markers, p);
                expect_finalised(srv, p, 0);
            }
            BOOST_TEST(get_kv(srv.port(), "/pid").size() == 2u, "the others still serve");
            expect_no_escalation(srv);
        }
    }
}

BOOST_AUTO_TEST_CASE(prefork_stop_during_app_import) {
    // httpd blocks its signals while child_init runs: a child told to stop
    // while it imports the app (here: 2 s) finishes the import, then runs
    // the stop sequence as usual.
    HttpdServer srv(prefork_children(1, "PyApp / @APPS@/mpm_slow_import_app.py\nPyShutdownTimeout 5\n"));
    std::string markers = make_markers_dir(srv);
    srv.start();
    pid_t first = get_pid(srv);
    { std::ofstream(markers + "/slow") << "1\n"; }
    ::chmod((markers + "/slow").c_str(), 0644);
    std::size_t mark = srv.log_mark();
    BOOST_TEST_REQUIRE(::kill(srv.pid(), SIGUSR1) == 0); // the next child imports slowly
    pid_t importing = 0;
    BOOST_TEST_REQUIRE(eventually(
        [&] {
            for (pid_t c : srv.child_pids())
                if (c != first && file_exists(markers + "/importing." + std::to_string(c))) importing = c;
            return importing != 0;
        },
        15s));
    const auto t0 = Clock::now();
    srv.stop();
    double took = HttpResponse::seconds(t0, Clock::now());
    std::cerr << "[stop] prefork stop during a 2 s app import took " << took << " s\n";
    BOOST_TEST(took < 4.0, "stop took " << took << " s");
    BOOST_TEST(process_gone(importing));
    expect_stop_markers(markers, importing);
    expect_finalised(srv, importing, mark);
    expect_no_escalation(srv);
}

BOOST_AUTO_TEST_CASE(prefork_app_threads_never_take_httpd_signals) {
    // prefork runs the stop sequence in its SIGTERM handler, on whichever
    // thread the kernel picks among those not blocking it: only httpd's own
    // thread may qualify, also for threads the app starts during a request.
    HttpdServer srv(prefork_children(1, std::string(kStopApp)));
    make_markers_dir(srv);
    srv.start();
    pid_t pid = get_pid(srv);
    get_kv(srv.port(), "/hog"); // a thread started during a request
    auto blocked = [](const std::string& status_path) {
        std::istringstream in(read_text(status_path));
        for (std::string line; std::getline(in, line);)
            if (line.rfind("SigBlk:", 0) == 0) return std::stoull(line.substr(7), nullptr, 16);
        return 0ULL;
    };
    const unsigned long long control = (1ULL << (SIGTERM - 1)) | (1ULL << (SIGHUP - 1)) | (1ULL << (SIGUSR1 - 1));
    int app_threads = 0;
    for (auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
        const std::string tid = task.path().filename().string();
        const unsigned long long mask = blocked(task.path().string() + "/status");
        if (tid == std::to_string(pid)) {
            BOOST_TEST((mask & control) == 0ULL, "httpd's thread must take its signals");
        } else {
            ++app_threads;
            BOOST_TEST((mask & control) == control,
                       "thread " << tid << " may take httpd's signals: SigBlk " << std::hex << mask);
        }
    }
    BOOST_TEST(app_threads >= 2, "stop-waiter and gil-hog");
    // And the child still stops cleanly.
    std::size_t mark = srv.log_mark();
    srv.stop();
    expect_finalised(srv, pid, mark);
}

BOOST_AUTO_TEST_SUITE_END()

// ============ app threads that ignore pympm.stopping or keep the GIL (slow)

BOOST_AUTO_TEST_SUITE(mpm_stop_stuck, *boost::unit_test::label("slow"))

constexpr int kTimeout = 2; // PyShutdownTimeout of these tests
// How long after it was told to stop a child may live: the spec's bound plus
// what polling and a loaded machine add (under ASan with a load of 10 on 2
// cores, logging two stuck stacks took 3.65 s). A child that waits for its
// stuck thread instead would be escalated by httpd, which
// expect_no_escalation() catches.
constexpr double kBound = kTimeout + 1.0 + 2.0;

BOOST_AUTO_TEST_CASE(stuck_thread_max_connections_per_child) {
    for (Mpm mpm : {Mpm::prefork, Mpm::event}) {
        BOOST_TEST_CONTEXT(mpm_name(mpm)) {
            std::string config = std::string(kStuckApp) + "PyShutdownTimeout " + std::to_string(kTimeout) + "\n";
            HttpdServer srv(
                with(mpm == Mpm::prefork ? prefork_children(1, config) : threaded_recycling(mpm, 2, config), 2));
            std::string markers = make_markers_dir(srv);
            srv.start();
            std::size_t mark = srv.log_mark();
            auto first = get_closing(srv, "/pid");
            BOOST_TEST_REQUIRE(first.status == 200);
            pid_t old_pid = static_cast<pid_t>(at_long(parse_kv(first.body), "pid"));
            GoneWatcher watch(old_pid, 20s);
            // The harness's start-up probe may have used one of its two
            // connections: ask until another child answers, and note when
            // the old one sent its last response.
            Clock::time_point last = first.complete;
            pid_t new_pid = old_pid;
            for (int i = 0; i < 4 && new_pid == old_pid; ++i) {
                auto r = get_closing(srv, "/pid");
                BOOST_TEST_REQUIRE(r.status == 200);
                new_pid = static_cast<pid_t>(at_long(parse_kv(r.body), "pid"));
                if (new_pid == old_pid) last = r.complete;
            }
            BOOST_TEST(new_pid != old_pid, "a new child serves once the old one's connections are used up");
            // The old child waited kTimeout s for stuck-worker, reported it
            // and exited.
            double gone = watch.seconds_since(last);
            std::cerr << "[stop] " << mpm_name(mpm) << " MaxConnectionsPerChild + stuck thread: old child gone " << gone
                      << " s after its last response\n";
            BOOST_TEST(gone >= 0, "the child hangs on its stuck thread");
            BOOST_TEST(gone <= kBound, "gone after " << gone << " s");
            BOOST_TEST(gone >= kTimeout - 0.2, "the child gave its thread PyShutdownTimeout");
            expect_stuck_report(srv, old_pid, mark, kTimeout);
            expect_stop_markers(markers, old_pid);
            expect_no_escalation(srv);
        }
    }
}

BOOST_AUTO_TEST_CASE(stuck_thread_graceful_restart) {
    for (Mpm mpm : {Mpm::prefork, Mpm::event}) {
        BOOST_TEST_CONTEXT(mpm_name(mpm)) {
            std::string config = std::string(kStuckApp) + "PyShutdownTimeout " + std::to_string(kTimeout) + "\n";
            HttpdServer srv(mpm == Mpm::prefork ? prefork_children(1, config) : threaded_recycling(mpm, 4, config));
            std::string markers = make_markers_dir(srv);
            srv.start();
            pid_t old_pid = get_pid(srv);
            std::size_t mark = srv.log_mark();
            GoneWatcher watch(old_pid, 20s);
            const auto t0 = Clock::now();
            srv.graceful_restart();
            double took = watch.seconds_since(t0);
            std::cerr << "[stop] " << mpm_name(mpm) << " graceful + stuck thread: old child gone after " << took
                      << " s\n";
            BOOST_TEST(took >= 0, "the child hangs on its stuck thread");
            BOOST_TEST(took <= kBound, "gone after " << took << " s");
            expect_stuck_report(srv, old_pid, mark, kTimeout);
            expect_stop_markers(markers, old_pid);
            BOOST_TEST(get_pid(srv) != old_pid);
            expect_no_escalation(srv);
        }
    }
}

BOOST_AUTO_TEST_CASE(stuck_thread_stop) {
    for (Mpm mpm : {Mpm::prefork, Mpm::event}) {
        BOOST_TEST_CONTEXT(mpm_name(mpm)) {
            std::string config = std::string(kStuckApp) + "PyShutdownTimeout " + std::to_string(kTimeout) + "\n";
            HttpdServer srv(mpm == Mpm::prefork ? prefork_children(2, config) : threaded_one_child(mpm, 4, config));
            std::string markers = make_markers_dir(srv);
            srv.start();
            pid_t pid = get_pid(srv);
            auto children = srv.child_pids();
            std::size_t mark = srv.log_mark();
            const auto t0 = Clock::now();
            srv.stop(); // SIGTERM, as `apache2 -k stop`; returns when httpd has exited
            double took = HttpResponse::seconds(t0, Clock::now());
            std::cerr << "[stop] " << mpm_name(mpm) << " stop + stuck thread took " << took << " s\n";
            BOOST_TEST(took <= kBound, "stop took " << took << " s");
            BOOST_TEST(took >= kTimeout - 0.2);
            for (pid_t c : children) BOOST_TEST(process_gone(c), "child " << c << " outlived httpd");
            expect_stuck_report(srv, pid, mark, kTimeout);
            expect_stop_markers(markers, pid);
            expect_no_escalation(srv);
        }
    }
}

BOOST_AUTO_TEST_CASE(app_thread_never_gives_the_gil_back) {
    // An app thread takes the GIL for good in C code: the stop sequence can
    // never run Python. The child must still exit within PyShutdownTimeout
    // + 1 s of being told to stop, graceful or not (a graceful restart has
    // no escalation of its own: such a child would stay for ever).
    constexpr int timeout_s = 1;
    for (const StopVariant& v : variants(1)) {
        for (bool graceful : {true, false}) {
            BOOST_TEST_CONTEXT(v.name << (graceful ? " graceful" : " stop")) {
                HttpdOptions o = v.options;
                o.pympm_config = std::string(kStopApp) + "PyShutdownTimeout " + std::to_string(timeout_s) + "\n" +
                                 (v.name == "prefork Off" ? "PyEnableThreads Off\n" : "");
                HttpdServer srv(o);
                make_markers_dir(srv);
                srv.start();
                pid_t pid = get_pid(srv);
                get_kv(srv.port(), "/c-hog?s=0.3");
                // Python is frozen from now on (polled through the log would
                // need Python too): give the hog its 0.3 s and some margin.
                std::this_thread::sleep_for(600ms);
                std::size_t mark = srv.log_mark();
                GoneWatcher watch(pid, 20s);
                const auto t0 = Clock::now();
                if (graceful) {
                    BOOST_TEST_REQUIRE(::kill(srv.pid(), SIGUSR1) == 0);
                } else {
                    srv.stop();
                }
                double took = watch.seconds_since(t0);
                std::cerr << "[stop] " << v.name << (graceful ? " graceful" : " stop")
                          << " with the GIL taken for good: child gone after " << took << " s\n";
                BOOST_TEST(took >= 0, "the child hangs");
                BOOST_TEST(took <= timeout_s + 1.5, "gone after " << took << " s");
                BOOST_TEST(!srv.wait_for_log(pid_re(pid) + ".*PM00070: ", 5s, mark).empty(),
                           "the child says why it exits without finishing the stop sequence");
                expect_no_escalation(srv);
            }
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()

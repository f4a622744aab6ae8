// Issue 23: the status board survives a child killed at any step of its
// work on it. A child is stopped at one of the board's pause points
// (PYMPM_TEST_PAUSE_AT, README "Tests": claim:taken, claim:written,
// claim:live, update, release) and SIGKILLed there, under prefork and
// event; afterwards the status page answers with whole totals and the death
// counted, the other children leave when told to, and new children join.
#include "http_client.h"
#include "httpd_server.h"
#include "test_mpm_common.h"
#include "test_support.h"

#include <boost/test/unit_test.hpp>

#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>

using namespace pympm_test;
using namespace pympm_test::mpm;
using namespace std::chrono_literals;

namespace {

struct DeathsRow {
    std::string name;
    HttpdOptions options;
    std::string mpm;
    int threads_per_child;
    int py_threads;
};

// Two children, so that one answers while the other is stopped.
std::vector<DeathsRow> deaths_rows() {
    std::vector<DeathsRow> out;
    out.push_back({"prefork", prefork_children(2, kOpsApp), "prefork", 1, 1});
    HttpdOptions event = threaded_one_child(Mpm::event, 4, kOpsApp + "PyThreads 2\n");
    event.start_servers = 2;
    event.server_limit = 2;
    event.max_request_workers = 8;
    event.max_spare_threads = 8;
    out.push_back({"event 2x4 PyThreads 2", event, "event", 4, 2});
    for (auto& r : out)
        r.options.extra_config = "LoadModule authz_host_module " + httpd_modules_dir() +
                                 "/mod_authz_host.so\n<Location /pympm-status>\n    SetHandler pympm-status\n"
                                 "    Require local\n</Location>\n";
    return out;
}

// A server whose first child to reach `point` once the token is laid
// stops there.
struct PausingServer {
    PausingServer(HttpdOptions options, const std::string& point) : srv(std::move(options)) {
        const std::string dir = make_markers_dir(srv);
        token = dir + "/pause-token";
        srv.options().environment.push_back("PYMPM_TEST_PAUSE_AT=" + point + "@" + token);
    }
    void lay_token() const { std::ofstream(token) << "pause\n"; }
    HttpdServer srv;
    std::string token;
};

// The child stopped at the pause point.
pid_t stopped_child(const HttpdServer& srv) {
    pid_t stopped = -1;
    eventually(
        [&] {
            for (pid_t p : srv.child_pids())
                if (process_state(p).first == 'T') stopped = p;
            return stopped > 0;
        },
        30s);
    return stopped;
}

void kill_child(HttpdServer& srv, pid_t pid) {
    srv.allow_killed_child(pid);
    ::kill(pid, SIGKILL);
    BOOST_TEST_REQUIRE(wait_gone(pid, 20s) >= 0);
}

std::set<long> listed_pids(const boost::property_tree::ptree& j) {
    std::set<long> out;
    for (auto& [k, c] : j.get_child("children")) out.insert(c.get<long>("pid"));
    return out;
}

// httpd's children and the page's, for failure messages.
std::string describe(const std::vector<pid_t>& pids, const boost::property_tree::ptree& page) {
    std::string out = "children of httpd:";
    for (pid_t p : pids) out += " " + std::to_string(p) + process_state(p).first;
    out += "; on the page:";
    for (auto& [k, c] : page.get_child("children"))
        out += " " + c.get<std::string>("pid") + " (generation " + c.get<std::string>("generation") + ")";
    return out;
}

void send_hellos(const HttpdServer& srv, int n) {
    for (int i = 0; i < n; ++i) BOOST_TEST_REQUIRE(http_get(srv.port(), "/o/hello", 20s).status == 200);
}

// After the kill: the page answers with the totals whole and the death
// counted, every child is listed, the others leave on a graceful restart
// and the new generation joins the board.
void board_is_whole(HttpdServer& srv, pid_t killed, std::uint64_t counted_min, std::uint64_t counted_max) {
    // Read as soon as the child is dead (a zombie, or already reaped): the
    // page takes its entry back, if not at once then once the kernel has
    // ended all its threads.
    boost::property_tree::ptree j;
    std::string seen;
    BOOST_TEST(eventually(
                   [&] {
                       j = status_json(srv);
                       seen = describe(srv.child_pids(), j);
                       return listed_pids(j).count(killed) == 0 && j.get_child("leaves").get<int>("died") >= 1;
                   },
                   20s),
               "the killed child is off the page and counted as died: " << seen);
    BOOST_TEST(j.get_child("leaves").get<int>("died") == 1, "counted once");
    const auto requests = j.get_child("totals").get<std::uint64_t>("requests");
    BOOST_TEST(requests >= counted_min);
    BOOST_TEST(requests <= counted_max);
    send_hellos(srv, 3);
    BOOST_TEST(status_json(srv).get_child("totals").get<std::uint64_t>("requests") == requests + 3);
    // Every child httpd runs is on the page (httpd starts a replacement
    // only if it wants more spare children).
    BOOST_TEST(eventually(
                   [&] {
                       const auto pids = srv.child_pids();
                       const auto page = status_json(srv);
                       seen = describe(pids, page);
                       return !pids.empty() && listed_pids(page) == std::set<long>(pids.begin(), pids.end());
                   },
                   30s),
               "every child of httpd is on the page: " << seen);

    int generation = 0;
    const auto before = status_json(srv);
    for (auto& [k, c] : before.get_child("children")) generation = std::max(generation, c.get<int>("generation"));
    const auto old = srv.child_pids();
    srv.graceful_restart();
    for (pid_t p : old) BOOST_TEST(wait_gone(p, 30s) >= 0, "child " << p << " leaves on a graceful restart");
    BOOST_TEST(eventually(
                   [&] {
                       const auto pids = srv.child_pids();
                       const auto page = status_json(srv);
                       seen = describe(pids, page);
                       for (auto& [k, c] : page.get_child("children"))
                           if (c.get<int>("generation") <= generation) return false;
                       return !pids.empty() && listed_pids(page) == std::set<long>(pids.begin(), pids.end());
                   },
                   30s),
               "the new generation is on the page: " << seen);
    auto after = status_json(srv);
    BOOST_TEST(after.get_child("totals").get<std::uint64_t>("requests") == requests + 3);
    BOOST_TEST(after.get_child("leaves").get<int>("died") == 1);
}

} // namespace

BOOST_AUTO_TEST_SUITE(status_board_deaths)

BOOST_AUTO_TEST_CASE(a_child_killed_while_claiming_its_entry_leaves_the_board_whole) {
    for (const char* point : {"claim:taken", "claim:written"}) {
        for (auto& row : deaths_rows()) {
            BOOST_TEST_CONTEXT(row.name << ", " << point) {
                PausingServer ps(row.options, point);
                ps.lay_token();
                ps.srv.start();
                const pid_t pid = stopped_child(ps.srv);
                BOOST_TEST_REQUIRE(pid > 0);
                // Not on the page before its entry is complete.
                BOOST_TEST(listed_pids(status_json(ps.srv)).count(pid) == 0u);
                send_hellos(ps.srv, 4);
                kill_child(ps.srv, pid);
                board_is_whole(ps.srv, pid, 4, 4);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(a_child_shows_its_model_as_soon_as_it_is_on_the_page) {
    for (auto& row : deaths_rows()) {
        BOOST_TEST_CONTEXT(row.name) {
            PausingServer ps(row.options, "claim:live");
            ps.lay_token();
            ps.srv.start();
            const pid_t pid = stopped_child(ps.srv);
            BOOST_TEST_REQUIRE(pid > 0);
            auto j = status_json(ps.srv);
            bool found = false;
            for (auto& [k, c] : j.get_child("children")) {
                if (c.get<long>("pid") != pid) continue;
                found = true;
                BOOST_TEST(c.get<std::string>("mpm") == row.mpm);
                BOOST_TEST(c.get<int>("threads_per_child") == row.threads_per_child);
                BOOST_TEST(c.get<int>("py_threads") == row.py_threads);
            }
            BOOST_TEST(found, "the stopped child is on the page");
            kill_child(ps.srv, pid);
            board_is_whole(ps.srv, pid, 0, 0);
        }
    }
}

BOOST_AUTO_TEST_CASE(a_child_killed_while_counting_a_request_keeps_its_counts) {
    for (auto& row : deaths_rows()) {
        BOOST_TEST_CONTEXT(row.name) {
            PausingServer ps(row.options, "update");
            ps.srv.start();
            send_hellos(ps.srv, 4);
            ps.lay_token();
            auto cut = std::async(std::launch::async, [&] {
                try {
                    return http_get(ps.srv.port(), "/o/hello", 60s).status;
                } catch (const HttpError&) {
                    return 0; // cut by the kill
                }
            });
            const pid_t pid = stopped_child(ps.srv);
            BOOST_TEST_REQUIRE(pid > 0);
            kill_child(ps.srv, pid);
            cut.get();
            // The request it was counting may be counted, or not.
            board_is_whole(ps.srv, pid, 4, 5);
        }
    }
}

BOOST_AUTO_TEST_CASE(a_child_killed_while_leaving_stalls_no_one) {
    for (auto& row : deaths_rows()) {
        BOOST_TEST_CONTEXT(row.name) {
            PausingServer ps(row.options, "release");
            ps.srv.start();
            // start() returns once one child answers. A prefork child still
            // in child_init when the restart comes marks itself ready after
            // it (httpd's child_main), then leaves: stopped at the pause,
            // prefork counts it as an idle server and starts no new one
            // until it dies, so graceful_restart() would wait in vain.
            BOOST_TEST_REQUIRE(ps.srv.wait_for_log_count("PM00010: child ready", 2, 60s) >= 2u);
            send_hellos(ps.srv, 6);
            ps.lay_token();
            // The old generation leaves; the first to leave the board stops.
            const auto old = ps.srv.child_pids();
            ps.srv.graceful_restart();
            const pid_t pid = stopped_child(ps.srv);
            BOOST_TEST_REQUIRE(pid > 0);
            BOOST_TEST(std::count(old.begin(), old.end(), pid) == 1);
            kill_child(ps.srv, pid);
            for (pid_t p : old) BOOST_TEST(wait_gone(p, 30s) >= 0, "old child " << p << " leaves");
            board_is_whole(ps.srv, pid, 6, 6);
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()

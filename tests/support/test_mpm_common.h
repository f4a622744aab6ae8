// Helpers shared by the MPM-bridge end-to-end tests (test_mpm_*.cpp): server
// options for the behaviour-matrix rows, the "key=value" answers of
// tests/apps/mpm_*.py, and polling for processes and files.
#pragma once

#include "http_client.h"
#include "httpd_server.h"
#include "test_support.h"

#include <boost/property_tree/ptree.hpp>
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <optional>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace pympm_test::mpm {

using namespace std::chrono_literals;
using KeyValues = StringMap;

// The apps most suites serve: tests/apps/ops_app.py under /o (the operations
// and status suites), tests/apps/mpm_app.py under / (the MPM matrix).
inline const std::string kOpsApp = "PyApp /o @APPS@/ops_app.py\n";
inline const std::string kMpmApp = "PyApp / @APPS@/mpm_app.py\n";

// "key=value" lines (the answers of the mpm_* test apps).
inline KeyValues parse_kv(const std::string& text) {
    KeyValues out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        auto eq = line.find('=');
        if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
    }
    return out;
}

inline double at_double(const KeyValues& m, const std::string& key) {
    try {
        return std::stod(at(m, key));
    } catch (...) {
        BOOST_ERROR("'" << key << "' is not a number: " << at(m, key));
        return 0;
    }
}

inline long at_long(const KeyValues& m, const std::string& key) {
    try {
        return std::stol(at(m, key));
    } catch (...) {
        BOOST_ERROR("'" << key << "' is not an integer: " << at(m, key));
        return 0;
    }
}

// A GET that must answer 200; its body as key=value.
inline KeyValues get_kv(std::uint16_t port, const std::string& target,
                        std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    auto r = http_get(port, target, timeout);
    BOOST_TEST_REQUIRE(r.status == 200, "GET " << target << " answered " << r.status << ": " << r.body);
    return parse_kv(r.body);
}

// Seconds of CLOCK_MONOTONIC, the clock of time.monotonic() in the apps.
inline double mono(Clock::time_point t) { return std::chrono::duration<double>(t.time_since_epoch()).count(); }

// Polls `cond` every `every` until it holds or `timeout` passes.
inline bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds timeout,
                       std::chrono::milliseconds every = 20ms) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        if (cond()) return true;
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(every);
    }
}

// Gone = no such process, or a zombie its parent has not reaped yet.
inline bool process_gone(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    if (!in) return true;
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto rp = stat.rfind(')');
    return rp == std::string::npos || rp + 2 >= stat.size() || stat[rp + 2] == 'Z' || stat[rp + 2] == 'X';
}

// Waits for the process to be gone; returns how long that took (seconds), or
// a negative number after `timeout`.
inline double wait_gone(pid_t pid, std::chrono::milliseconds timeout) {
    const auto t0 = Clock::now();
    if (!eventually([pid] { return process_gone(pid); }, timeout)) return -1;
    return HttpResponse::seconds(t0, Clock::now());
}

// Watches a process from another thread, so that the moment it is gone is
// known while the test does other things (a graceful restart, requests).
class GoneWatcher {
public:
    GoneWatcher(pid_t pid, std::chrono::milliseconds timeout)
        : done_(std::async(std::launch::async, [pid, timeout]() -> std::optional<Clock::time_point> {
              const auto deadline = Clock::now() + timeout;
              while (Clock::now() < deadline) {
                  if (process_gone(pid)) return Clock::now();
                  std::this_thread::sleep_for(10ms);
              }
              return std::nullopt;
          })) {}
    // Seconds from `from` until the process was gone; negative on timeout.
    double seconds_since(Clock::time_point from) {
        auto at = done_.get();
        return at ? HttpResponse::seconds(from, *at) : -1;
    }

private:
    std::future<std::optional<Clock::time_point>> done_;
};

inline bool file_exists(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
}

inline std::string read_text(const std::string& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// httpd's Basic authentication of `location` for alice:secret
// ("Authorization: Basic YWxpY2U6c2VjcmV0"), as extra config.
inline std::string basic_auth_config(HttpdServer& srv, const std::string& location) {
    auto pw = run_command({"/usr/bin/htpasswd", "-nbB", "alice", "secret"});
    BOOST_REQUIRE_MESSAGE(pw.exit_code == 0, pw.output);
    const std::string file = srv.add_app_file("auth/htpasswd", pw.output.substr(0, pw.output.find('\n')) + "\n");
    const std::string mods = httpd_modules_dir();
    return "LoadModule authn_core_module " + mods +
           "/mod_authn_core.so\n"
           "LoadModule authn_file_module " +
           mods +
           "/mod_authn_file.so\n"
           "LoadModule auth_basic_module " +
           mods +
           "/mod_auth_basic.so\n"
           "LoadModule authz_user_module " +
           mods +
           "/mod_authz_user.so\n"
           "<Location " +
           location +
           ">\n"
           "    AuthType Basic\n    AuthName \"pympm test\"\n    AuthUserFile " +
           file +
           "\n"
           "    Require valid-user\n</Location>\n";
}

// ROOT/apps/markers, where mpm_stop_app.py writes (the child runs as nobody).
inline std::string make_markers_dir(const HttpdServer& srv) {
    std::string dir = srv.apps_dir() + "/markers";
    std::filesystem::create_directories(dir);
    ::chmod(dir.c_str(), 0777);
    return dir;
}

// Server options of the matrix rows.
inline HttpdOptions prefork_children(int n, std::string pympm_config) {
    HttpdOptions o;
    o.mpm = Mpm::prefork;
    o.start_servers = n;
    o.server_limit = n;
    o.max_request_workers = n;
    o.min_spare_servers = 1;
    o.max_spare_servers = n + 1;
    o.pympm_config = std::move(pympm_config);
    return o;
}

inline HttpdOptions threaded_one_child(Mpm mpm, int threads, std::string pympm_config) {
    HttpdOptions o;
    o.mpm = mpm;
    o.start_servers = 1;
    o.server_limit = 1;
    o.threads_per_child = threads;
    o.thread_limit = threads;
    o.max_request_workers = threads;
    o.min_spare_threads = 1;
    o.max_spare_threads = threads;
    o.pympm_config = std::move(pympm_config);
    return o;
}

// One prefork child and one event child of 4 threads, both serving `config`.
inline std::vector<std::pair<std::string, HttpdOptions>> prefork_and_event(const std::string& config) {
    return {{"prefork", prefork_one_child(config)}, {"event", threaded_one_child(Mpm::event, 4, config)}};
}

// The pympm-status page in JSON (its <Location> must be configured): it must
// answer 200 as application/json within 20 s, or the test fails.
inline boost::property_tree::ptree status_json(const HttpdServer& srv) {
    try {
        auto r = http_get(srv.port(), "/pympm-status?format=json", 20s);
        BOOST_TEST_REQUIRE(r.status == 200, r.body);
        BOOST_TEST(r.headers.get("Content-Type") == "application/json");
        return parse_json(r.body);
    } catch (const HttpError& e) {
        BOOST_TEST_REQUIRE(false, "the status page does not answer: " << e.what());
    }
    return {};
}

// The "child ready" line a given child logged.
inline std::string ready_line_of(const HttpdServer& srv, pid_t pid, std::chrono::milliseconds timeout = 15s) {
    return srv.wait_for_log("\\[pid " + std::to_string(pid) + "(:tid [0-9]+)?\\].*PM00010: child ready: ", timeout);
}

} // namespace pympm_test::mpm

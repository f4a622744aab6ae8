// HttpdServer: a real Apache httpd (/usr/sbin/apache2) for one end-to-end
// test, in its own temporary server root, on a free loopback port (or the
// address and port the test chooses), loading mod_pympm. Its error log is scanned when it is torn down: an unexpected
// [pympm:error], a child killed by a signal (AH00052) or a core file fails
// the test, and the whole log is printed whenever the test failed.
//
//     HttpdServer srv({.mpm = Mpm::prefork, .start_servers = 1,
//                      .pympm_config = "PyApp / @APPS@/environ_app.py"});
//     srv.start();
//     auto r = http_get(srv.port(), "/x");
//
// In pympm_config and extra_config, @APPS@ becomes ROOT/apps (a copy of
// tests/apps readable by `nobody`) and @ROOT@ the server root.
//
// In a sanitizer build (-DPYMPM_SANITIZE=...) httpd runs with the sanitizer
// runtimes preloaded; ASan writes reports to ROOT/sanitizer/asan.PID, UBSan
// to httpd's stderr (the error log). A report with a frame of this project
// fails the test, others are printed as warnings.
#pragma once

#include "http_client.h"

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace pympm_test {

enum class Mpm { prefork, worker, event };
const char* mpm_name(Mpm m);

struct HttpdOptions {
    Mpm mpm = Mpm::prefork;
    // Where httpd listens: a numeric IPv4 loopback address (any of
    // 127.0.0.0/8, so several servers can share one port), and a port; 0
    // picks a free one at every start().
    std::string listen_address = "127.0.0.1";
    std::uint16_t port = 0;
    // MPM sizing; unset values get small defaults that keep the set of
    // children stable (no spare-server reaping) — see mpm_config().
    std::optional<int> start_servers;
    std::optional<int> server_limit;
    std::optional<int> max_request_workers;
    std::optional<int> threads_per_child; // worker/event
    std::optional<int> thread_limit;      // worker/event
    std::optional<int> min_spare_threads; // worker/event
    std::optional<int> max_spare_threads; // worker/event
    std::optional<int> min_spare_servers; // prefork
    std::optional<int> max_spare_servers; // prefork
    int max_connections_per_child = 0;
    // PyApp/PyPath/... lines, inserted verbatim (after @APPS@/@ROOT@ substitution).
    std::string pympm_config;
    // Anything else, appended at the end of httpd.conf.
    std::string extra_config;
    std::string log_level = "warn pympm:info";
    bool load_pympm = true;
    bool keep_alive = true;
    int timeout_seconds = 30; // httpd's Timeout
    std::chrono::seconds start_timeout{30};
    // SIGTERM, then SIGKILL after this long (httpd itself escalates to SIGKILL
    // of its children at about 10 s).
    std::chrono::seconds stop_timeout{20};
    // The teardown scan counts error-level (and worse) lines of every module,
    // not only mod_pympm's: for servers whose whole log the test accounts for
    // (allow the expected ones with allow_log_error/allow_client_errors).
    bool scan_all_modules = false;
    // NAME=value pairs httpd (and so the apps) runs with, over the test's own
    // environment: to keep an app from the tester's ~/.hgrc, ~/.gitconfig,
    // ..., or to set PYMPM_TEST_PAUSE_AT (README, "Tests").
    std::vector<std::string> environment;
};

// One sanitizer report found under a server root.
struct SanitizerReport {
    std::string file; // where, relative to the root: sanitizer/asan.PID, logs/error_log, logs/httpd.out
    std::string text; // the report, every line
    // Its "==PID==ERROR: AddressSanitizer: ..." or "file:line:col: runtime
    // error: ..." line; empty for a warning or a note.
    std::string headline;
    // A frame (or UBSan's source location) in mod_pympm.so or in the
    // project's module/ or mpm_bridge/ sources.
    bool from_project = false;
    bool error() const { return !headline.empty(); }
};

// Splits a sanitizer's own log file (log_path) into its reports: an ASan
// report starts at its "=====" line, a UBSan one at its "file:line:col:
// runtime error:" line; other text (warnings) is a report of its own that is
// not an error.
std::vector<SanitizerReport> parse_sanitizer_log(const std::string& file, const std::string& text);
// The UBSan reports in httpd's error log or stderr: each "runtime error" line
// with the stack lines ("    #N ...") after it; httpd's own log lines in
// between (other threads) are skipped.
std::vector<SanitizerReport> find_ubsan_reports(const std::string& file, const std::string& text);

struct CommandResult {
    int exit_code = -1; // -1: killed by a signal or timed out
    std::string output; // stdout + stderr
    std::string error_log;
};

class HttpdServer {
public:
    explicit HttpdServer(HttpdOptions opts = {});
    ~HttpdServer(); // stops httpd, scans the log, removes the root
    HttpdServer(const HttpdServer&) = delete;
    HttpdServer& operator=(const HttpdServer&) = delete;

    // Writes httpd.conf, starts httpd in the foreground as a child process and
    // waits until it answers HTTP. Throws (failing the test) on timeout or if
    // httpd exits; retries on another port if the port was taken meanwhile.
    void start();
    // For configs httpd must refuse: starts it and expects it to exit by
    // itself (non-zero) within start_timeout. If it keeps running that is a
    // test error and the server is stopped.
    CommandResult start_expect_failure();
    // `apache2 -t`: the exit code and combined output of a config check.
    CommandResult config_test();
    // SIGUSR1, then waits until the parent has re-read the config ("resuming
    // normal operations" once more) and a request is answered again.
    void graceful_restart();
    // SIGTERM; waits; SIGKILL after stop_timeout; kills leftover children.
    // Safe to call more than once.
    void stop();
    // SIGWINCH (graceful stop: requests finish), then stop() if httpd is
    // still there after stop_timeout. The destructor uses it for threaded MPMs.
    void graceful_stop();
    // SIGKILL to httpd and all its children at once, as when a machine dies;
    // waits until they are gone. start() may follow (same root, and the same
    // port if options().port is set).
    void kill_all();
    bool running() const { return pid_ > 0; }

    std::uint16_t port() const { return port_; }
    const std::string& address() const { return opts_.listen_address; }
    pid_t pid() const { return pid_; }
    const std::string& root() const { return root_; }
    std::string apps_dir() const { return root_ + "/apps"; }
    std::string app_path(const std::string& name) const { return apps_dir() + "/" + name; }
    std::string conf_path() const { return root_ + "/conf/httpd.conf"; }
    std::string error_log_path() const { return root_ + "/logs/error_log"; }
    // Where httpd's processes write ASan reports (sanitizer builds).
    std::string sanitizer_log_dir() const { return root_ + "/sanitizer"; }
    // Creates ROOT/apps/<relative_path> (folders too), readable by nobody.
    std::string add_app_file(const std::string& relative_path, const std::string& content);
    // The generated config (valid after start()/config_test(), or on demand).
    std::string config_text() const;
    HttpdOptions& options() { return opts_; }

    // Error log
    std::string error_log() const;
    // Current size of the error log: pass it to wait_for_log / log_since to
    // look only at what was logged afterwards.
    std::size_t log_mark() const;
    std::string log_since(std::size_t mark) const;
    // Polls the log (from `mark`) until a line matches; returns that line or
    // "" on timeout.
    std::string wait_for_log(const std::string& regex, std::chrono::milliseconds timeout = std::chrono::seconds(15),
                             std::size_t mark = 0) const;
    // Waits until `regex` matches at least `n` lines (from `mark`); returns the count.
    std::size_t wait_for_log_count(const std::string& regex, std::size_t n,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(15),
                                   std::size_t mark = 0) const;
    std::size_t count_log(const std::string& regex, std::size_t mark = 0) const;
    std::vector<std::string> log_lines_matching(const std::string& regex, std::size_t mark = 0) const;

    // [pympm:error] lines matching `regex` do not fail the test.
    void allow_log_error(const std::string& regex);
    // Allows the error lines httpd tags with this client port (see
    // HttpResponse::local_port): everything logged about that one request.
    void allow_client_errors(std::uint16_t local_port);
    // The child `pid` was killed on purpose: httpd's AH00052 line about its
    // SIGKILL does not fail the test.
    void allow_killed_child(pid_t pid);
    // Allows the continuation lines of Python tracebacks logged at error level
    // ("Traceback (most recent call last):", "  File ...", source lines); the
    // exception line itself must be allowed with allow_log_error.
    void allow_traceback_lines();
    // What the teardown scan would report now (the error log, cores, and
    // sanitizer reports from the project's code).
    std::vector<std::string> log_problems() const;
    // Every sanitizer report: ASan's files in sanitizer_log_dir(), then
    // UBSan's in the error log and in httpd's stderr.
    std::vector<SanitizerReport> sanitizer_reports() const;
    // For tests of the harness that cause problems on purpose.
    void disable_teardown_scan() { scan_on_teardown_ = false; }

    // Pids of httpd's children (processes whose parent is the httpd pid).
    std::vector<pid_t> child_pids() const;
    // Writes the whole error log (and httpd's stderr) to stderr.
    void dump_logs(const std::string& why) const;

private:
    void reap_stopped(const std::vector<pid_t>& children);
    std::string substitute(const std::string& text) const;
    std::string mpm_config() const;
    void write_config() const;
    pid_t spawn(const std::vector<std::string>& args, const std::string& output_file) const;
    bool answers_http(std::chrono::milliseconds timeout) const;
    // Whether run/httpd.pid holds this httpd's pid (start(): the answer is ours).
    bool pid_file_names_ours() const;
    void teardown_checks();
    std::vector<std::string> sanitizer_log_files() const; // "sanitizer/asan.PID", sorted

    HttpdOptions opts_;
    std::string root_;
    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
    std::vector<std::regex> allowed_errors_;
    std::vector<pid_t> killed_children_;
    std::vector<std::string> stop_problems_;
    bool scan_on_teardown_ = true;
    bool started_once_ = false;
};

// A port in 20000-32000 that nothing listens on at any of `addresses` (for
// servers on several loopback addresses sharing one port).
std::uint16_t pick_free_port_on(const std::vector<std::string>& addresses);

// Adds a TLS virtual host to `srv`'s config (a fresh self-signed
// certificate for 127.0.0.1, mod_ssl, ALPN h2 then http/1.1; mod_http2 is
// the caller's) on a free port, which it returns. `vhost_lines` go inside
// the <VirtualHost>. Call before start().
std::uint16_t add_tls_vhost(HttpdServer& srv, const std::string& vhost_lines = "");

// Runs a command (no shell) with a timeout; output is stdout+stderr. httpd
// (args[0] == httpd_binary()) gets the sanitizer runtimes preloaded in a
// sanitizer build, reports then going to its output.
CommandResult run_command(const std::vector<std::string>& args,
                          std::chrono::seconds timeout = std::chrono::seconds(60));

// Settings compiled into the test binary (overridable by the environment
// variables of the same name).
std::string httpd_binary();
std::string httpd_modules_dir();
std::string pympm_module_path();
std::string test_apps_dir();
std::string source_dir(); // the checkout: conf/, scripts/ (for tests of shipped files)
std::string python_executable();
std::string python_version(); // "3.11"
// The -DPYMPM_SANITIZE list the module under test was built with ("" =
// plain build), and the runtimes preloaded into httpd for it.
std::string sanitizers();
std::string sanitizer_preload();
bool sanitizer_enabled(const std::string& name); // "address", "undefined"

// `text` as a regex that matches it literally.
std::string regex_escape(const std::string& text);

// True when the current Boost test case has failed so far.
bool current_test_failed();

} // namespace pympm_test

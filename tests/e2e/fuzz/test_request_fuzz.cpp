// The request fuzzer (part of issue 9: no request, client or httpd feature
// may crash, hang or desync a child). Seeded malformed and hostile HTTP/1.x
// and h2c traffic (request_fuzz_cases.h) against real httpd servers that
// combine what users put around an app server: ErrorDocument pages inside
// the mount, a small LimitRequestBody, mod_include subrequests into the app,
// mod_deflate, mod_rewrite, h2c and TraceEnable Off. One test case per
// MPM/PyThreads configuration, each with its own httpd: around the WSGI app
// (tests/apps/fuzz_app.py), and around its ASGI twin
// (tests/apps/fuzz_asgi_app.py), which answers every route with the same
// bytes.
//
// After every case: each answer was well-formed HTTP in step with its
// request, or a clean close (request_fuzz_runner.h); nothing hung past its
// deadline; no child died. After every batch (the cases of one kind): no
// crash line in the error log, and an ordinary GET is served. Teardown's log
// scan fails the test on any error line the fuzz app's deliberately failing
// routes do not explain.
//
// Reproducible: the seed is printed; PYMPM_FUZZ_SEED overrides it,
// PYMPM_FUZZ_ROUNDS multiplies the cases, PYMPM_FUZZ_ONLY=kind,kind runs only
// those kinds (with the very same bytes: each batch has its own generator),
// PYMPM_FUZZ_CONFIG=name only that configuration, PYMPM_FUZZ_VERBOSE=1 prints
// every case with its time and every failing case in full (not only the
// first few of each kind). PYMPM_FUZZ_REFERENCE=mod_wsgi serves the app with
// mod_wsgi instead (if installed), to tell httpd's behaviour from the module's
// (the ASGI configurations are skipped then).
#include "http1_response_parser.h"
#include "http_client.h"
#include "httpd_server.h"
#include "request_fuzz_cases.h"
#include "request_fuzz_runner.h"
#include "test_support.h"

#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

using namespace pympm_test;
using namespace std::chrono_literals;

namespace {

constexpr std::uint32_t kDefaultSeed = 20261130;
constexpr auto kCaseDeadline = 10s;
// After this many hangs a configuration stops: stuck threads make every
// later request wait out its deadline too.
constexpr int kMaxHangsPerConfig = 2;
// A crash costs a core dump and a new child (a second or two): after this
// many the rest of the batch, or of the configuration, is skipped, so a
// crashing module fails the suite in minutes, not in a CTest timeout.
constexpr int kMaxDeathsPerBatch = 2;
constexpr int kMaxDeathsPerConfig = 12;
// Findings printed in full per kind and configuration; the rest are counted.
constexpr int kPrintedPerKind = 3;
// Crashed children whose stack is printed per configuration (gdb takes a
// second or two each).
constexpr int kBacktracesPerConfig = 4;

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? v : "";
}

std::uint32_t fuzz_seed() {
    const std::string s = env("PYMPM_FUZZ_SEED");
    return s.empty() ? kDefaultSeed : static_cast<std::uint32_t>(std::stoul(s));
}

int fuzz_rounds() {
    const std::string s = env("PYMPM_FUZZ_ROUNDS");
    return s.empty() ? 1 : std::max(1, std::stoi(s));
}

// Left out of the default run because they crash httpd itself, whatever
// serves the request: DATA past a stream's content-length makes mod_http2
// (Debian 12's httpd 2.4.71) segfault now and then in
// ap_logio_add_bytes_out on the connection's thread, with mod_wsgi in place
// of mod_pympm too (PYMPM_FUZZ_REFERENCE=mod_wsgi), more often under ASan.
// PYMPM_FUZZ_ONLY=h2_data_beyond_length still runs them.
bool crashes_httpd_itself(fuzz::Mutation m) { return m == fuzz::Mutation::h2_data_beyond_length; }

std::vector<fuzz::Mutation> selected_kinds() {
    const std::string only = env("PYMPM_FUZZ_ONLY");
    if (only.empty()) {
        std::vector<fuzz::Mutation> all = fuzz::all_mutations();
        all.erase(std::remove_if(all.begin(), all.end(), crashes_httpd_itself), all.end());
        return all;
    }
    std::vector<fuzz::Mutation> out;
    std::istringstream in(only);
    for (std::string name; std::getline(in, name, ',');) {
        auto m = fuzz::mutation_named(name);
        if (!m) throw std::runtime_error("PYMPM_FUZZ_ONLY: unknown kind '" + name + "'");
        out.push_back(*m);
    }
    return out;
}

struct FuzzConfig {
    std::string name;
    Mpm mpm;
    std::string py_threads;
    int index;         // part of every batch's seed
    bool asgi = false; // mount fuzz_asgi_app.py instead of fuzz_app.py
    std::string extra; // more mod_pympm directives
};

// The features users put around an app: all of them at once, around four
// mounts of the same app. An ASGI app cannot see REDIRECT_STATUS: its error
// pages are told the status in their URL.
std::string feature_config(bool asgi) {
    const std::string mods = httpd_modules_dir();
    std::string error_documents;
    for (const char* status : {"400", "404", "413", "500"})
        error_documents +=
            std::string("ErrorDocument ") + status + " /app/error" + (asgi ? std::string("?s=") + status : "") + "\n";
    return "LoadModule include_module " + mods +
           "/mod_include.so\n"
           "LoadModule deflate_module " +
           mods +
           "/mod_deflate.so\n"
           "LoadModule rewrite_module " +
           mods +
           "/mod_rewrite.so\n"
           "LoadModule http2_module " +
           mods +
           "/mod_http2.so\n"
           "Protocols h2c http/1.1\n"
           "TraceEnable Off\n" +
           error_documents +
           "RewriteEngine On\n"
           "RewriteRule ^/rw/(.*)$ /app/$1 [PT]\n"
           "<Location /inc>\n    Options +Includes\n    SetOutputFilter INCLUDES\n</Location>\n"
           "<Location /gz>\n    SetOutputFilter DEFLATE\n</Location>\n"
           "<Location /small>\n    LimitRequestBody 1024\n</Location>\n";
}

HttpdOptions options_for(const FuzzConfig& c) {
    HttpdOptions o;
    o.mpm = c.mpm;
    if (c.mpm == Mpm::prefork) {
        o.start_servers = 2;
        o.server_limit = 2;
        o.max_request_workers = 2;
    } else {
        o.start_servers = 1;
        o.server_limit = 1;
        o.threads_per_child = 4;
        o.thread_limit = 4;
        o.max_request_workers = 4;
    }
    o.extra_config = feature_config(c.asgi);
    if (env("PYMPM_FUZZ_REFERENCE") == "mod_wsgi") {
        // The same cases against mod_wsgi: what fails there too is httpd's
        // behaviour or the fuzzer's mistake, not mod_pympm's.
        o.load_pympm = false;
        o.extra_config += "LoadModule wsgi_module " + httpd_modules_dir() +
                          "/mod_wsgi.so\n"
                          "WSGIApplicationGroup %{GLOBAL}\nWSGIChunkedRequest On\n";
        for (const char* mount : {"/app", "/inc", "/gz", "/small"})
            o.extra_config += std::string("WSGIScriptAlias ") + mount + " @APPS@/fuzz_app.py\n";
        return o;
    }
    const std::string app = c.asgi ? "@APPS@/fuzz_asgi_app.py:app asgi" : "@APPS@/fuzz_app.py";
    for (const char* mount : {"/app", "/inc", "/gz", "/small"})
        o.pympm_config += std::string("PyApp ") + mount + " " + app + "\n";
    o.pympm_config += "PyThreads " + c.py_threads + "\n" + c.extra;
    // Longer than a case's deadline: a request that waits for httpd's
    // Timeout is a hang.
    o.timeout_seconds = 20;
    o.stop_timeout = 8s;
    return o;
}

// The error lines the fuzz app's deliberately failing routes cause (and
// nothing else: a crash, an internal error or an app error anywhere else
// fails the test at teardown).
void allow_deliberate_errors(HttpdServer& srv) {
    srv.allow_traceback_lines();
    // (An ASGI app's name ends in " (asgi)".)
    srv.allow_log_error(
        R"(PM00020: app \S+( \(asgi\))? (raised an exception|failed while producing its response) for ([A-Z]+ )?\S*/fail_(before|after|midstream)\b)");
    srv.allow_log_error(
        R"(PM00025: app \S+( \(asgi\))? sent \d+ bytes but declared Content-Length \d+ for \S*/cl_(short|huge)\b)");
    srv.allow_log_error(
        R"(PM00023: app \S+( \(asgi\))? produced more than its Content-Length of 5 bytes for \S*/cl_long\b)");
    // Statuses an app must not send (1xx): refusing them is an app error,
    // whatever the message that names the request.
    srv.allow_log_error(R"(\[pympm:error\] .*/status\?s=[0-9]+)");
}

// Deterministic content of the file the apps send (wsgi.file_wrapper, or in
// parts from the ASGI twin): every byte value.
std::string data_file(std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::string s(200000, '\0');
    for (auto& c : s) c = static_cast<char>(rng() & 0xff);
    return s;
}

// Lines of `log` that mean a child died or the module failed internally.
std::vector<std::string> crash_lines(const std::string& log) {
    std::vector<std::string> out;
    std::istringstream in(log);
    for (std::string line; std::getline(in, line);)
        if (contains(line, "exit signal") || contains(line, "AH00052") || contains(line, "Fatal Python error") ||
            contains(line, "PM00004"))
            out.push_back(line);
    return out;
}

// Error-log lines about one client connection, for a finding's report.
std::string log_of_client(const std::string& log, std::uint16_t local_port) {
    if (!local_port) return {};
    const std::string tag = client_log_tag(local_port);
    std::string out;
    int n = 0;
    std::istringstream in(log);
    for (std::string line; std::getline(in, line) && n < 12;)
        if (contains(line, tag)) out += "        " + line + "\n", ++n;
    return out;
}

struct KindStats {
    int cases = 0;
    int skipped = 0; // after kMaxDeathsPerBatch
    std::size_t requests = 0;
    int findings = 0;
    double seconds = 0;
};

class ConfigRun {
public:
    ConfigRun(const FuzzConfig& config, std::uint32_t seed) : config_(config), seed_(seed) {}

    void run() {
        HttpdServer srv(options_for(config_));
        const std::string file = data_file(seed_);
        srv.add_app_file("fuzz_data/file.bin", file);
        allow_deliberate_errors(srv);
        srv.start();
        const auto started = Clock::now();
        known_children_ = srv.child_pids();
        expected_children_ = known_children_.size();

        const int rounds = fuzz_rounds();
        const auto kinds = selected_kinds();
        for (int round = 0; round < rounds && !stopped_; ++round) {
            for (fuzz::Mutation kind : kinds) {
                if (stopped_) break;
                run_batch(srv, kind, round, file);
            }
        }
        if (!stopped_) require_ordinary_get(srv, "at the end");

        const double secs = HttpResponse::seconds(started, Clock::now());
        int cases = 0, findings = 0;
        std::size_t requests = 0;
        std::string per_kind;
        for (const auto& [kind, s] : stats_) {
            cases += s.cases;
            requests += s.requests;
            findings += s.findings;
            char secs_text[32];
            std::snprintf(secs_text, sizeof secs_text, "%.1fs", s.seconds);
            per_kind += std::string(" ") + fuzz::name(kind) + "=" + std::to_string(s.requests) + "/" + secs_text +
                        (s.findings ? "/" + std::to_string(s.findings) + "-failed" : "") +
                        (s.skipped ? "/" + std::to_string(s.skipped) + "-skipped" : "");
        }
        BOOST_TEST_MESSAGE("fuzz " << config_.name << ": seed " << seed_ << ", " << rounds << " round(s), " << cases
                                   << " cases, " << requests << " requests, " << findings << " failing cases, "
                                   << hangs_ << " hangs, " << crashes_ << " child deaths, "
                                   << (stopped_ ? "STOPPED EARLY, " : "") << secs
                                   << " s; requests/time per kind:" << per_kind);
        BOOST_TEST(findings == 0, "fuzz " << config_.name << ": " << findings << " failing cases (seed " << seed_
                                          << "); reproduce one kind with PYMPM_FUZZ_SEED=" << seed_
                                          << " PYMPM_FUZZ_ONLY=<kind> PYMPM_FUZZ_CONFIG=" << config_.name);
    }

private:
    void run_batch(HttpdServer& srv, fuzz::Mutation kind, int round, const std::string& file) {
        // Each batch has its own generator: one kind alone gives the same bytes.
        std::seed_seq seq{seed_, static_cast<std::uint32_t>(config_.index), static_cast<std::uint32_t>(round),
                          static_cast<std::uint32_t>(kind)};
        std::mt19937 rng(seq);
        fuzz::World world;
        world.port = srv.port();
        world.file = file;
        world.token_prefix = "t" + std::to_string(static_cast<int>(kind)) + "r" + std::to_string(round) + "n";
        world.asgi = config_.asgi;
        const auto cases = fuzz::make_cases(kind, fuzz::cases_per_round(kind), world, rng);
        const std::size_t batch_mark = srv.log_mark();
        KindStats& stats = stats_[kind];
        const auto batch_start = Clock::now();
        const int deaths_before = crashes_;
        for (std::size_t i = 0; i < cases.size() && !stopped_; ++i) {
            if (crashes_ - deaths_before >= kMaxDeathsPerBatch) {
                stats.skipped += static_cast<int>(cases.size() - i);
                break;
            }
            const std::size_t mark = srv.log_mark();
            const auto case_start = Clock::now();
            fuzz::Outcome o = fuzz::run_case(cases[i], srv.port(), kCaseDeadline);
            if (verbose_)
                BOOST_TEST_MESSAGE("fuzz " << config_.name << " " << fuzz::name(kind) << " case " << i << " ("
                                           << HttpResponse::seconds(case_start, Clock::now()) << " s"
                                           << (o.closed_unanswered ? ", closed unanswered" : "")
                                           << "): " << fuzz::what_of(cases[i]).substr(0, 150));
            ++stats.cases;
            stats.requests += o.requests;
            // A client that left cannot tell whether the child survived it:
            // look briefly, so a crash is blamed on this case.
            if (o.closed_unanswered)
                wait_for_a_death(300ms);
            else if (o.client_left)
                wait_for_a_death(50ms);
            const bool died = check_children(srv, o);
            if (o.hang) ++hangs_;
            if (!o.problems.empty()) {
                ++stats.findings;
                if (stats.findings <= kPrintedPerKind || verbose_)
                    report(srv, cases[i], o, mark, round, i, died ? crash_backtrace(srv, mark) : std::string());
            }
            if (hangs_ >= kMaxHangsPerConfig) {
                stopped_ = true;
                BOOST_ERROR("fuzz " << config_.name << ": stopping after " << hangs_
                                    << " hangs (stuck threads make every later request hang too)");
            } else if (crashes_ >= kMaxDeathsPerConfig) {
                stopped_ = true;
                BOOST_ERROR("fuzz " << config_.name << ": stopping after " << crashes_ << " child deaths");
            }
        }
        stats.seconds += HttpResponse::seconds(batch_start, Clock::now());
        // Children are reaped asynchronously: the log says how they died.
        const auto crashes = crash_lines(srv.log_since(batch_mark));
        if (!crashes.empty()) {
            std::string lines;
            for (const auto& l : crashes) lines += "\n    " + l;
            BOOST_ERROR("fuzz " << config_.name << ", batch " << fuzz::name(kind) << ": the error log shows" << lines);
        }
        if (!stopped_) require_ordinary_get(srv, std::string("after the ") + fuzz::name(kind) + " batch");
    }

    // Children that died since the last case are the case's problem; httpd
    // replaces them, and the replacements are watched from then on.
    bool check_children(const HttpdServer& srv, fuzz::Outcome& o) {
        bool died = false;
        for (pid_t pid : known_children_) {
            if (process_running(pid)) continue;
            died = true;
            ++crashes_;
            o.problems.push_back("CHILD DIED: pid " + std::to_string(pid) +
                                 " is gone after this case (or just before it)");
        }
        std::erase_if(known_children_, [](pid_t p) { return !process_running(p); });
        if (known_children_.size() < expected_children_) known_children_ = srv.child_pids();
        return died;
    }

    // The crashed child's stack, from its core file (when gdb is installed).
    // The core is renamed so that the next crash's core is not mistaken for
    // it; teardown still reports every core file.
    std::string crash_backtrace(const HttpdServer& srv, std::size_t mark) {
        srv.wait_for_log("exit signal", 5s, mark);
        const std::string core = srv.root() + "/cores/core";
        if (::access(core.c_str(), R_OK) != 0) return {};
        if (cores_seen_ >= kBacktracesPerConfig || ::access("/usr/bin/gdb", X_OK) != 0) {
            ::rename(core.c_str(), (core + "." + std::to_string(++cores_seen_)).c_str());
            return {};
        }
        auto bt = run_command({"/usr/bin/gdb", "-batch", "-ex", "thread apply all bt 30", httpd_binary(), core}, 60s);
        ::rename(core.c_str(), (core + "." + std::to_string(++cores_seen_)).c_str());
        // The threads that were in mod_pympm or took the signal.
        std::vector<std::string> threads;
        std::istringstream in(bt.output);
        for (std::string line; std::getline(in, line);) {
            if (line.rfind("Thread ", 0) == 0) threads.emplace_back();
            if (!threads.empty() && line.rfind("#", 0) == 0) threads.back() += "        " + line + "\n";
        }
        std::string frames;
        for (const auto& t : threads)
            if (contains(t, "pympm") || contains(t, "<signal handler called>")) frames += t + "        --\n";
        return frames;
    }

    // A child that crashes takes a moment to go (it writes a core). When a
    // connection ended unanswered, look briefly for a dying child and wait
    // for its end, so that the death is blamed on the case that caused it.
    void wait_for_a_death(std::chrono::milliseconds look) {
        auto until = Clock::now() + look;
        while (Clock::now() < until) {
            for (pid_t pid : known_children_) {
                if (!process_running(pid)) return;
                if (process_dying(pid)) until = Clock::now() + 10s;
            }
            std::this_thread::sleep_for(5ms);
        }
    }

    void require_ordinary_get(HttpdServer& srv, const std::string& when) {
        try {
            auto r = http_get(srv.port(), "/app/text", kCaseDeadline);
            if (r.status == 200 && r.body == "included-text\n") return;
            BOOST_ERROR("fuzz " << config_.name << ": an ordinary GET " << when << " answered " << r.status << ": "
                                << r.body.substr(0, 200));
        } catch (const HttpError& e) {
            BOOST_ERROR("fuzz " << config_.name << ": an ordinary GET " << when << " failed: " << e.what());
            stopped_ = true;
        }
    }

    void report(const HttpdServer& srv, const fuzz::Case& c, const fuzz::Outcome& o, std::size_t mark, int round,
                std::size_t index, const std::string& backtrace) {
        std::ostringstream msg;
        msg << "fuzz " << config_.name << " [" << fuzz::name(fuzz::kind_of(c)) << " round " << round << " case "
            << index << ", seed " << seed_ << "]: " << fuzz::what_of(c);
        for (const auto& p : o.problems) msg << "\n    - " << p;
        msg << "\n    reproducer: " << fuzz::reproducer(c, o);
        if (!o.received.empty()) msg << "\n    received: \"" << c_escape(o.received, 600) << "\"";
        const std::string client_log = log_of_client(srv.log_since(mark), o.local_port);
        if (!client_log.empty()) msg << "\n    error log about this connection:\n" << client_log;
        if (!backtrace.empty()) msg << "\n    backtrace of the crashed child (gdb, its core file):\n" << backtrace;
        BOOST_ERROR(msg.str());
    }

    FuzzConfig config_;
    std::uint32_t seed_;
    std::vector<pid_t> known_children_;
    std::size_t expected_children_ = 0;
    int cores_seen_ = 0;
    std::map<fuzz::Mutation, KindStats> stats_;
    int hangs_ = 0;
    int crashes_ = 0;
    bool stopped_ = false;
    const bool verbose_ = !env("PYMPM_FUZZ_VERBOSE").empty();
};

void fuzz_config(const FuzzConfig& config) {
    const std::string only = env("PYMPM_FUZZ_CONFIG");
    if (!only.empty() && only != config.name) {
        BOOST_TEST_MESSAGE("fuzz " << config.name << ": skipped (PYMPM_FUZZ_CONFIG=" << only << ")");
        return;
    }
    if (config.asgi && !env("PYMPM_FUZZ_REFERENCE").empty()) {
        BOOST_TEST_MESSAGE("fuzz " << config.name << ": skipped (the reference serves WSGI only)");
        return;
    }
    BOOST_TEST_MESSAGE("fuzz " << config.name << ": seed " << fuzz_seed() << " (PYMPM_FUZZ_SEED overrides)");
    ConfigRun(config, fuzz_seed()).run();
}

} // namespace

BOOST_AUTO_TEST_SUITE(hardening_fuzz, *boost::unit_test::label("slow"))

BOOST_AUTO_TEST_CASE(prefork) { fuzz_config({"prefork", Mpm::prefork, "auto", 0, false, ""}); }

BOOST_AUTO_TEST_CASE(event_pythreads_1) { fuzz_config({"event_pythreads_1", Mpm::event, "1", 1, false, ""}); }

BOOST_AUTO_TEST_CASE(event_pythreads_auto) { fuzz_config({"event_pythreads_auto", Mpm::event, "auto", 2, false, ""}); }

// The ASGI twin: each request's app runs as a task on the child's event
// loop while httpd's request thread reads and writes for it. Prefork and a
// threaded child on uvloop (the default when installed), and one request at
// a time in the app on asyncio's own loop. (ASGI needs PyEnableThreads On.)
BOOST_AUTO_TEST_CASE(asgi_prefork) { fuzz_config({"asgi_prefork", Mpm::prefork, "auto", 3, true, ""}); }

BOOST_AUTO_TEST_CASE(asgi_event_pythreads_auto) {
    fuzz_config({"asgi_event_pythreads_auto", Mpm::event, "auto", 4, true, ""});
}

BOOST_AUTO_TEST_CASE(asgi_event_pythreads_1_asyncio) {
    fuzz_config({"asgi_event_pythreads_1_asyncio", Mpm::event, "1", 5, true, "PyAsyncioLoop asyncio\n"});
}

BOOST_AUTO_TEST_SUITE_END()

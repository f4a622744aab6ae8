#include "httpd_server.h"

#include <boost/test/framework.hpp>
#include <boost/test/results_collector.hpp>
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;

namespace pympm_test {

namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(50);

std::string env_or(const char* name, const char* fallback) {
    const char* v = std::getenv(name);
    return (v && *v) ? std::string(v) : std::string(fallback);
}

std::string read_file(const std::string& path, std::size_t from = 0) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return {};
    if (from) {
        in.seekg(0, std::ios::end);
        auto size = static_cast<std::size_t>(in.tellg());
        if (from >= size) return {};
        in.seekg(static_cast<std::streamoff>(from));
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_file(const std::string& path, const std::string& content, mode_t mode = 0644) {
    {
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        if (!out) throw std::runtime_error("cannot write " + path);
        out << content;
    }
    ::chmod(path.c_str(), mode);
}

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < text.size()) {
        auto nl = text.find('\n', start);
        if (nl == std::string::npos) {
            lines.push_back(text.substr(start));
            break;
        }
        lines.push_back(text.substr(start, nl - start));
        start = nl + 1;
    }
    return lines;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
    for (std::size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size())
        s.replace(pos, from.size(), to);
}

// Readable (and, for folders, searchable) by everyone: children run as nobody.
void make_world_readable(const fs::path& top) {
    ::chmod(top.c_str(), 0755);
    for (auto& e : fs::recursive_directory_iterator(top)) {
        if (e.is_directory())
            ::chmod(e.path().c_str(), 0755);
        else if (e.is_regular_file())
            ::chmod(e.path().c_str(), 0644);
    }
}

// A port outside the kernel's ephemeral range (32768-60999), so that
// outgoing client connections of parallel tests never hold it, free on every
// one of `addresses`.
std::uint16_t pick_port(const std::vector<std::string>& addresses) {
    static std::mt19937 rng{std::random_device{}() ^ static_cast<unsigned>(::getpid())};
    std::uniform_int_distribution<int> dist(20000, 32000);
    auto free_on = [](const std::string& address, std::uint16_t port) {
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        if (::inet_pton(AF_INET, address.c_str(), &addr.sin_addr) != 1)
            throw std::runtime_error("not a numeric IPv4 address: '" + address + "'");
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return false;
        bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        ::close(fd);
        return ok;
    };
    for (int attempt = 0; attempt < 200; ++attempt) {
        auto port = static_cast<std::uint16_t>(dist(rng));
        bool ok = true;
        for (const auto& a : addresses) ok = ok && free_on(a, port);
        if (ok) return port;
    }
    throw std::runtime_error("no free port found in 20000-32000");
}

bool process_alive(pid_t pid) { return pid > 0 && ::kill(pid, 0) == 0; }

// The exit status of `pid` if it has exited (reaped), nullopt otherwise.
std::optional<int> try_reap(pid_t pid) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (r < 0 && errno == ECHILD) return -1;
    return std::nullopt;
}

std::optional<int> wait_exit(pid_t pid, std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    for (;;) {
        if (auto rc = try_reap(pid)) return rc;
        if (Clock::now() >= deadline) return std::nullopt;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

// Running: exists and is not a zombie (a killed child whose parent died
// waits for whoever reaps orphans).
bool process_running(pid_t pid) {
    std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    auto rp = stat.rfind(')');
    return rp != std::string::npos && rp + 2 < stat.size() && stat[rp + 2] != 'Z' && stat[rp + 2] != 'X';
}

std::string proc_comm(pid_t pid) {
    std::string comm = read_file("/proc/" + std::to_string(pid) + "/comm");
    while (!comm.empty() && comm.back() == '\n') comm.pop_back();
    return comm;
}

std::vector<char*> make_argv(std::vector<std::string>& args) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    return argv;
}

std::vector<std::string> inherited_environment() {
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) env.emplace_back(*e);
    return env;
}

// The environment httpd runs with: the test's own and, in a sanitizer build,
// the runtimes preloaded (mod_pympm.so needs them; ASan must be the first
// library of the process, which a dlopen'ed module cannot be) with their
// options. Reports go to files under `log_dir` (stderr if empty).
std::vector<std::string> httpd_environment(const std::string& log_dir) {
    const std::string preload = sanitizer_preload();
    if (preload.empty()) return inherited_environment();
    std::vector<std::string> env;
    std::string inherited_preload;
    for (auto& var : inherited_environment()) {
        if (var.starts_with("LD_PRELOAD="))
            inherited_preload = var.substr(11);
        else if (!var.starts_with("ASAN_OPTIONS=") && !var.starts_with("UBSAN_OPTIONS=") &&
                 !var.starts_with("TSAN_OPTIONS="))
            env.push_back(var);
    }
    env.push_back("LD_PRELOAD=" + preload + (inherited_preload.empty() ? "" : ":" + inherited_preload));
    // detect_leaks=0: httpd frees pools only at exit, and a child that stops
    // with app threads stuck leaves its interpreter unfinalised on purpose.
    // halt_on_error=1 (ASan's default, said here): the code is not built with
    // -fsanitize-recover=address, and after a memory error the rest of the
    // run proves nothing. The process then exits with status 1, which httpd
    // does not log for a child: the report file is how the test learns of it.
    // abort_on_error stays 0, since a SIGABRT would fail every test through
    // AH00052 even for a report in httpd's own code.
    // malloc_context_size=10 (default 30): every malloc and free records
    // its stack, and CPython allocates through ASan in this build; 10 frames
    // still reach from the allocator to our code. With 4 frames a suite took
    // 21 % less CPU than with 30 (asgi_http: 28 s -> 22 s).
    std::string asan = "detect_leaks=0:halt_on_error=1:malloc_context_size=10";
    // UBSan goes on after a report (halt_on_error=0): undefined behaviour
    // rarely corrupts the process at once, the request completes, and one run
    // collects every distinct finding; the teardown scan fails the test.
    // No log_path: with libasan loaded, gcc's libubsan ignores it (its
    // __sanitizer_set_report_path call binds to libasan's copy) and writes to
    // stderr, which is httpd's error log or logs/httpd.out.
    std::string ubsan = "print_stacktrace=1:report_error_type=1:halt_on_error=0";
    if (!log_dir.empty()) asan += ":log_path=" + log_dir + "/asan"; // + .PID
    // For investigating (README, "Sanitizers"): later options win.
    if (const char* extra = std::getenv("PYMPM_TEST_ASAN_OPTIONS"); extra && *extra) asan += std::string(":") + extra;
    if (const char* extra = std::getenv("PYMPM_TEST_UBSAN_OPTIONS"); extra && *extra) ubsan += std::string(":") + extra;
    env.push_back("ASAN_OPTIONS=" + asan);
    env.push_back("UBSAN_OPTIONS=" + ubsan);
    if (sanitizer_enabled("thread")) {
        // ThreadSanitizer goes on after a report, as UBSan; libpython, APR
        // and httpd are not instrumented, and what they race on among
        // themselves is not ours to judge (tests/tsan.supp). Reports go to
        // ROOT/sanitizer/tsan.PID.
        std::string tsan = "halt_on_error=0:second_deadlock_stack=1:suppressions=" + source_dir() + "/tests/tsan.supp";
        if (!log_dir.empty()) tsan += ":log_path=" + log_dir + "/tsan";
        if (const char* extra = std::getenv("PYMPM_TEST_TSAN_OPTIONS"); extra && *extra)
            tsan += std::string(":") + extra;
        env.push_back("TSAN_OPTIONS=" + tsan);
    }
    return env;
}

// fork+exec with stdin from /dev/null and stdout+stderr appended to
// `output_file`, in a new process group (httpd signals its whole group on
// stop: that must never include the test runner).
pid_t spawn_process(std::vector<std::string> args, const std::string& output_file, std::vector<std::string> env) {
    auto argv = make_argv(args);
    auto envp = make_argv(env); // before fork: the child may not allocate
    int out = ::open(output_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out < 0) throw std::runtime_error("cannot open " + output_file + ": " + std::strerror(errno));
    int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_t pid = ::fork();
    if (pid < 0) {
        ::close(out);
        ::close(devnull);
        throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    }
    if (pid == 0) {
        // Only async-signal-safe calls from here on.
        ::setpgid(0, 0);
        ::dup2(devnull, 0);
        ::dup2(out, 1);
        ::dup2(out, 2);
        // Let crashing children leave a core in CoreDumpDirectory so the
        // teardown scan can report it.
        rlimit rl{};
        if (::getrlimit(RLIMIT_CORE, &rl) == 0) {
            rlim_t want = 1024UL * 1024 * 1024;
            rl.rlim_cur = (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want) ? want : rl.rlim_max;
            ::setrlimit(RLIMIT_CORE, &rl);
        }
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::execve(argv[0], argv.data(), envp.data());
        static const char msg[] = "exec failed\n";
        (void)!::write(2, msg, sizeof msg - 1);
        ::_exit(127);
    }
    ::close(out);
    ::close(devnull);
    return pid;
}

} // namespace

std::uint16_t pick_free_port_on(const std::vector<std::string>& addresses) { return pick_port(addresses); }

std::uint16_t add_tls_vhost(HttpdServer& srv, const std::string& vhost_lines) {
    const std::string key = srv.add_app_file("tls/key.pem", "");
    const std::string cert = srv.add_app_file("tls/cert.pem", "");
    auto mk = run_command({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                           "/CN=127.0.0.1", "-keyout", key, "-out", cert});
    BOOST_REQUIRE_MESSAGE(mk.exit_code == 0, mk.output);
    ::chmod(key.c_str(), 0644); // the children's user reads it
    const std::uint16_t port = pick_free_port_on({"127.0.0.1"});
    const std::string mods = httpd_modules_dir();
    srv.options().extra_config +=
        "LoadModule socache_shmcb_module " + mods + "/mod_socache_shmcb.so\n" + "LoadModule ssl_module " + mods +
        "/mod_ssl.so\n" + "SSLSessionCache shmcb:" + srv.root() + "/run/ssl_scache(512000)\n" +
        "Listen 127.0.0.1:" + std::to_string(port) + "\n<VirtualHost 127.0.0.1:" + std::to_string(port) +
        ">\n    ServerName 127.0.0.1\n    SSLEngine on\n    Protocols h2 http/1.1\n" + "    SSLCertificateFile " +
        cert + "\n    SSLCertificateKeyFile " + key + "\n" + vhost_lines + "</VirtualHost>\n";
    return port;
}

const char* mpm_name(Mpm m) {
    switch (m) {
    case Mpm::prefork: return "prefork";
    case Mpm::worker: return "worker";
    case Mpm::event: return "event";
    }
    return "?";
}

std::string httpd_binary() { return env_or("PYMPM_HTTPD_BIN", PYMPM_HTTPD_BIN); }
std::string httpd_modules_dir() { return env_or("PYMPM_HTTPD_MODULES_DIR", PYMPM_HTTPD_MODULES_DIR); }
std::string pympm_module_path() { return env_or("PYMPM_MODULE_PATH", PYMPM_MODULE_PATH); }
std::string test_apps_dir() { return env_or("PYMPM_TEST_APPS_DIR", PYMPM_TEST_APPS_DIR); }
std::string source_dir() { return env_or("PYMPM_SOURCE_DIR", PYMPM_SOURCE_DIR); }
std::string python_executable() { return env_or("PYMPM_PYTHON", PYMPM_PYTHON); }
std::string python_version() { return PYMPM_PYTHON_VERSION; }
// The e2e binary is built once; CI runs it against the plain module and
// against build-asan's (tests/CMakeLists.txt, asan.* tests), which sets these.
std::string sanitizers() { return env_or("PYMPM_SANITIZE", PYMPM_SANITIZE); }
std::string sanitizer_preload() { return env_or("PYMPM_SANITIZER_PRELOAD", PYMPM_SANITIZER_PRELOAD); }

bool sanitizer_enabled(const std::string& name) {
    std::istringstream in(sanitizers());
    for (std::string s; std::getline(in, s, ',');)
        if (s == name) return true;
    return false;
}

bool current_test_failed() {
    try {
        auto id = boost::unit_test::framework::current_test_case().p_id;
        const auto& r = boost::unit_test::results_collector.results(id);
        return r.p_assertions_failed > 0 || r.p_aborted;
    } catch (...) {
        return false;
    }
}

namespace {

CommandResult run_process(const std::vector<std::string>& args, std::chrono::seconds timeout,
                          std::vector<std::string> env) {
    char tmpl[] = "/tmp/pympm-cmd-XXXXXX";
    int fd = ::mkstemp(tmpl);
    if (fd < 0) throw std::runtime_error("mkstemp failed");
    ::close(fd);
    std::string out_path = tmpl;
    CommandResult result;
    pid_t pid = spawn_process(args, out_path, std::move(env));
    auto rc = wait_exit(pid, timeout);
    if (!rc) {
        ::kill(-pid, SIGKILL);
        ::kill(pid, SIGKILL);
        wait_exit(pid, std::chrono::seconds(10));
        result.exit_code = -1;
    } else {
        result.exit_code = *rc;
    }
    result.output = read_file(out_path);
    ::unlink(out_path.c_str());
    return result;
}

// `env` with the NAME=value pairs of `overrides` put in place of (or beside)
// its own.
std::vector<std::string> overlaid(std::vector<std::string> env, const std::vector<std::string>& overrides) {
    for (const auto& var : overrides) {
        const std::string name = var.substr(0, var.find('=') + 1);
        std::erase_if(env, [&](const std::string& e) { return e.starts_with(name); });
        env.push_back(var);
    }
    return env;
}

} // namespace

CommandResult run_command(const std::vector<std::string>& args, std::chrono::seconds timeout) {
    bool httpd = !args.empty() && args.front() == httpd_binary();
    return run_process(args, timeout, httpd ? httpd_environment("") : inherited_environment());
}

// ------------------------------------------------------------- HttpdServer

HttpdServer::HttpdServer(HttpdOptions opts) : opts_(std::move(opts)) {
    char tmpl[] = "/tmp/pympm-e2e-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
    root_ = tmpl;
    ::chmod(root_.c_str(), 0755);
    for (const char* d : {"conf", "logs", "run", "htdocs"}) {
        fs::create_directory(root_ + "/" + d);
        ::chmod((root_ + "/" + d).c_str(), 0755);
    }
    // Children (nobody) write cores and sanitizer reports here.
    for (const std::string& d : {root_ + "/cores", sanitizer_log_dir()}) {
        fs::create_directory(d);
        ::chmod(d.c_str(), 0777);
    }

    fs::path apps = root_ + "/apps";
    fs::create_directory(apps);
    if (fs::is_directory(test_apps_dir())) {
        fs::copy(test_apps_dir(), apps, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
        std::vector<fs::path> caches;
        for (auto& e : fs::recursive_directory_iterator(apps))
            if (e.is_directory() && e.path().filename() == "__pycache__") caches.push_back(e.path());
        for (auto& c : caches) fs::remove_all(c);
    }
    make_world_readable(apps);
}

HttpdServer::~HttpdServer() {
    try {
        // Threaded MPMs: a graceful stop. httpd's own ungraceful stop of an
        // event child can segfault in the MPM while a worker is still
        // tearing down a connection (seen with static files and no
        // mod_pympm at all); tests of the SIGTERM path call stop().
        if (opts_.mpm == Mpm::prefork)
            stop();
        else
            graceful_stop();
    } catch (const std::exception& e) {
        BOOST_ERROR("stopping httpd failed: " << e.what());
    } catch (...) {
        BOOST_ERROR("stopping httpd failed");
    }
    try {
        teardown_checks();
    } catch (...) {}
    std::error_code ec;
    const char* keep = std::getenv("PYMPM_TEST_KEEP_ROOT");
    if (keep && *keep)
        std::cerr << "[pympm-test] kept server root " << root_ << "\n";
    else
        fs::remove_all(root_, ec);
}

void HttpdServer::teardown_checks() {
    // Not only once started: `apache2 -t` (config_test) leaves sanitizer
    // reports too, and the other checks find nothing where httpd never ran.
    std::vector<std::string> problems;
    if (scan_on_teardown_) problems = log_problems();
    if (!problems.empty()) {
        std::ostringstream msg;
        msg << "httpd error log of " << root_ << " has " << problems.size() << " problem(s):";
        for (auto& p : problems) msg << "\n    " << p;
        BOOST_ERROR(msg.str());
    }
    if (!problems.empty() || (started_once_ && (current_test_failed() || std::uncaught_exceptions() > 0))) {
        dump_logs(problems.empty() ? "the test failed" : "problems in the error log"); // has the reports
        return;
    }
    // Reports in httpd, APR or Python alone (e.g. event's SIGTERM race, see
    // the destructor) do not fail the test, but nobody should miss them.
    for (auto& r : sanitizer_reports())
        std::cerr << "\n===== [pympm-test] sanitizer warning ("
                  << (r.error() ? "no frame of mod_pympm" : "not an error") << ", not failing the test): " << root_
                  << "/" << r.file << "\n"
                  << r.text << "===== end of sanitizer warning\n";
}

std::string HttpdServer::substitute(const std::string& text) const {
    std::string s = text;
    replace_all(s, "@APPS@", apps_dir());
    replace_all(s, "@ROOT@", root_);
    return s;
}

std::string HttpdServer::add_app_file(const std::string& relative_path, const std::string& content) {
    fs::path p = fs::path(apps_dir()) / relative_path;
    fs::create_directories(p.parent_path());
    for (fs::path d = p.parent_path(); d.string().size() > apps_dir().size(); d = d.parent_path())
        ::chmod(d.c_str(), 0755);
    write_file(p.string(), content, 0644);
    return p.string();
}

std::string HttpdServer::mpm_config() const {
    std::ostringstream c;
    if (opts_.mpm == Mpm::prefork) {
        int mrw = opts_.max_request_workers.value_or(opts_.server_limit.value_or(4));
        int sl = opts_.server_limit.value_or(mrw);
        int start = opts_.start_servers.value_or(std::min(2, mrw));
        // Spare limits that never make httpd kill idle children on its own.
        int min_spare = opts_.min_spare_servers.value_or(1);
        int max_spare = opts_.max_spare_servers.value_or(std::max(mrw, min_spare + 1));
        c << "ServerLimit " << sl << "\n"
          << "MaxRequestWorkers " << mrw << "\n"
          << "StartServers " << start << "\n"
          << "MinSpareServers " << min_spare << "\n"
          << "MaxSpareServers " << max_spare << "\n";
    } else {
        int tpc = opts_.threads_per_child.value_or(4);
        int tl = opts_.thread_limit.value_or(tpc);
        int sl =
            opts_.server_limit.value_or(opts_.max_request_workers ? std::max(1, *opts_.max_request_workers / tpc) : 2);
        int mrw = opts_.max_request_workers.value_or(sl * tpc);
        int start = opts_.start_servers.value_or(1);
        int min_spare = opts_.min_spare_threads.value_or(1);
        int max_spare = opts_.max_spare_threads.value_or(std::max(mrw, min_spare + tpc));
        c << "ThreadLimit " << tl << "\n"
          << "ServerLimit " << sl << "\n"
          << "ThreadsPerChild " << tpc << "\n"
          << "MaxRequestWorkers " << mrw << "\n"
          << "StartServers " << start << "\n"
          << "MinSpareThreads " << min_spare << "\n"
          << "MaxSpareThreads " << max_spare << "\n";
    }
    c << "MaxConnectionsPerChild " << opts_.max_connections_per_child << "\n";
    return c.str();
}

std::string HttpdServer::config_text() const {
    const std::string mods = httpd_modules_dir();
    std::string log_level = opts_.log_level;
    if (!opts_.load_pympm) {
        // httpd rejects per-module levels of modules that are not loaded.
        std::string kept;
        std::istringstream in(log_level);
        for (std::string tok; in >> tok;)
            if (tok.rfind("pympm:", 0) != 0) kept += (kept.empty() ? "" : " ") + tok;
        log_level = kept.empty() ? "warn" : kept;
    }
    std::ostringstream c;
    c << "# Generated by the mod_pympm e2e harness (tests/support/httpd_server.cpp)\n"
      << "ServerRoot \"" << root_ << "\"\n"
      << "Listen " << opts_.listen_address << ":" << port_ << "\n"
      << "ServerName 127.0.0.1\n"
      << "PidFile " << root_ << "/run/httpd.pid\n"
      << "DefaultRuntimeDir " << root_ << "/run\n"
      << "Mutex file:" << root_ << "/run default\n"
      << "ErrorLog " << root_ << "/logs/error_log\n"
      << "LogLevel " << log_level << "\n"
      << "CoreDumpDirectory " << root_ << "/cores\n"
      << "LoadModule mpm_" << mpm_name(opts_.mpm) << "_module " << mods << "/mod_mpm_" << mpm_name(opts_.mpm) << ".so\n"
      << "LoadModule authz_core_module " << mods << "/mod_authz_core.so\n";
    if (opts_.load_pympm) c << "LoadModule pympm_module " << pympm_module_path() << "\n";
    if (::geteuid() == 0) c << "User nobody\nGroup nogroup\n";
    c << "KeepAlive " << (opts_.keep_alive ? "On" : "Off") << "\n"
      << "Timeout " << opts_.timeout_seconds << "\n"
      << "DocumentRoot " << root_ << "/htdocs\n"
      << "<Directory />\n    Require all granted\n</Directory>\n"
      << "\n# MPM\n"
      << mpm_config();
    if (!opts_.pympm_config.empty()) c << "\n# pympm\n" << substitute(opts_.pympm_config) << "\n";
    if (!opts_.extra_config.empty()) c << "\n# extra\n" << substitute(opts_.extra_config) << "\n";
    return c.str();
}

void HttpdServer::write_config() const { write_file(conf_path(), config_text(), 0644); }

bool HttpdServer::answers_http(std::chrono::milliseconds timeout) const {
    // OPTIONS * is answered by httpd's core and never reaches a WSGI app, so
    // probing does not disturb apps that count their requests. It still needs
    // a child that has finished child_init (Python started, apps imported).
    try {
        auto reply = raw_exchange(opts_.listen_address, port_, "OPTIONS * HTTP/1.0\r\n\r\n", timeout);
        return reply.data.rfind("HTTP/", 0) == 0;
    } catch (const HttpError&) {
        return false;
    }
}

bool HttpdServer::pid_file_names_ours() const {
    std::string text = read_file(root_ + "/run/httpd.pid");
    try {
        return !text.empty() && std::stol(text) == pid_;
    } catch (const std::exception&) {
        return false; // being written
    }
}

void HttpdServer::start() {
    if (pid_ > 0) throw std::logic_error("httpd already running");
    const std::string out_path = root_ + "/logs/httpd.out";
    for (int attempt = 1;; ++attempt) {
        port_ = opts_.port ? opts_.port : pick_port({opts_.listen_address});
        write_config();
        std::size_t mark = log_mark();
        std::size_t out_mark = read_file(out_path).size();
        pid_ = spawn_process({httpd_binary(), "-d", root_, "-f", conf_path(), "-DFOREGROUND"}, out_path,
                             overlaid(httpd_environment(sanitizer_log_dir()), opts_.environment));
        started_once_ = true;
        auto deadline = Clock::now() + opts_.start_timeout;
        bool retry = false;
        for (;;) {
            if (auto rc = try_reap(pid_)) {
                pid_ = -1;
                std::string out = read_file(out_path, out_mark);
                std::string log = log_since(mark);
                // A port of our own choosing was taken meanwhile: another one.
                if (!opts_.port && attempt < 5 && (out + log).find("Address already in use") != std::string::npos) {
                    retry = true;
                    break;
                }
                dump_logs("httpd exited during startup");
                throw std::runtime_error("httpd exited with status " + std::to_string(*rc) + " during startup:\n" +
                                         out + log);
            }
            // The answer must come from this httpd: a parallel test that drew
            // the same port may have bound it first, and until this httpd
            // exits on "Address already in use" (and retries on another
            // port), the other one answers. httpd writes its pid file only
            // once its listeners are bound.
            if (answers_http(std::chrono::seconds(2)) && pid_file_names_ours()) return;
            if (Clock::now() >= deadline) {
                dump_logs("httpd did not answer in time");
                stop();
                throw std::runtime_error("httpd did not answer HTTP on port " + std::to_string(port_) + " within " +
                                         std::to_string(opts_.start_timeout.count()) + " s");
            }
            std::this_thread::sleep_for(kPollInterval);
        }
        if (!retry) return;
    }
}

CommandResult HttpdServer::start_expect_failure() {
    if (pid_ > 0) throw std::logic_error("httpd already running");
    // The test asserts on the messages itself; crashes and cores still count.
    allowed_errors_.emplace_back(".");
    port_ = opts_.port ? opts_.port : pick_port({opts_.listen_address});
    write_config();
    const std::string out_path = root_ + "/logs/httpd.out";
    std::size_t out_mark = read_file(out_path).size();
    pid_ = spawn_process({httpd_binary(), "-d", root_, "-f", conf_path(), "-DFOREGROUND"}, out_path,
                         overlaid(httpd_environment(sanitizer_log_dir()), opts_.environment));
    started_once_ = true;
    CommandResult result;
    auto rc = wait_exit(pid_, opts_.start_timeout);
    if (rc) {
        pid_ = -1;
        result.exit_code = *rc;
    } else {
        BOOST_ERROR("httpd kept running although its config should have been refused");
        stop();
    }
    result.output = read_file(out_path, out_mark);
    result.error_log = error_log();
    return result;
}

CommandResult HttpdServer::config_test() {
    if (port_ == 0) port_ = opts_.port ? opts_.port : pick_port({opts_.listen_address});
    write_config();
    CommandResult r = run_process({httpd_binary(), "-t", "-d", root_, "-f", conf_path()}, std::chrono::seconds(60),
                                  overlaid(httpd_environment(sanitizer_log_dir()), opts_.environment));
    // httpd's stderr, as for start(): the teardown scan finds UBSan reports there.
    std::ofstream(root_ + "/logs/httpd.out", std::ios::app) << r.output;
    r.error_log = error_log();
    return r;
}

void HttpdServer::graceful_restart() {
    if (pid_ <= 0) throw std::logic_error("httpd is not running");
    const std::string ready = "resuming normal operations";
    std::size_t before = count_log(ready);
    if (::kill(pid_, SIGUSR1) != 0) throw std::runtime_error(std::string("kill(SIGUSR1): ") + std::strerror(errno));
    auto n = wait_for_log_count(ready, before + 1, opts_.start_timeout);
    if (n < before + 1) {
        dump_logs("graceful restart did not complete");
        throw std::runtime_error("httpd did not log '" + ready + "' after SIGUSR1");
    }
    auto deadline = Clock::now() + opts_.start_timeout;
    while (!answers_http(std::chrono::seconds(2))) {
        if (auto rc = try_reap(pid_)) {
            pid_ = -1;
            throw std::runtime_error("httpd exited with status " + std::to_string(*rc) + " after graceful restart");
        }
        if (Clock::now() >= deadline) throw std::runtime_error("httpd does not answer after graceful restart");
        std::this_thread::sleep_for(kPollInterval);
    }
}

void HttpdServer::graceful_stop() {
    if (pid_ <= 0) return;
    std::vector<pid_t> children = child_pids();
    ::kill(pid_, SIGWINCH); // AP_SIG_GRACEFUL_STOP: running requests finish
    if (!wait_exit(pid_, opts_.stop_timeout)) {
        stop(); // SIGTERM and its checks
        return;
    }
    reap_stopped(children);
}

void HttpdServer::kill_all() {
    if (pid_ <= 0) return;
    pid_t pid = pid_;
    std::vector<pid_t> children = child_pids();
    // httpd and its children share the process group spawn_process made.
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
    for (pid_t c : children) ::kill(c, SIGKILL);
    wait_exit(pid, std::chrono::seconds(10));
    pid_ = -1;
    // The killed children are orphans now; a zombie counts as gone.
    auto deadline = Clock::now() + std::chrono::seconds(10);
    for (pid_t c : children)
        while (process_running(c) && proc_comm(c).rfind("apache2", 0) == 0 && Clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
    for (pid_t c : children)
        if (process_running(c) && proc_comm(c).rfind("apache2", 0) == 0)
            stop_problems_.push_back("httpd child " + std::to_string(c) + " survived SIGKILL");
}

void HttpdServer::stop() {
    if (pid_ <= 0) return;
    pid_t pid = pid_;
    std::vector<pid_t> children = child_pids();
    ::kill(pid, SIGTERM);
    auto rc = wait_exit(pid, opts_.stop_timeout);
    if (!rc) {
        stop_problems_.push_back("httpd did not stop within " + std::to_string(opts_.stop_timeout.count()) +
                                 " s of SIGTERM; killed");
        ::kill(-pid, SIGKILL);
        ::kill(pid, SIGKILL);
        wait_exit(pid, std::chrono::seconds(10));
    }
    reap_stopped(children);
}

// After httpd exited: its children must be gone too (httpd waits for them).
void HttpdServer::reap_stopped(const std::vector<pid_t>& children) {
    pid_t pid = pid_;
    pid_ = -1;
    std::vector<pid_t> leftovers;
    for (pid_t c : children)
        if (process_alive(c) && proc_comm(c).rfind("apache2", 0) == 0) leftovers.push_back(c);
    if (!leftovers.empty()) {
        std::string list;
        for (pid_t c : leftovers) list += " " + std::to_string(c);
        stop_problems_.push_back("httpd children outlived the parent:" + list);
    }
    ::kill(-pid, SIGKILL); // the process group httpd and its children share
    for (pid_t c : leftovers) ::kill(c, SIGKILL);
}

std::vector<pid_t> HttpdServer::child_pids() const {
    std::vector<pid_t> out;
    if (pid_ <= 0) return out;
    std::error_code ec;
    for (auto& e : fs::directory_iterator("/proc", ec)) {
        const std::string name = e.path().filename().string();
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::string stat = read_file("/proc/" + name + "/stat");
        auto rp = stat.rfind(')');
        if (rp == std::string::npos) continue;
        std::istringstream in(stat.substr(rp + 2));
        char state = 0;
        long ppid = 0;
        in >> state >> ppid;
        if (ppid == pid_ && state != 'Z') out.push_back(static_cast<pid_t>(std::stol(name)));
    }
    return out;
}

// ------------------------------------------------------------- error log

std::string HttpdServer::error_log() const { return read_file(error_log_path()); }

std::size_t HttpdServer::log_mark() const {
    std::error_code ec;
    auto size = fs::file_size(error_log_path(), ec);
    return ec ? 0 : static_cast<std::size_t>(size);
}

std::string HttpdServer::log_since(std::size_t mark) const { return read_file(error_log_path(), mark); }

std::vector<std::string> HttpdServer::log_lines_matching(const std::string& regex, std::size_t mark) const {
    std::regex re(regex);
    std::vector<std::string> out;
    for (auto& line : split_lines(log_since(mark)))
        if (std::regex_search(line, re)) out.push_back(line);
    return out;
}

std::size_t HttpdServer::count_log(const std::string& regex, std::size_t mark) const {
    return log_lines_matching(regex, mark).size();
}

std::string HttpdServer::wait_for_log(const std::string& regex, std::chrono::milliseconds timeout,
                                      std::size_t mark) const {
    auto deadline = Clock::now() + timeout;
    for (;;) {
        auto lines = log_lines_matching(regex, mark);
        if (!lines.empty()) return lines.front();
        if (Clock::now() >= deadline) return {};
        std::this_thread::sleep_for(kPollInterval);
    }
}

std::size_t HttpdServer::wait_for_log_count(const std::string& regex, std::size_t n, std::chrono::milliseconds timeout,
                                            std::size_t mark) const {
    auto deadline = Clock::now() + timeout;
    for (;;) {
        std::size_t c = count_log(regex, mark);
        if (c >= n || Clock::now() >= deadline) return c;
        std::this_thread::sleep_for(kPollInterval);
    }
}

void HttpdServer::allow_log_error(const std::string& regex) { allowed_errors_.emplace_back(regex); }

void HttpdServer::allow_killed_child(pid_t pid) { killed_children_.push_back(pid); }

void HttpdServer::allow_client_errors(std::uint16_t local_port) {
    allow_log_error(regex_escape(client_log_tag(local_port)));
}

std::string regex_escape(const std::string& text) {
    static const std::string special = R"(\^$.|?*+()[]{})";
    std::string out;
    for (char c : text) {
        if (special.find(c) != std::string::npos) out += '\\';
        out += c;
    }
    return out;
}

void HttpdServer::allow_traceback_lines() {
    // The message part follows "] " (after [client ...]) and an optional id.
    const std::string msg = R"(\] (PM[0-9]+: )?)";
    allow_log_error(msg + R"(Traceback \(most recent call last\):)");
    allow_log_error(msg + R"(  )"); // "  File ...", "    source line", "    ^^^^"
    allow_log_error(msg + R"(During handling of the above exception)");
    allow_log_error(msg + R"(The above exception was the direct cause)");
    allow_log_error(msg + R"(\s*$)");
}

namespace {

// A report of ours: a frame in mod_pympm.so (unsymbolised: "(.../mod_pympm.so+0x...)")
// or a source path under the project's module/ or mpm_bridge/ (symbolised
// frames, UBSan's location line).
bool has_project_frame(const std::string& text) {
    // A symbolised frame names its source file, absolute or (with
    // CCACHE_BASEDIR) relative to the build tree; an unsymbolised one the .so.
    static const std::regex project_source(R"([ /](module|mpm_bridge)/[A-Za-z0-9_/]+\.(cpp|h):[0-9])");
    return text.find("mod_pympm.so") != std::string::npos || std::regex_search(text, project_source);
}

// UBSan's first line, "file:line:col: runtime error: ...", written raw (httpd's
// own lines start with "[").
bool is_ubsan_start(const std::string& line) {
    return !line.starts_with("[") && line.find(": runtime error: ") != std::string::npos;
}

bool is_report_start(const std::string& line) {
    // ASan: a line of '=' before "==PID==ERROR: AddressSanitizer: ..."; TSan
    // (18 of them) before "WARNING: ThreadSanitizer: ..."
    if (line.size() >= 18 && line.find_first_not_of('=') == std::string::npos) return true;
    return is_ubsan_start(line);
}

} // namespace

std::vector<SanitizerReport> parse_sanitizer_log(const std::string& file, const std::string& text) {
    static const std::regex error_line(
        R"(==[0-9]+==ERROR: [A-Za-z]+Sanitizer|: runtime error: |WARNING: ThreadSanitizer: )");
    std::vector<SanitizerReport> reports;
    for (auto& line : split_lines(text)) {
        if (reports.empty() || is_report_start(line)) reports.emplace_back().file = file;
        auto& r = reports.back();
        r.text += line + "\n";
        if (r.headline.empty() && std::regex_search(line, error_line)) r.headline = line;
    }
    std::erase_if(reports,
                  [](const SanitizerReport& r) { return r.text.find_first_not_of(" \t\n") == std::string::npos; });
    for (auto& r : reports) r.from_project = has_project_frame(r.text);
    return reports;
}

std::vector<SanitizerReport> find_ubsan_reports(const std::string& file, const std::string& text) {
    static const std::regex frame(R"(^\s+#[0-9]+ )");
    std::vector<SanitizerReport> reports;
    bool open = false; // the last report's stack may go on
    for (auto& line : split_lines(text)) {
        if (is_ubsan_start(line)) {
            auto& r = reports.emplace_back();
            r.file = file;
            r.headline = line;
            r.text = line + "\n";
            open = true;
        } else if (open && std::regex_search(line, frame)) {
            reports.back().text += line + "\n";
        } else if (!line.starts_with("[")) { // another thread's log line does not end it
            open = false;
        }
    }
    for (auto& r : reports) r.from_project = has_project_frame(r.text);
    return reports;
}

std::vector<std::string> HttpdServer::sanitizer_log_files() const {
    std::vector<std::string> files;
    std::error_code ec;
    for (auto& e : fs::directory_iterator(sanitizer_log_dir(), ec))
        if (e.is_regular_file()) files.push_back("sanitizer/" + e.path().filename().string());
    std::sort(files.begin(), files.end());
    return files;
}

std::vector<SanitizerReport> HttpdServer::sanitizer_reports() const {
    std::vector<SanitizerReport> out;
    for (auto& f : sanitizer_log_files()) // ASan
        for (auto& r : parse_sanitizer_log(f, read_file(root_ + "/" + f))) out.push_back(std::move(r));
    for (const std::string f : {"logs/error_log", "logs/httpd.out"}) // UBSan: httpd's stderr
        for (auto& r : find_ubsan_reports(f, read_file(root_ + "/" + f))) out.push_back(std::move(r));
    return out;
}

std::vector<std::string> HttpdServer::log_problems() const {
    static const std::regex pympm_error_level(R"(\[pympm:(error|crit|alert|emerg)\])");
    static const std::regex any_error_level(R"(\[[a-z0-9_]+:(error|crit|alert|emerg)\])");
    const std::regex& error_level = opts_.scan_all_modules ? any_error_level : pympm_error_level;
    std::vector<std::string> problems = stop_problems_;
    for (auto& line : split_lines(error_log())) {
        const bool killed_on_purpose = std::any_of(killed_children_.begin(), killed_children_.end(), [&](pid_t p) {
            return line.find("AH00052: child pid " + std::to_string(p) + " exit signal Killed (9)") !=
                   std::string::npos;
        });
        if (!killed_on_purpose &&
            (line.find("AH00052") != std::string::npos || line.find("exit signal") != std::string::npos ||
             line.find("Fatal Python error") != std::string::npos)) {
            problems.push_back(line);
            continue;
        }
        if (std::regex_search(line, error_level)) {
            bool allowed = false;
            for (auto& re : allowed_errors_)
                if (std::regex_search(line, re)) {
                    allowed = true;
                    break;
                }
            if (!allowed) problems.push_back(line);
        }
    }
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(root_, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (it->is_regular_file() && (name == "core" || name.rfind("core.", 0) == 0))
            problems.push_back("core file: " + it->path().string());
    }
    for (auto& r : sanitizer_reports())
        if (r.error() && r.from_project)
            problems.push_back("sanitizer report with a frame of mod_pympm (" + r.file + "): " + r.headline);
    return problems;
}

void HttpdServer::dump_logs(const std::string& why) const {
    std::ostringstream o;
    o << "\n===== [pympm-test] " << why << ": httpd server root " << root_ << " (port " << port_ << ")\n"
      << "----- conf/httpd.conf\n"
      << read_file(conf_path()) << "----- logs/error_log\n"
      << error_log();
    std::string out = read_file(root_ + "/logs/httpd.out");
    if (!out.empty()) o << "----- httpd stdout/stderr\n" << out;
    for (auto& f : sanitizer_log_files()) // UBSan's reports are in the two above
        o << "----- " << f << "\n" << read_file(root_ + "/" + f);
    o << "===== end of logs\n";
    std::cerr << o.str() << std::flush;
}

} // namespace pympm_test

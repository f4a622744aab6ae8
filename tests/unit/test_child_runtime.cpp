// ChildRuntime::handle with a real interpreter (in a process of its own:
// CPython starts once per process) and a RequestIO whose CGI variables
// cannot be had (a C++ exception after the request entered the app, as bad_alloc
// would throw). The request must still be accounted as over: the status
// board's in_app back to 0, the request counted, and PyMaxRequests acted on
// (issue 23, found by reading the code).
#include "runtime/child_runtime.h"
#include "status/status_board.h"

#include <boost/test/unit_test.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using namespace pympm;

namespace {

struct NullLog : LogSink {
    void log(LogLevel, std::string_view) override {}
};

struct RuntimeControl : ChildControl {
    int left = 0;
    void leave_gracefully() override { ++left; }
    [[noreturn]] void exit_now() override { std::_Exit(3); }
};

// A request whose environ cannot be built: cgi_environ() throws.
class ThrowingIO final : public RequestIO {
public:
    void cgi_environ(CgiEnviron&) override { throw std::runtime_error("no environ for this request"); }
    bool is_https() const override { return false; }
    void request_line(RequestLine&) override { throw std::runtime_error("no request line"); }
    bool is_head() const override { return false; }
    std::string_view uri() const override { return "/throws"; }
    std::size_t read_body(char*, std::size_t) override { return 0; }
    void set_head(const ResponseHead&) override {}
    void send_body(const char*, std::size_t, Send) override {}
    void send_file(int, std::uint64_t, std::uint64_t, bool) override {}
    void finish() override {}
    void abort() override {}
    bool head_sent() const override { return false; }
    void log(LogLevel, std::string_view) override {}
};

std::string read_all(int fd) {
    std::string out;
    char buf[256];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
    return out;
}

// CPython starts once per process, and other unit tests start it in this
// one (support/embedded_python.h): the runtime runs in a fresh copy of this
// binary, which runs only this case and reports through a pipe.
constexpr char kReportFd[] = "PYMPM_UNIT_CHILD_RUNTIME_REPORT_FD";
constexpr char kAppPath[] = "PYMPM_UNIT_CHILD_RUNTIME_APP";

// In the fresh process: one request through ChildRuntime::handle.
[[noreturn]] void run_runtime_and_report(int fd, const char* app_path) {
    const std::size_t bytes = StatusBoard::bytes_for(2);
    void* memory = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    StatusBoard* board = StatusBoard::create(memory, bytes, 2);
    ChildSettings settings;
    AppTarget target;
    target.location = app_path;
    settings.mounts.push_back(Mount{"/", target});
    settings.max_requests = 1;
    MpmModel mpm;
    mpm.name = "prefork";
    NullLog log;
    RuntimeControl control;
    auto* rt = new ChildRuntime(settings, mpm, log);
    rt->set_status_board(board);
    rt->set_control(&control);
    rt->start(1);
    std::string report = "ready=" + std::to_string(rt->python_ready());
    ThrowingIO io;
    report += " status=" + std::to_string(rt->handle(0, io));
    const BoardSnapshot snap = board->snapshot(0);
    if (snap.children.size() == 1)
        report += " in_app=" + std::to_string(snap.children[0].in_app) +
                  " requests=" + std::to_string(snap.children[0].requests);
    report += " left=" + std::to_string(control.left);
    (void)!::write(fd, report.data(), report.size());
    ::close(fd);
    // Not finalised: only the report matters, and it is written.
    std::_Exit(0);
}

} // namespace

BOOST_AUTO_TEST_SUITE(child_runtime)

BOOST_AUTO_TEST_CASE(a_cpp_exception_in_the_app_phase_still_ends_the_request) {
    if (const char* fd = std::getenv(kReportFd)) run_runtime_and_report(std::atoi(fd), std::getenv(kAppPath));

    char app_path[] = "/tmp/pympm-unit-app-XXXXXX.py";
    const int app_fd = ::mkstemps(app_path, 3);
    BOOST_TEST_REQUIRE(app_fd >= 0);
    const std::string app = "def application(environ, start_response):\n"
                            "    start_response('200 OK', [])\n"
                            "    return [b'ok']\n";
    BOOST_TEST_REQUIRE(::write(app_fd, app.data(), app.size()) == static_cast<ssize_t>(app.size()));
    ::close(app_fd);

    int fds[2];
    BOOST_TEST_REQUIRE(::pipe(fds) == 0);
    // Everything exec needs is made before fork (only exec after it).
    const std::string only = "--run_test=" + boost::unit_test::framework::current_test_case().full_name();
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
    env_strings.push_back(std::string(kReportFd) + "=" + std::to_string(fds[1]));
    env_strings.push_back(std::string(kAppPath) + "=" + app_path);
    std::vector<char*> envp;
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    char self[] = "/proc/self/exe";
    char* argv[] = {self, const_cast<char*>(only.c_str()), nullptr};
    const pid_t pid = ::fork();
    BOOST_TEST_REQUIRE(pid >= 0);
    if (pid == 0) {
        ::close(fds[0]);
        ::execve(self, argv, envp.data());
        std::_Exit(127);
    }
    ::close(fds[1]);
    const std::string report = read_all(fds[0]);
    ::close(fds[0]);
    int st = 0;
    ::waitpid(pid, &st, 0);
    std::remove(app_path);
    BOOST_TEST((WIFEXITED(st) && WEXITSTATUS(st) == 0), "exit status " << st);
    BOOST_TEST(report == "ready=1 status=500 in_app=0 requests=1 left=1",
               "in_app 0, the request counted, PyMaxRequests 1 acted on; got: " << report);
}

BOOST_AUTO_TEST_SUITE_END()

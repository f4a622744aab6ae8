// Issue 22, the operator's configuration: PyEnv/PyEnvFile put settings and
// secrets into os.environ (the file read by root alone); mistakes caught at
// `apachectl -t` or at import with the fix in the message (an ASGI app
// mounted as WSGI, a script the children's User cannot read); and one
// request's lines (its output, traceback, timeout stack) in its virtual
// host's ErrorLog.
#include "http_client.h"
#include "httpd_server.h"
#include "test_mpm_common.h"
#include "test_support.h"

#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <regex>

#include <sys/stat.h>
#include <unistd.h>

using namespace pympm_test;
using pympm_test::mpm::eventually;
using namespace std::chrono_literals;

namespace {

HttpdOptions prefork(std::string pympm_config) {
    HttpdOptions o;
    o.mpm = Mpm::prefork;
    o.start_servers = 1;
    o.pympm_config = std::move(pympm_config);
    return o;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_private(const std::string& path, const std::string& text, mode_t mode) {
    std::ofstream(path, std::ios::binary) << text;
    ::chmod(path.c_str(), mode);
}

bool running_as_root() { return ::geteuid() == 0; }

// Reads os.environ at import, as an app reading its DATABASE_URL does.
const char kEnvApp[] = R"(import json
import os

AT_IMPORT = {k: os.environ.get(k) for k in ("PYMPM_SECRET", "PYMPM_GREETING", "PYMPM_QUOTED", "PYMPM_OVERRIDDEN")}


def application(environ, start_response):
    try:
        open(os.environ.get("PYMPM_ENV_FILE_PATH", "/nonexistent")).close()
        readable = True
    except OSError:
        readable = False
    body = json.dumps({"at_import": AT_IMPORT, "env_file_readable": readable,
                       "setenv_in_environ": environ.get("PYMPM_SETENV"),
                       "setenv_in_os_environ": os.environ.get("PYMPM_SETENV")}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
)";

const std::string kSecret = "s3cr3t-hunter2-value";

} // namespace

// ============================================================ environment

BOOST_AUTO_TEST_SUITE(operator_environment)

BOOST_AUTO_TEST_CASE(a_root_only_env_file_reaches_os_environ_at_import) {
    HttpdServer srv(prefork(""));
    // Root's alone: a folder only root enters, a file only root reads.
    const std::string dir = srv.root() + "/private";
    std::filesystem::create_directories(dir);
    ::chmod(dir.c_str(), 0700);
    const std::string env_file = dir + "/app.env";
    write_private(env_file,
                  "# the app's settings\nPYMPM_SECRET=" + kSecret +
                      "\nPYMPM_QUOTED=\"two words\"\nPYMPM_OVERRIDDEN=from-file\nPYMPM_ENV_FILE_PATH=" + env_file +
                      "\n",
                  0600);
    srv.add_app_file("env_app.py", kEnvApp);
    srv.options().pympm_config = "PyEnv PYMPM_GREETING hello\n"
                                 "PyEnvFile " +
                                 env_file +
                                 "\n"
                                 "PyEnv PYMPM_OVERRIDDEN from-directive\n"
                                 "PyApp /env @APPS@/env_app.py\n";
    srv.options().extra_config = "LoadModule env_module " + httpd_modules_dir() +
                                 "/mod_env.so\n<Location /env>\n    SetEnv PYMPM_SETENV via-setenv\n</Location>\n";
    srv.options().log_level = "debug";
    srv.start();
    auto r = http_get(srv.port(), "/env/");
    BOOST_TEST_REQUIRE(r.status == 200, r.body);
    auto j = parse_json(r.body);
    BOOST_TEST(j.get<std::string>("at_import.PYMPM_SECRET") == kSecret);
    BOOST_TEST(j.get<std::string>("at_import.PYMPM_GREETING") == "hello");
    BOOST_TEST(j.get<std::string>("at_import.PYMPM_QUOTED") == "two words");
    BOOST_TEST(j.get<std::string>("at_import.PYMPM_OVERRIDDEN") == "from-directive", "the later line wins");
    // SetEnv reaches the request's environ only, never os.environ.
    BOOST_TEST(j.get<std::string>("setenv_in_environ") == "via-setenv");
    BOOST_TEST(j.get<std::string>("setenv_in_os_environ") == "null");
    if (running_as_root())
        BOOST_TEST(j.get<std::string>("env_file_readable") == "false",
                   "the children (User nobody) cannot open the file; they got its values from root");
    srv.stop();
    BOOST_TEST(!contains(srv.error_log(), kSecret), "a value from PyEnvFile is never logged");
}

BOOST_AUTO_TEST_CASE(a_missing_or_malformed_env_file_fails_the_config_test_naming_file_and_line) {
    HttpdServer srv(prefork(""));
    const std::string missing = srv.root() + "/no-such.env";
    srv.options().pympm_config = "PyEnvFile " + missing + "\nPyApp / @APPS@/hello.py\n";
    auto t = srv.config_test();
    BOOST_TEST(t.exit_code != 0, t.output);
    BOOST_TEST(contains(t.output, "PyEnvFile: cannot read '" + missing + "'"), t.output);

    const std::string bad = srv.root() + "/bad.env";
    write_private(bad, "GOOD=1\n\nPYMPM_SECRET " + kSecret + "\n", 0600);
    srv.options().pympm_config = "PyEnvFile " + bad + "\nPyApp / @APPS@/hello.py\n";
    t = srv.config_test();
    BOOST_TEST(t.exit_code != 0, t.output);
    BOOST_TEST(contains(t.output, bad + ", line 3: not NAME=value"), t.output);
    BOOST_TEST(!contains(t.output, kSecret), "the bad line's text (a secret, maybe) is not shown: " << t.output);

    srv.options().pympm_config = "PyEnv 1BAD x\nPyApp / @APPS@/hello.py\n";
    t = srv.config_test();
    BOOST_TEST(t.exit_code != 0, t.output);
    BOOST_TEST(contains(t.output, "'1BAD' is not a variable name"), t.output);
}

BOOST_AUTO_TEST_SUITE_END()

// =============================================================== mistakes

BOOST_AUTO_TEST_SUITE(operator_mistakes)

BOOST_AUTO_TEST_CASE(an_asgi_app_mounted_as_wsgi_is_named_with_the_fix_and_fails_health) {
    HttpdServer srv(prefork("PyApp /fn @APPS@/asgi_fn.py:app\n"
                            "PyApp /obj @APPS@/asgi_obj.py:app\n"
                            "PyApp /fastapi @APPS@/fastapi_app.py:app\n"
                            "PyApp /ok @APPS@/hello.py\n"));
    srv.add_app_file("asgi_fn.py", "async def app(scope, receive, send):\n    pass\n");
    srv.add_app_file("asgi_obj.py", "class App:\n"
                                    "    async def __call__(self, scope, receive, send):\n"
                                    "        pass\n\n\n"
                                    "app = App()\n");
    srv.options().extra_config = "<Location /health>\n    SetHandler pympm-health\n</Location>\n";
    srv.allow_log_error("PM00412");
    srv.start();
    const std::string fn_line = srv.wait_for_log("PM00412: app /fn=");
    BOOST_TEST(contains(fn_line, "is an async function, as an ASGI app is"), fn_line);
    BOOST_TEST(contains(fn_line, "add asgi to its PyApp line (PyApp /fn " + srv.app_path("asgi_fn.py") + ":app asgi)"),
               fn_line);
    const std::string obj_line = srv.wait_for_log("PM00412: app /obj=");
    BOOST_TEST(contains(obj_line, "App has an async __call__"), obj_line);
    const std::string fastapi_line = srv.wait_for_log("PM00412: app /fastapi=");
    BOOST_TEST(contains(fastapi_line, "fastapi.applications.FastAPI has an async __call__"), fastapi_line);
    const std::size_t mark = srv.log_mark();
    auto r = http_get(srv.port(), "/fn/");
    BOOST_TEST(r.status == 500);
    BOOST_TEST(!contains(srv.log_since(mark), "TypeError"), "no bare TypeError for the request");
    BOOST_TEST(http_get(srv.port(), "/ok/").status == 200);
    auto h = http_get(srv.port(), "/health");
    BOOST_TEST(h.status == 503, h.body);
    BOOST_TEST(contains(h.body, "failed=/fn,/obj,/fastapi"), h.body);
}

BOOST_AUTO_TEST_CASE(a_script_the_children_cannot_read_fails_the_config_test) {
    if (!running_as_root()) {
        BOOST_TEST_MESSAGE("skipped: only a root httpd switches to User/Group");
        return;
    }
    HttpdServer srv(prefork("PyApp / @ROOT@/private/site/app.py\n"));
    std::filesystem::create_directories(srv.root() + "/private/site");
    write_private(srv.root() + "/private/site/app.py", slurp(test_apps_dir() + "/hello.py"), 0644);
    ::chmod((srv.root() + "/private").c_str(), 0700);
    ::chmod((srv.root() + "/private/site").c_str(), 0755);
    auto t = srv.config_test();
    BOOST_TEST(t.exit_code != 0, t.output);
    BOOST_TEST(contains(t.output, "PM00410: the script " + srv.root() + "/private/site/app.py of PyApp /"), t.output);
    BOOST_TEST(contains(t.output, "User nobody and Group nogroup"), t.output);
    BOOST_TEST(contains(t.output, "the folder " + srv.root() + "/private (owner root, group root, mode 0700)"),
               t.output);

    // The folder open, the file root's alone: the file is named.
    ::chmod((srv.root() + "/private").c_str(), 0755);
    ::chmod((srv.root() + "/private/site/app.py").c_str(), 0600);
    t = srv.config_test();
    BOOST_TEST(t.exit_code != 0, t.output);
    BOOST_TEST(contains(t.output, srv.root() + "/private/site/app.py (owner root, group root, mode 0600) cannot be "
                                               "read by user nobody"),
               t.output);
    auto f = srv.start_expect_failure();
    BOOST_TEST(contains(f.output + srv.error_log(), "PM00410"), "a real start fails the same way");

    // Readable by the group the children run as: accepted.
    ::chown((srv.root() + "/private/site/app.py").c_str(), 0, 65534);
    ::chmod((srv.root() + "/private/site/app.py").c_str(), 0640);
    t = srv.config_test();
    BOOST_TEST(t.exit_code == 0, t.output);
}

BOOST_AUTO_TEST_CASE(a_pypath_folder_the_children_cannot_enter_fails_the_config_test) {
    if (!running_as_root()) {
        BOOST_TEST_MESSAGE("skipped: only a root httpd switches to User/Group");
        return;
    }
    HttpdServer srv(prefork("PyPath @ROOT@/lib\nPyApp / @APPS@/hello.py\n"));
    std::filesystem::create_directories(srv.root() + "/lib");
    ::chmod((srv.root() + "/lib").c_str(), 0700);
    auto t = srv.config_test();
    BOOST_TEST(t.exit_code != 0, t.output);
    BOOST_TEST(contains(t.output, "PM00410: PyPath " + srv.root() + "/lib cannot be read"), t.output);
    BOOST_TEST(contains(t.output, "cannot be listed by user nobody"), t.output);
}

BOOST_AUTO_TEST_SUITE_END()

// =================================================================== logs

namespace {

// Everything under the main server's mounts, served through one virtual
// host with its own ErrorLog.
std::string vhost_with_own_log(const HttpdServer& srv) {
    return "<VirtualHost *>\n    ServerName 127.0.0.1\n    ErrorLog " + srv.root() + "/logs/vhost_error_log\n" +
           "</VirtualHost>\n";
}

std::string wait_in_file(const std::string& path, const std::string& regex, std::chrono::seconds timeout = 15s) {
    const std::regex re(regex);
    std::string found;
    eventually(
        [&] {
            std::istringstream lines(slurp(path));
            for (std::string line; std::getline(lines, line);)
                if (std::regex_search(line, re)) {
                    found = line;
                    return true;
                }
            return false;
        },
        timeout);
    return found;
}

const char kNoisyApp[] = R"(import sys
import time
import logging

LOG = logging.getLogger(__name__)


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/name":
        body = __name__.encode()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]
    print("pympm-vhost-stdout-marker", path)
    print("pympm-vhost-stderr-marker", path, file=sys.stderr)
    if path == "/raise":
        raise RuntimeError("pympm-vhost-traceback-marker")
    if path == "/sleep":
        while True:
            time.sleep(0.05)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
)";

} // namespace

BOOST_AUTO_TEST_SUITE(operator_logs)

BOOST_AUTO_TEST_CASE(a_requests_output_traceback_and_timeout_stack_go_to_its_vhost_log) {
    for (Mpm mpm : {Mpm::prefork, Mpm::event}) {
        BOOST_TEST_CONTEXT(mpm_name(mpm)) {
            HttpdOptions o = prefork("PyApp /n @APPS@/noisy.py\nPyRequestTimeout 1\nPyShutdownTimeout 1\n");
            o.mpm = mpm;
            HttpdServer srv(o);
            srv.add_app_file("noisy.py", kNoisyApp);
            srv.options().extra_config = vhost_with_own_log(srv);
            srv.start();
            const std::string vlog = srv.root() + "/logs/vhost_error_log";

            auto r = http_get(srv.port(), "/n/print");
            BOOST_TEST(r.status == 200);
            const std::string tag = regex_escape(client_log_tag(r.local_port));
            BOOST_TEST(
                !wait_in_file(vlog, R"(\[pympm:notice\].*)" + tag + ".*PM00040: pympm-vhost-stdout-marker /print")
                     .empty(),
                slurp(vlog));
            BOOST_TEST(!wait_in_file(vlog, R"(\[pympm:error\].*)" + tag + ".*PM00040: pympm-vhost-stderr-marker /print")
                            .empty(),
                       slurp(vlog));

            r = http_get(srv.port(), "/n/raise?x=1");
            BOOST_TEST(r.status == 500);
            const std::string head =
                wait_in_file(vlog, "PM00020: app /n=.* raised an exception for GET /n/raise\\?x=1:");
            BOOST_TEST(!head.empty(), slurp(vlog));
            BOOST_TEST(contains(head, client_log_tag(r.local_port)), head);
            BOOST_TEST(!wait_in_file(vlog, "PM00021: .*pympm-vhost-traceback-marker").empty());

            r = http_get(srv.port(), "/n/sleep", 30s);
            BOOST_TEST(r.status == 504);
            const std::string stack_head = wait_in_file(vlog, "PM00060: request ran the app");
            BOOST_TEST(contains(stack_head, client_log_tag(r.local_port)), stack_head);
            BOOST_TEST(!wait_in_file(vlog, "PM00060:   .*time.sleep").empty(), slurp(vlog));

            // None of it in the main log: the child-wide lines stay there.
            const std::string main_log = srv.error_log();
            BOOST_TEST(!contains(main_log, "pympm-vhost-stdout-marker"), main_log);
            BOOST_TEST(!contains(main_log, "pympm-vhost-stderr-marker"), main_log);
            BOOST_TEST(!contains(main_log, "PM00020"), main_log);
            BOOST_TEST(!contains(main_log, "PM00060"), main_log);
            BOOST_TEST(contains(main_log, "PM00010: child ready"), main_log);
        }
    }
}

const char kNoisyAsgiApp[] = R"(import asyncio
import sys


async def later(path):
    await asyncio.sleep(0.2)
    print("pympm-asgi-after-marker", path, flush=True)


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    path = scope["path"][len(scope["root_path"]) :]
    print("pympm-asgi-stdout-marker", path)
    await asyncio.sleep(0)
    print("pympm-asgi-stderr-marker", path, file=sys.stderr)
    if path == "/raise":
        raise RuntimeError("pympm-asgi-traceback-marker")
    if path == "/after":
        asyncio.get_running_loop().create_task(later(path))
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})
)";

BOOST_AUTO_TEST_CASE(an_asgi_requests_output_and_traceback_go_to_its_vhost_log) {
    for (Mpm mpm : {Mpm::prefork, Mpm::event}) {
        BOOST_TEST_CONTEXT(mpm_name(mpm)) {
            HttpdOptions o = prefork("PyApp /n @APPS@/noisy_asgi.py:app asgi\n");
            o.mpm = mpm;
            HttpdServer srv(o);
            srv.add_app_file("noisy_asgi.py", kNoisyAsgiApp);
            srv.options().extra_config = vhost_with_own_log(srv);
            srv.start();
            const std::string vlog = srv.root() + "/logs/vhost_error_log";

            // Two requests at once, each line with its own client.
            auto first = std::async(std::launch::async, [&] { return http_get(srv.port(), "/n/one"); });
            auto r = http_get(srv.port(), "/n/two");
            auto r1 = first.get();
            BOOST_TEST(r.status == 200);
            BOOST_TEST(r1.status == 200);
            for (const auto& [resp, path] : {std::pair{&r, "/two"}, std::pair{&r1, "/one"}}) {
                const std::string tag = regex_escape(client_log_tag(resp->local_port));
                BOOST_TEST(
                    !wait_in_file(vlog, R"(\[pympm:notice\].*)" + tag + ".*PM00040: pympm-asgi-stdout-marker " + path)
                         .empty(),
                    slurp(vlog));
                BOOST_TEST(
                    !wait_in_file(vlog, R"(\[pympm:error\].*)" + tag + ".*PM00040: pympm-asgi-stderr-marker " + path)
                         .empty(),
                    slurp(vlog));
            }

            r = http_get(srv.port(), "/n/raise");
            BOOST_TEST(r.status == 500);
            const std::string tag = regex_escape(client_log_tag(r.local_port));
            BOOST_TEST(!wait_in_file(vlog, tag + ".*PM00040: pympm-asgi-stderr-marker /raise").empty(), slurp(vlog));
            BOOST_TEST(!wait_in_file(vlog, tag + ".*PM00020: app /n=.* raised an exception for GET /n/raise").empty(),
                       slurp(vlog));

            // A task that writes after its request ended: the child's log.
            BOOST_TEST(http_get(srv.port(), "/n/after").status == 200);
            BOOST_TEST(eventually([&] { return contains(srv.error_log(), "pympm-asgi-after-marker /after"); }, 15s),
                       srv.error_log());

            const std::string main_log = srv.error_log();
            BOOST_TEST(!contains(main_log, "pympm-asgi-stdout-marker"), main_log);
            BOOST_TEST(!contains(main_log, "pympm-asgi-stderr-marker"), main_log);
            BOOST_TEST(!contains(main_log, "PM00020"), main_log);
        }
    }
}

BOOST_AUTO_TEST_CASE(a_script_app_is_named_by_its_file) {
    HttpdServer srv(prefork("PyApp /n @APPS@/noisy.py\nPyApp /other @APPS@/other/noisy.py\n"));
    srv.add_app_file("noisy.py", kNoisyApp);
    srv.add_app_file("other/noisy.py", kNoisyApp);
    srv.start();
    auto r = http_get(srv.port(), "/n/name");
    BOOST_TEST(r.status == 200);
    BOOST_TEST(r.body == "noisy", "__name__ (logging's %(name)s, Flask(__name__)) is the script's base name");
    // A second script of the same name keeps its own module.
    r = http_get(srv.port(), "/other/name");
    BOOST_TEST(r.status == 200);
    BOOST_TEST(std::regex_match(r.body, std::regex("noisy_[0-9a-f]{12}")), r.body);
}

BOOST_AUTO_TEST_SUITE_END()

// Issue 18 item 5: the child's sys.stdout and sys.stderr behave like
// python3's (TextIOWrappers over a binary stream into httpd's error log), so
// code that takes sys.stdout.buffer at import (Mercurial) loads; what goes
// through them is one PM00040 entry per line at notice (stdout) or error
// (stderr, wsgi.errors); descriptors 1 and 2 lead to the error log too.
#include "http_client.h"
#include "httpd_server.h"
#include "test_mpm_common.h"
#include "test_support.h"

#include <boost/test/unit_test.hpp>

using namespace pympm_test;
using namespace pympm_test::mpm;
using namespace std::chrono_literals;

namespace {

const char kConfig[] = "PyApp /s @APPS@/streams_app.py\n";

// An entry the app logged through a stream: "[pympm:LEVEL] ... PM00040: TEXT"
// and nothing after the text.
std::string entry(const std::string& level, const std::string& text) {
    return "\\[pympm:" + level + "\\] .*PM00040: " + regex_escape(text) + "$";
}

} // namespace

BOOST_AUTO_TEST_SUITE(standard_streams)

BOOST_AUTO_TEST_CASE(a_module_that_wraps_stdout_buffer_at_import_serves) {
    for (auto& [name, options] : prefork_and_event(kConfig)) {
        BOOST_TEST_CONTEXT(name) {
            HttpdServer srv(options);
            srv.start();
            auto r = http_get(srv.port(), "/s/attrs");
            BOOST_TEST_REQUIRE(r.status == 200, r.body);
            auto j = parse_json(r.body);
            BOOST_TEST(j.get<bool>("import_time_buffer"), "sys.stdout.buffer is the one taken at import");
            BOOST_TEST(j.get<bool>("same_as_dunder"));
            for (const char* stream : {"stdout", "stderr", "errors"}) {
                BOOST_TEST_CONTEXT(stream) {
                    const auto& s = j.get_child(stream);
                    BOOST_TEST(s.get<std::string>("type") == "TextIOWrapper");
                    BOOST_TEST(s.get<std::string>("encoding") == "utf-8");
                    BOOST_TEST(s.get<std::string>("errors") == "backslashreplace");
                    BOOST_TEST(s.get<bool>("line_buffering"));
                    BOOST_TEST(!s.get<bool>("isatty"));
                    BOOST_TEST(s.get<bool>("writable"));
                    BOOST_TEST(!s.get<bool>("closed"));
                    BOOST_TEST(s.get<bool>("buffer_is_binary"), "its .buffer is an io.BufferedIOBase, as python3's");
                }
            }
            BOOST_TEST(j.get<std::string>("stdout.name") == "<stdout>");
            BOOST_TEST(j.get<std::string>("stderr.name") == "<stderr>");
            BOOST_TEST(j.get<std::string>("errors.name") == "wsgi.errors");
            BOOST_TEST(j.get<std::string>("stdout.fileno") == "1");
            BOOST_TEST(j.get<std::string>("stderr.fileno") == "2");
            BOOST_TEST(j.get<std::string>("errors.fileno") == "2");
        }
    }
}

BOOST_AUTO_TEST_CASE(print_and_stderr_land_as_pm00040_lines_at_their_levels) {
    for (auto& [name, options] : prefork_and_event(kConfig)) {
        BOOST_TEST_CONTEXT(name) {
            HttpdServer srv(options);
            srv.allow_log_error("PM00040: (stderr|errors|errbuffer)-m42$");
            srv.start();
            const std::size_t mark = srv.log_mark();
            auto r = http_get(srv.port(), "/s/write?m=m42");
            BOOST_TEST_REQUIRE(r.status == 200, r.body);
            // The last one written: once it is there, so are the others.
            BOOST_TEST_REQUIRE(!srv.wait_for_log(entry("notice", "unfinished-m42"), 10s, mark).empty(),
                               srv.log_since(mark));
            for (const auto& [level, text] : std::vector<std::pair<std::string, std::string>>{
                     {"notice", "print-m42"},
                     {"notice", "print-sep-m42|second"},
                     {"error", "stderr-m42"},
                     {"error", "errors-m42"},
                     {"notice", "buffer-m42 \\xff raw"}, // bytes go through as they are; httpd escapes them
                     {"error", "errbuffer-m42"},
                     {"notice", "wrapped-m42"},
                     {"notice", "two-a-m42"},
                     {"notice", "two-b-m42"},
                     {"notice", "pieces-m42"}}) {
                BOOST_TEST_CONTEXT("one " << level << " entry for '" << text << "'") {
                    BOOST_TEST(srv.count_log(entry(level, text), mark) == 1u, srv.log_since(mark));
                }
            }
            BOOST_TEST(srv.count_log("PM00040: (pieces-|m42$)", mark) == 1u, "a line written in pieces is one entry");
            // 20 KB without a newline: held up to 8 KiB, then logged in pieces.
            BOOST_TEST(srv.count_log("PM00040: endless-m42-z{1000}", mark) == 1u);
            BOOST_TEST(srv.count_log("PM00040: z{1000}", mark) == 2u, srv.log_since(mark));
        }
    }
}

BOOST_AUTO_TEST_CASE(descriptors_1_and_2_lead_to_the_error_log) {
    for (auto& [name, options] : prefork_and_event(kConfig)) {
        BOOST_TEST_CONTEXT(name) {
            HttpdServer srv(options);
            srv.start();
            const std::size_t mark = srv.log_mark();
            auto r = http_get(srv.port(), "/s/fds?m=m77");
            BOOST_TEST_REQUIRE(r.status == 200, r.body);
            BOOST_TEST(parse_json(r.body).get<bool>("faulthandler_enabled"), "faulthandler.enable() works");
            // Unformatted: what reaches a descriptor is written as it is.
            for (const char* line : {"^fd1-m77$", "^fd2-m77$", "^child-out-m77$", "^child-err-m77$",
                                     "File \".*streams_app.py\", line [0-9]+ in _stack_marker_function"}) {
                BOOST_TEST_CONTEXT(line << " in the error log") {
                    BOOST_TEST(!srv.wait_for_log(line, 10s, mark).empty(), srv.log_since(mark));
                }
            }
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()

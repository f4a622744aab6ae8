// Issue 21's hostile WebSocket clients against a real httpd: every case of
// tests/e2e/clients/ws_fuzz_cases.py (unmasked frames, reserved bits and
// opcodes, bad and oversized lengths, a deflate bomb, invalid UTF-8 split
// across fragments, invalid close codes, frames sent before the 101, clients
// vanishing mid-frame, frame soups) gets the Close code RFC 6455 asks for, or
// a clean end, under prefork and event; the child survives each (the
// harness's log scan fails the test on a crash), and answers an echo after.
#include "httpd_server.h"
#include "test_mpm_common.h"
#include "test_support.h"

#include <boost/test/unit_test.hpp>

using namespace pympm_test;
using namespace pympm_test::mpm;
using namespace std::chrono_literals;

namespace {

const std::string kWs = "PyApp /w @APPS@/ws_app.py:app asgi\n";

boost::property_tree::ptree last_json_line(const std::string& output) {
    const auto end = output.find_last_not_of('\n');
    const auto start = output.rfind('\n', end);
    return parse_json(output.substr(start == std::string::npos ? 0 : start + 1));
}

} // namespace

BOOST_AUTO_TEST_SUITE(websocket_fuzz)

BOOST_AUTO_TEST_CASE(every_hostile_client_gets_the_close_code_rfc_6455_asks_for) {
    const std::vector<std::pair<std::string, HttpdOptions>> servers = {
        {"prefork", prefork_one_child(kWs)}, {"event", threaded_one_child(Mpm::event, 4, kWs)}};
    for (const auto& [name, options] : servers) {
        BOOST_TEST_CONTEXT(name) {
            HttpdServer srv(options);
            srv.start();
            const std::string url = "ws://127.0.0.1:" + std::to_string(srv.port()) + "/w/echo";
            const auto r =
                run_command({"/usr/bin/python3", source_dir() + "/tests/e2e/clients/ws_fuzz_cases.py", url}, 900s);
            const auto result = last_json_line(r.output);
            int cases = 0;
            for (const auto& [unused, c] : result.get_child("cases")) {
                ++cases;
                BOOST_TEST(c.get<bool>("ok"), c.get<std::string>("name")
                                                  << ": want " << c.get<std::string>("want") << ", got "
                                                  << c.get<std::string>("got", "(a list)") << " "
                                                  << c.get<std::string>("error", ""));
            }
            BOOST_TEST(cases >= 50);
            BOOST_TEST(result.get<int>("failed") == 0);
            BOOST_TEST(r.exit_code == 0, r.output.substr(0, 2000));
            // The child that met them all still echoes.
            const auto after = run_command({"/usr/bin/python3", source_dir() + "/tests/e2e/clients/ws_client.py", url,
                                            "text=still here", "recv", "close=1000"},
                                           60s);
            const auto t = last_json_line(after.output);
            BOOST_TEST(t.get<int>("status") == 101, after.output);
            bool echoed = false;
            for (const auto& [unused, e] : t.get_child("events"))
                echoed = echoed || e.get<std::string>("data", "") == "still here";
            BOOST_TEST(echoed, after.output);
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()

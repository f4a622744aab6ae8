// Issue 21: WebSockets for ASGI apps over HTTP/1.1 and HTTP/2 (RFC 8441),
// against a real httpd under prefork, worker and event: the ASGI WebSocket
// events (accept with a subprotocol and headers, messages both ways, close
// codes both ways, refusal and denial responses), permessage-deflate, the
// size limit, the ping policy, PyThreads slots left free by idle sockets,
// and 1001 at a graceful restart or recycling; the WebSocket routes of
// FastAPI, Starlette, Quart and Django Channels; and a differential test
// against bare uvicorn. The clients are Debian's websockets 10.4
// (tests/e2e/clients/ws_steps.py, ws_client.py) or raw HTTP for refused
// handshakes; python3-h2 with wsproto's frames for HTTP/2 streams
// (ws_h2_steps.py); and headless Chromium over TLS, h2 and HTTP/1.1.
#include "http_client.h"
#include "httpd_server.h"
#include "test_mpm_common.h"
#include "test_support.h"

#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>
#include <fstream>
#include <functional>
#include <future>
#include <sstream>

using namespace pympm_test;
using namespace pympm_test::mpm;
using namespace std::chrono_literals;

namespace {

const std::string kWs = "PyApp /w @APPS@/ws_app.py:app asgi\n";

// With PM00300 (debug): a test waits for a socket to be open.
HttpdOptions debug(HttpdOptions o) {
    o.log_level = "warn pympm:debug";
    return o;
}

std::vector<std::pair<std::string, HttpdOptions>> every_mpm(const std::string& config, int threads = 4) {
    return {{"prefork", debug(prefork_one_child(config))},
            {"worker", debug(threaded_one_child(Mpm::worker, threads, config))},
            {"event", debug(threaded_one_child(Mpm::event, threads, config))}};
}

std::vector<std::pair<std::string, HttpdOptions>> debug_prefork_and_event(const std::string& config) {
    return {{"prefork", debug(prefork_one_child(config))}, {"event", debug(threaded_one_child(Mpm::event, 4, config))}};
}

using Transcript = std::vector<boost::property_tree::ptree>;

// Runs ws_steps.py against ws://127.0.0.1:port/target; one ptree per step.
Transcript converse(const HttpdServer& srv, const std::string& target, const std::string& steps,
                    std::chrono::seconds timeout = 60s) {
    const std::string url = "ws://127.0.0.1:" + std::to_string(srv.port()) + target;
    auto r = run_command({"/usr/bin/python3", source_dir() + "/tests/e2e/clients/ws_steps.py", url, steps}, timeout);
    BOOST_TEST_REQUIRE(r.exit_code == 0, r.output);
    const auto last = r.output.rfind("\n[");
    auto tree = parse_json(last == std::string::npos ? r.output : r.output.substr(last + 1));
    Transcript out;
    for (auto& [k, v] : tree) out.push_back(v);
    return out;
}

std::string str(const Transcript& t) {
    std::ostringstream os;
    for (auto& s : t) boost::property_tree::write_json(os, s, false);
    return os.str();
}

// The events the app recorded (disconnect codes), from its HTTP route.
std::string app_events(const HttpdServer& srv) { return http_get(srv.port(), "/w/events").body; }

// The handshake's request headers for the raw client.
HttpRequest handshake(const std::string& target, std::vector<std::pair<std::string, std::string>> extra = {}) {
    HttpRequest r;
    r.target = target;
    r.headers = {{"Upgrade", "websocket"},
                 {"Connection", "Upgrade"},
                 {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
                 {"Sec-WebSocket-Version", "13"}};
    for (auto& h : extra) r.headers.push_back(h);
    return r;
}

std::string module_line(const std::string& name, const std::string& file) {
    return "LoadModule " + name + " " + httpd_modules_dir() + "/" + file + "\n";
}

std::string markers_file(const HttpdServer& srv) { return srv.apps_dir() + "/markers/ws-events"; }

std::string read_file(const std::string& path) {
    std::ifstream f(path);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

// Polls `path` until it contains `needle` (or the deadline passes).
bool file_contains_soon(const std::string& path, const std::string& needle, std::chrono::seconds within = 30s) {
    const auto deadline = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < deadline) {
        if (read_file(path).find(needle) != std::string::npos) return true;
        std::this_thread::sleep_for(50ms);
    }
    return false;
}

// Polls the HTTP route `target` until its body contains `needle`; the last body.
std::string body_soon(const HttpdServer& srv, const std::string& target, const std::string& needle) {
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    std::string body;
    while (std::chrono::steady_clock::now() < deadline &&
           (body = http_get(srv.port(), target).body).find(needle) == std::string::npos)
        std::this_thread::sleep_for(50ms);
    return body;
}

// A handshake (the connect step's options `connect`) that the server must
// refuse with `status`.
void expect_refused(const HttpdServer& srv, const std::string& target, int status, const std::string& connect = "{}") {
    auto t = converse(srv, target, R"([{"connect": )" + connect + "}]");
    BOOST_TEST(t.at(0).get<int>("refused", 0) == status, target + ": " + str(t));
}

// The script the Starlette, Quart and Channels echo routes share: "hi" and
// the bytes `sent` (hex), each echoed the framework's own way (`text`,
// `bytes`), then "close", which the route answers with close code `code`.
// `connect`: the connect step's options. The transcript, for what else to check.
Transcript echo_then_close(const HttpdServer& srv, const std::string& target, const std::string& connect,
                           const std::string& sent, const std::string& text, const std::string& bytes, int code) {
    auto t = converse(srv, target,
                      R"([{"connect": )" + connect + R"(}, {"send": "hi"}, {"recv": 10}, {"send_bytes": ")" + sent +
                          R"("}, {"recv": 10}, {"send": "close"}, {"recv": 10}])");
    BOOST_TEST_REQUIRE(t.size() == 7u, str(t));
    BOOST_TEST(t[2].get<std::string>("text") == text);
    BOOST_TEST(t[4].get<std::string>("bytes") == bytes);
    BOOST_TEST(t[6].get<int>("closed") == code);
    return t;
}

} // namespace

BOOST_AUTO_TEST_SUITE(websocket_protocol)

BOOST_AUTO_TEST_CASE(an_echo_round_trips_text_and_bytes) {
    for (auto& [name, options] : every_mpm(kWs)) {
        BOOST_TEST_CONTEXT(name) {
            HttpdServer srv(options);
            srv.start();
            auto t = converse(srv, "/w/echo",
                              R"([{"connect": {}}, {"send": "héllo"}, {"recv": 10}, {"send_bytes": "00ff10"},
                                  {"recv": 10}, {"send": ""}, {"recv": 10}, {"close": 1000}])");
            BOOST_TEST_REQUIRE(t.size() == 8u, str(t));
            BOOST_TEST(t[2].get<std::string>("text") == "héllo");
            BOOST_TEST(t[4].get<std::string>("bytes") == "00ff10");
            BOOST_TEST(t[6].get<std::string>("text", "missing") == "");
            BOOST_TEST(t[7].get<int>("closed") == 1000);
            // A large message, as one frame each way.
            std::string big(200000, 'x');
            auto t2 = converse(srv, "/w/echo", R"([{"connect": {}}, {"send": "x", "repeat": 200000}, {"recv": 20}])");
            BOOST_TEST_REQUIRE(t2.size() == 3u, str(t2));
            BOOST_TEST(t2[2].get<std::string>("text") == big);
        }
    }
}

// print() and sys.stderr in a WebSocket app's task are lines of the error
// log (PM00040), as in an HTTP request's, and the socket carries on (they
// raised AttributeError inside the app: its channel has no request log).
BOOST_AUTO_TEST_CASE(what_a_websocket_app_prints_is_logged_and_the_socket_carries_on) {
    for (auto& [name, options] : every_mpm(kWs)) {
        BOOST_TEST_CONTEXT(name) {
            HttpdServer srv(options);
            srv.start();
            auto m = srv.log_mark();
            auto t =
                converse(srv, "/w/print", R"([{"connect": {}}, {"send": "after"}, {"recv": 10}, {"close": 1000}])");
            BOOST_TEST_REQUIRE(t.size() == 4u, str(t));
            BOOST_TEST(t[2].get<std::string>("text") == "after");
            BOOST_TEST(t[3].get<int>("closed") == 1000);
            BOOST_TEST(!srv.wait_for_log("PM00040: ws-app-print: on stdout", 15s, m).empty());
            BOOST_TEST(!srv.wait_for_log("PM00040: ws-app-print: on stderr", 15s, m).empty());
            srv.allow_log_error("PM00040: ws-app-print: on stderr"); // stderr logs at error level
        }
    }
}

BOOST_AUTO_TEST_CASE(the_scope_is_an_asgi_websocket_scope) {
    HttpdServer srv(threaded_one_child(Mpm::event, 4, kWs));
    srv.start();
    auto t = converse(srv, "/w/scope?x=1&y=%C3%A9",
                      R"([{"connect": {"subprotocols": ["one", "two"], "headers": {"X-Custom": "V"}}}, {"recv": 10}])");
    BOOST_TEST_REQUIRE(t.size() == 2u, str(t));
    auto s = parse_json(t[1].get<std::string>("text"));
    BOOST_TEST(s.get<std::string>("type") == "websocket");
    BOOST_TEST(s.get<std::string>("asgi.version") == "3.0");
    BOOST_TEST(s.get<std::string>("asgi.spec_version") == "2.4");
    BOOST_TEST(s.get<std::string>("http_version") == "1.1");
    BOOST_TEST(s.get<std::string>("scheme") == "ws");
    BOOST_TEST(s.get<std::string>("path") == "/w/scope");
    BOOST_TEST(s.get<std::string>("raw_path") == "/w/scope");
    BOOST_TEST(s.get<std::string>("root_path") == "/w");
    BOOST_TEST(s.get<std::string>("query_string") == "x=1&y=%C3%A9");
    BOOST_TEST(s.get<bool>("has_method") == false, "a websocket scope has no method");
    std::vector<std::string> subprotocols;
    for (auto& [k, v] : s.get_child("subprotocols")) subprotocols.push_back(v.get_value<std::string>());
    BOOST_TEST((subprotocols == std::vector<std::string>{"one", "two"}));
    BOOST_TEST(s.get_child("extensions").count("websocket.http.response") == 1u);
    bool custom = false;
    for (auto& [k, pair] : s.get_child("headers"))
        if (pair.front().second.get_value<std::string>() == "x-custom") custom = pair.back().second.data() == "V";
    BOOST_TEST(custom, "headers are lower-cased byte pairs");
    BOOST_TEST(s.get<std::string>("client..") == "127.0.0.1");
    BOOST_TEST(s.get_child("server").back().second.get_value<int>() == srv.port());
}

BOOST_AUTO_TEST_CASE(the_subprotocol_the_app_picks_reaches_the_client) {
    HttpdServer srv(prefork_one_child(kWs));
    srv.start();
    auto t = converse(srv, "/w/subprotocol", R"([{"connect": {"subprotocols": ["chat", "superchat"]}}, {"recv": 10}])");
    BOOST_TEST_REQUIRE(t.size() == 2u, str(t));
    BOOST_TEST(t[0].get<std::string>("subprotocol") == "superchat");
    BOOST_TEST(t[0].get<std::string>("headers.sec-websocket-protocol") == "superchat");
    // One the client did not offer raises in the app, which then refuses.
    auto r = http_request(srv.port(), handshake("/w/bad_subprotocol", {{"Sec-WebSocket-Protocol", "chat"}}));
    BOOST_TEST(r.status == 403);
    BOOST_TEST(app_events(srv).find("is not one the client offered") != std::string::npos, app_events(srv));
}

BOOST_AUTO_TEST_CASE(accept_headers_reach_the_client) {
    HttpdServer srv(threaded_one_child(Mpm::event, 4, kWs));
    srv.start();
    auto t = converse(srv, "/w/headers", R"([{"connect": {}}, {"close": 1000}])");
    BOOST_TEST_REQUIRE(t.size() == 2u, str(t));
    BOOST_TEST(t[0].get<std::string>("headers.x-app") == "accepted");
    BOOST_TEST(t[0].get<std::string>("headers.set-cookie") == "a=1");
    BOOST_TEST(t[0].get<std::string>("headers.upgrade") == "websocket");
}

BOOST_AUTO_TEST_CASE(permessage_deflate_is_negotiated_when_offered) {
    for (const char* setting : {"", "PyWebSocketCompression Off\n"}) {
        BOOST_TEST_CONTEXT(setting) {
            HttpdServer srv(threaded_one_child(Mpm::event, 4, kWs + setting));
            srv.start();
            std::string text(5000, 'a');
            auto t = converse(srv, "/w/echo",
                              R"([{"connect": {"compression": true}}, {"send": ")" + text + R"("}, {"recv": 10},
                                  {"send": "again"}, {"recv": 10}])");
            BOOST_TEST_REQUIRE(t.size() == 5u, str(t));
            const bool on = std::string(setting).empty();
            BOOST_TEST((t[0].get_child("extensions").size() == 1u) == on, str(t));
            const bool agreed =
                t[0].get<std::string>("headers.sec-websocket-extensions", "").find("permessage-deflate") !=
                std::string::npos;
            BOOST_TEST(agreed == on);
            BOOST_TEST(t[2].get<std::string>("text") == text);
            BOOST_TEST(t[4].get<std::string>("text") == "again");
        }
    }
}

BOOST_AUTO_TEST_CASE(closing_before_accept_answers_403) {
    for (auto& [name, options] : every_mpm(kWs)) {
        BOOST_TEST_CONTEXT(name) {
            HttpdServer srv(options);
            srv.start();
            auto r = http_request(srv.port(), handshake("/w/refuse"));
            BOOST_TEST(r.status == 403);
            expect_refused(srv, "/w/refuse", 403);
            // The child serves on.
            BOOST_TEST(http_get(srv.port(), "/w/hello").status == 200);
        }
    }
}

BOOST_AUTO_TEST_CASE(a_denial_response_reaches_the_client) {
    HttpdServer srv(threaded_one_child(Mpm::event, 4, kWs));
    srv.start();
    auto r = http_request(srv.port(), handshake("/w/deny"));
    BOOST_TEST(r.status == 401);
    BOOST_TEST(r.body == "no entry");
    BOOST_TEST(r.headers.get("WWW-Authenticate") == "Bearer");
}

BOOST_AUTO_TEST_CASE(an_app_that_fails_before_accepting_answers_500) {
    HttpdServer srv(prefork_one_child(kWs));
    srv.start();
    auto m = srv.log_mark();
    BOOST_TEST(http_request(srv.port(), handshake("/w/raise_before")).status == 500);
    srv.wait_for_log("PM00020: .*raised an exception", 15s, m);
    srv.wait_for_log("ValueError: refused by raising", 15s, m);
    BOOST_TEST(http_request(srv.port(), handshake("/w/return_before")).status == 500);
    srv.wait_for_log("PM00022: .*returned without sending websocket.accept", 15s, m);
    srv.allow_log_error("PM000(20|21|22)");
    srv.allow_traceback_lines();
}

BOOST_AUTO_TEST_CASE(a_bad_handshake_is_refused_before_the_app_runs) {
    HttpdServer srv(threaded_one_child(Mpm::event, 4, kWs));
    srv.start();
    auto r = http_request(srv.port(), handshake("/w/echo", {{"Sec-WebSocket-Version", "8"}}));
    // The second Sec-WebSocket-Version makes the field "13, 8".
    BOOST_TEST(r.status == 426);
    BOOST_TEST(r.headers.get("Sec-WebSocket-Version") == "13");
    HttpRequest no_key = handshake("/w/echo");
    no_key.headers.erase(no_key.headers.begin() + 2);
    BOOST_TEST(http_request(srv.port(), no_key).status == 400);
    BOOST_TEST(app_events(srv).find("disconnect") == std::string::npos, "the app never saw them");
}

BOOST_AUTO_TEST_CASE(a_client_close_code_reaches_the_app) {
    for (auto& [name, options] : every_mpm(kWs)) {
        BOOST_TEST_CONTEXT(name) {
            HttpdServer srv(options);
            srv.start();
            auto t = converse(srv, "/w/echo?tag=c1", R"([{"connect": {}}, {"close": 4001, "reason": "bye now"}])");
            BOOST_TEST_REQUIRE(t.size() == 2u, str(t));
            BOOST_TEST(t[1].get<int>("closed") == 4001, "the close is echoed with its code");
            BOOST_TEST(t[1].get<std::string>("reason") == "bye now", "and its reason");
            const auto deadline = std::chrono::steady_clock::now() + 15s;
            std::string events;
            while (std::chrono::steady_clock::now() < deadline) {
                events = app_events(srv);
                if (events.find("c1") != std::string::npos) break;
                std::this_thread::sleep_for(50ms);
            }
            BOOST_TEST(events.find(R"(["disconnect", "c1", 4001, "bye now"])") != std::string::npos, events);
        }
    }
}

BOOST_AUTO_TEST_CASE(the_app_close_code_reaches_the_client) {
    HttpdServer srv(threaded_one_child(Mpm::event, 4, kWs));
    srv.start();
    auto t = converse(srv, "/w/close?code=4002&reason=done&tag=a1", R"([{"connect": {}}, {"recv": 10}])");
    BOOST_TEST_REQUIRE(t.size() == 2u, str(t));
    BOOST_TEST(t[1].get<int>("closed") == 4002);
    BOOST_TEST(t[1].get<std::string>("reason") == "done");
    auto t2 = converse(srv, "/w/send_after_close?tag=a2", R"([{"connect": {}}, {"recv": 10}])");
    BOOST_TEST(t2.at(1).get<int>("closed") == 1000, str(t2));
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    std::string events;
    while (std::chrono::steady_clock::now() < deadline &&
           (events = app_events(srv)).find("send_after_close") == std::string::npos)
        std::this_thread::sleep_for(50ms);
    BOOST_TEST(events.find("once a close message has been sent") != std::string::npos, events);
}

BOOST_AUTO_TEST_CASE(an_app_that_ends_after_accepting_closes_1000_or_1011) {
    HttpdServer srv(threaded_one_child(Mpm::event, 4, kWs));
    srv.start();
    auto m = srv.log_mark();
    auto t = converse(srv, "/w/return_after", R"([{"connect": {}}, {"send": "x"}, {"recv": 10}])");
    BOOST_TEST(t.at(2).get<int>("closed") == 1000, str(t));
    auto t2 = converse(srv, "/w/raise_after", R"([{"connect": {}}, {"send": "x"}, {"recv": 10}])");
    BOOST_TEST(t2.at(2).get<int>("closed") == 1011, str(t2));
    srv.wait_for_log("RuntimeError: raised after accept", 15s, m);
    srv.allow_log_error("PM000(20|21)");
    srv.allow_traceback_lines();
}

BOOST_AUTO_TEST_CASE(a_message_over_PyWebSocketMaxMessage_closes_1009) {
    HttpdServer srv(prefork_one_child(kWs + "PyWebSocketMaxMessage 1000\n"));
    srv.start();
    auto t = converse(srv, "/w/echo?tag=big",
                      R"([{"connect": {}}, {"send": ")" + std::string(1000, 'a') + R"("}, {"recv": 10}, {"send": ")" +
                          std::string(1001, 'b') + R"("}, {"recv": 10}])");
    BOOST_TEST_REQUIRE(t.size() == 5u, str(t));
    BOOST_TEST(t[2].get<std::string>("text").size() == 1000u, "at the limit: delivered");
    BOOST_TEST(t[4].get<int>("closed") == 1009, str(t));
    BOOST_TEST(file_contains_soon(srv.error_log_path(), "PM00302"));
}

BOOST_AUTO_TEST_CASE(an_unanswered_ping_closes_1011) {
    HttpdServer srv(threaded_one_child(Mpm::event, 4, kWs + "PyWebSocketPing 1 1\n"));
    srv.start();
    auto t = converse(srv, "/w/echo", R"([{"raw": 30}])");
    BOOST_TEST_REQUIRE(t.size() == 1u, str(t));
    BOOST_TEST(t[0].get<int>("status") == 101);
    auto frames = t[0].get_child("frames");
    BOOST_TEST_REQUIRE(frames.size() >= 2u, str(t));
    BOOST_TEST(frames.front().second.get<int>("op") == 9, "a ping first");
    BOOST_TEST(frames.back().second.get<int>("op") == 8, str(t));
    BOOST_TEST(frames.back().second.get<int>("code") == 1011);
    BOOST_TEST(frames.back().second.get<std::string>("reason") == "keepalive ping timeout");
    BOOST_TEST(file_contains_soon(srv.error_log_path(), "PM00303"));
    // A client that answers (websockets does) stays connected across pings.
    auto t2 = converse(srv, "/w/echo", R"([{"connect": {}}, {"sleep": 3.5}, {"send": "still"}, {"recv": 10}])");
    BOOST_TEST(t2.at(3).get<std::string>("text", "") == "still", str(t2));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(websocket_capacity)

// Four idle WebSockets on a child with PyThreads 1: each holds an httpd
// thread but no slot, so an HTTP request is served at once, not after them.
BOOST_AUTO_TEST_CASE(idle_websockets_do_not_hold_PyThreads_slots) {
    for (Mpm mpm : {Mpm::event, Mpm::worker}) {
        BOOST_TEST_CONTEXT(mpm_name(mpm)) {
            HttpdServer srv(debug(threaded_one_child(mpm, 8, kWs + "PyThreads 1\n")));
            srv.start();
            std::vector<std::future<Transcript>> idle;
            for (int i = 0; i < 4; ++i)
                idle.push_back(std::async(std::launch::async, [&srv, i] {
                    return converse(srv, "/w/echo?tag=idle" + std::to_string(i),
                                    R"([{"connect": {}}, {"send": "up"}, {"recv": 10}, {"sleep": 20}, {"send": "x"},
                                        {"recv": 10}])");
                }));
            BOOST_TEST_REQUIRE(srv.wait_for_log_count("PM00300: WebSocket /w/echo\\?tag=idle", 4, 30s) == 4u);
            HttpRequest req;
            req.target = "/w/hello";
            req.timeout = 15s; // the sockets idle 20 s: a request that waits for their slots times out
            auto r = http_request(srv.port(), req);
            BOOST_TEST(r.status == 200, "an HTTP request is served while 4 WebSockets idle with PyThreads 1");
            for (auto& f : idle) {
                auto t = f.get();
                BOOST_TEST(t.size() == 6u, str(t));
                if (t.size() == 6u) BOOST_TEST(t[5].get<std::string>("text") == "x");
            }
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(websocket_lifecycle)

BOOST_AUTO_TEST_CASE(graceful_restart_closes_with_1001_after_the_app_saw_disconnect) {
    for (auto& [name, options] : every_mpm(kWs)) {
        BOOST_TEST_CONTEXT(name) {
            HttpdServer srv(options);
            make_markers_dir(srv);
            srv.start();
            auto client = std::async(std::launch::async, [&srv] {
                // Only waits: an echo racing the restart could meet the
                // close first.
                return converse(srv, "/w/echo?tag=g1", R"([{"connect": {}}, {"recv": 60}])");
            });
            // The socket is open once the app has accepted; then restart.
            BOOST_TEST_REQUIRE(srv.wait_for_log("PM00300: WebSocket /w/echo\\?tag=g1 accepted", 20s).size() > 0u);
            const auto before = std::chrono::steady_clock::now();
            srv.graceful_restart();
            auto t = client.get();
            BOOST_TEST_REQUIRE(t.size() == 2u, str(t));
            BOOST_TEST(t[1].get<int>("closed") == 1001, str(t));
            BOOST_TEST(t[1].get<std::string>("reason") == "going away");
            BOOST_TEST((std::chrono::steady_clock::now() - before < 30s));
            BOOST_TEST(file_contains_soon(markers_file(srv), R"(["disconnect", "g1", 1001, "going away"])"),
                       read_file(markers_file(srv)));
            srv.wait_for_log("PM00304: WebSocket /w/echo\\?tag=g1 closed with 1001", 15s);
            BOOST_TEST(http_get(srv.port(), "/w/hello").status == 200, "the new generation serves");
        }
    }
}

BOOST_AUTO_TEST_CASE(recycling_by_PyMaxRequests_closes_open_websockets) {
    for (Mpm mpm : {Mpm::event, Mpm::worker}) {
        BOOST_TEST_CONTEXT(mpm_name(mpm)) {
            HttpdOptions o = debug(threaded_one_child(mpm, 4, kWs + "PyMaxRequests 3\n"));
            HttpdServer srv(o);
            make_markers_dir(srv);
            srv.start();
            auto client = std::async(std::launch::async, [&srv] {
                // Only waits: an echo racing the child's leaving could meet
                // the close first.
                return converse(srv, "/w/echo?tag=r1", R"([{"connect": {}}, {"recv": 60}])");
            });
            BOOST_TEST_REQUIRE(srv.wait_for_log("PM00300: WebSocket /w/echo\\?tag=r1 accepted", 20s).size() > 0u);
            // Two more requests reach the limit: the child leaves.
            http_get(srv.port(), "/w/hello");
            http_get(srv.port(), "/w/hello");
            auto t = client.get();
            BOOST_TEST_REQUIRE(t.size() == 2u, str(t));
            BOOST_TEST(t[1].get<int>("closed") == 1001, str(t));
            BOOST_TEST(file_contains_soon(markers_file(srv), R"(["disconnect", "r1", 1001, "going away"])"));
        }
    }
}

BOOST_AUTO_TEST_CASE(the_status_page_counts_open_websockets) {
    const std::string status =
        module_line("authz_host_module", "mod_authz_host.so") +
        "<Location /pympm-status>\n    SetHandler pympm-status\n    Require local\n</Location>\n";
    HttpdServer srv(debug(threaded_one_child(Mpm::event, 4, kWs + status)));
    srv.start();
    auto open_now = [&] {
        auto r = http_get(srv.port(), "/pympm-status?format=json");
        BOOST_TEST_REQUIRE(r.status == 200, r.body);
        return parse_json(r.body).get_child("children").front().second.get<int>("websockets_open");
    };
    BOOST_TEST(open_now() == 0);
    auto client = std::async(std::launch::async, [&srv] {
        return converse(srv, "/w/echo?tag=s1", R"([{"connect": {}}, {"send": "up"}, {"recv": 10}, {"sleep": 3},
                                                   {"close": 1000}])");
    });
    BOOST_TEST_REQUIRE(srv.wait_for_log("PM00300: WebSocket /w/echo\\?tag=s1 accepted", 20s).size() > 0u);
    BOOST_TEST(open_now() == 1);
    // Listed among the current requests as an open WebSocket.
    std::string state;
    const auto listing = parse_json(http_get(srv.port(), "/pympm-status?format=json").body);
    for (const auto& [k, r] : listing.get_child("requests"))
        if (r.get<std::string>("path", "") == "/w/echo") state = r.get<std::string>("state", "");
    BOOST_TEST(state == "websocket_open");
    BOOST_TEST(client.get().size() == 5u);
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    while (open_now() != 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
    BOOST_TEST(open_now() == 0);
    auto prom = http_get(srv.port(), "/pympm-status?format=prometheus").body;
    BOOST_TEST(prom.find("pympm_child_websockets_open{") != std::string::npos, prom);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(websocket_frameworks)

// FastAPI's WebSocket route (Debian's python3-fastapi): a path parameter, a
// query parameter, the subprotocol, JSON messages and its close code.
BOOST_AUTO_TEST_CASE(a_fastapi_websocket_route_echoes_and_closes) {
    for (auto& [name, options] : every_mpm("PyApp /f @APPS@/fastapi_app.py:app asgi\n")) {
        BOOST_TEST_CONTEXT(name) {
            HttpdServer srv(options);
            srv.start();
            auto t = converse(srv, "/f/ws/lobby?name=ann",
                              R"([{"connect": {"subprotocols": ["json.v1", "json.v2"]}}, {"send": "hi"}, {"recv": 10},
                                  {"send": "close"}, {"recv": 10}])");
            BOOST_TEST_REQUIRE(t.size() == 5u, str(t));
            BOOST_TEST(t[0].get<std::string>("subprotocol") == "json.v1");
            auto j = parse_json(t[2].get<std::string>("text"));
            BOOST_TEST(j.get<std::string>("room") == "lobby");
            BOOST_TEST(j.get<std::string>("name") == "ann");
            BOOST_TEST(j.get<std::string>("text") == "hi");
            BOOST_TEST(t[4].get<int>("closed") == 4010);
            // A client that closes: the route sees WebSocketDisconnect.
            auto t2 = converse(srv, "/f/ws/lobby", R"([{"connect": {}}, {"close": 4321}])");
            BOOST_TEST(t2.at(1).get<int>("closed") == 4321, str(t2));
            // An unknown WebSocket path: FastAPI closes before accepting (403).
            expect_refused(srv, "/f/nowhere", 403);
        }
    }
}

BOOST_AUTO_TEST_CASE(a_starlette_websocket_route_echoes_and_closes) {
    for (auto& [name, options] : every_mpm("PyApp /s @APPS@/starlette_app.py:app asgi\n")) {
        BOOST_TEST_CONTEXT(name) {
            HttpdServer srv(options);
            srv.start();
            auto t =
                echo_then_close(srv, "/s/ws", R"({"compression": true})", "010203", "starlette: hi", "030201", 4011);
            BOOST_TEST(t[6].get<std::string>("reason") == "starlette closes");
            auto t2 = converse(srv, "/s/ws", R"([{"connect": {}}, {"close": 1000}])");
            BOOST_TEST(t2.at(1).get<int>("closed") == 1000, str(t2));
            const auto events = body_soon(srv, "/s/events", "ws-disconnect-1000");
            BOOST_TEST(events.find("ws-disconnect-1000") != std::string::npos, events);
        }
    }
}

// Quart 0.18 (Debian's python3-quart): its own ASGI WebSocket handling, with
// a receiver task beside the route's, None for the unused one of 'text' and
// 'bytes', and the denial response when the server offers the extension.
BOOST_AUTO_TEST_CASE(a_quart_websocket_route_echoes_closes_and_refuses) {
    for (auto& [name, options] : debug_prefork_and_event("PyApp /q @APPS@/quart_app.py:app asgi\n")) {
        BOOST_TEST_CONTEXT(name) {
            HttpdServer srv(options);
            srv.start();
            auto t = echo_then_close(srv, "/q/ws", R"({"subprotocols": ["one", "two"], "compression": true})", "010203",
                                     "quart: hi", "030201", 4012);
            BOOST_TEST(t[0].get<std::string>("subprotocol") == "two");
            BOOST_TEST(t[0].get_child("extensions").size() == 1u, "permessage-deflate");
            BOOST_TEST(t[6].get<std::string>("reason") == "quart closes");
            // The client closes: Quart cancels the route's task.
            auto t2 = converse(srv, "/q/ws", R"([{"connect": {}}, {"close": 4321, "reason": "bye"}])");
            BOOST_TEST(t2.at(1).get<int>("closed") == 4321, str(t2));
            const auto events = body_soon(srv, "/q/events", "ws-cancelled");
            BOOST_TEST(events.find("ws-cancelled") != std::string::npos, events);
            // Sends of the server's own between the client's messages.
            auto tk = converse(srv, "/q/ticker",
                               R"([{"connect": {}}, {"recv": 10}, {"recv": 10}, {"recv": 10}, {"send": "x"},
                                   {"recv": 10}, {"close": 1000}])");
            BOOST_TEST_REQUIRE(tk.size() == 7u, str(tk));
            BOOST_TEST(tk[1].get<std::string>("text") == "tick 0");
            BOOST_TEST(tk[3].get<std::string>("text") == "tick 2");
            BOOST_TEST(tk[5].get<std::string>("text") == "got x");
            // abort(401) before accepting: Quart's own 401 page.
            auto r = http_request(srv.port(), handshake("/q/private"));
            BOOST_TEST(r.status == 401);
            BOOST_TEST(r.body.find("Unauthorized") != std::string::npos, r.body);
            auto t3 = converse(srv, "/q/private?token=let-me-in", R"([{"connect": {}}, {"recv": 10}, {"recv": 10}])");
            BOOST_TEST_REQUIRE(t3.size() == 3u, str(t3));
            BOOST_TEST(t3[1].get<std::string>("text") == "welcome");
            BOOST_TEST(t3[2].get<int>("closed") == 1000);
            // websocket.close() before accepting: 403.
            expect_refused(srv, "/q/closed", 403);
        }
    }
}

// Django Channels 4.0 (Debian's python3-django-channels) as its tutorial
// writes it: ProtocolTypeRouter, AllowedHostsOriginValidator, URLRouter, an
// async and a sync consumer, the in-memory channel layer.
BOOST_AUTO_TEST_CASE(a_channels_consumer_echoes_closes_and_refuses) {
    for (auto& [name, options] : debug_prefork_and_event("PyApp / @APPS@/channels_app.py:application asgi\n")) {
        BOOST_TEST_CONTEXT(name) {
            HttpdServer srv(options);
            srv.start();
            // Browsers send an Origin; the validator wants one of ALLOWED_HOSTS.
            const std::string origin =
                R"("headers": {"Origin": "http://127.0.0.1:)" + std::to_string(srv.port()) + R"("})";
            auto t = echo_then_close(srv, "/ws/echo/",
                                     R"({"subprotocols": ["json.v1", "json.v2"], "compression": true, )" + origin + "}",
                                     "0a0b", "channels: hi", "0b0a", 4013);
            BOOST_TEST(t[0].get<std::string>("subprotocol") == "json.v1");
            // A sync consumer (Channels runs it in a thread) and a client close.
            auto t2 = converse(srv, "/ws/sync/",
                               R"([{"connect": {)" + origin + R"(}}, {"send": "hi"}, {"recv": 10}, {"close": 4100}])");
            BOOST_TEST_REQUIRE(t2.size() == 4u, str(t2));
            BOOST_TEST(t2[2].get<std::string>("text") == "sync: hi");
            BOOST_TEST(t2[3].get<int>("closed") == 4100);
            const auto events = body_soon(srv, "/events/", "sync-disconnect-4100");
            BOOST_TEST(events.find("sync-disconnect-4100") != std::string::npos, events);
            BOOST_TEST(events.find("echo-disconnect-4013") != std::string::npos, events);
            // Refused in connect(), and by the origin validator: 403.
            expect_refused(srv, "/ws/refuse/", 403, "{" + origin + "}");
            expect_refused(srv, "/ws/echo/", 403, R"({"headers": {"Origin": "http://evil.example"}})");
        }
    }
}

// The in-memory channel layer lives in one process: two sockets of one
// event child share a group (under prefork each child holds one socket),
// and a sync Django view of the same child pushes to them.
BOOST_AUTO_TEST_CASE(a_channels_group_reaches_every_socket_of_the_child) {
    HttpdServer srv(debug(threaded_one_child(Mpm::event, 4, "PyApp / @APPS@/channels_app.py:application asgi\n")));
    srv.start();
    const std::string origin = R"("headers": {"Origin": "http://127.0.0.1:)" + std::to_string(srv.port()) + R"("})";
    auto listener = std::async(std::launch::async, [&] {
        return converse(srv, "/ws/chat/lobby/?who=b",
                        R"([{"connect": {)" + origin + R"(}}, {"recv": 30}, {"recv": 30}])");
    });
    BOOST_TEST_REQUIRE(srv.wait_for_log("PM00300: WebSocket /ws/chat/lobby/\\?who=b accepted", 20s).size() > 0u);
    auto t = converse(srv, "/ws/chat/lobby/?who=a",
                      R"([{"connect": {)" + origin + R"(}}, {"send": "hello room"}, {"recv": 10}, {"close": 1000}])");
    BOOST_TEST_REQUIRE(t.size() == 4u, str(t));
    BOOST_TEST(t[2].get<std::string>("text") == "hello room");
    auto r = http_get(srv.port(), "/notify/lobby/?text=from%20a%20view");
    BOOST_TEST(r.status == 200, r.body);
    auto b = listener.get();
    BOOST_TEST_REQUIRE(b.size() == 3u, str(b));
    BOOST_TEST(b[1].get<std::string>("text") == "hello room");
    BOOST_TEST(b[2].get<std::string>("text") == "from a view");
}

BOOST_AUTO_TEST_SUITE_END()

// ------------------------------------------------------------ differential

namespace {

// Bare uvicorn (Debian's python3-uvicorn, `--ws websockets`) serving
// tests/apps/ws_diff_app.py on a free loopback port: the reference the
// differential test compares mod_pympm with. Stopped when it goes out of
// scope.
class Uvicorn {
public:
    Uvicorn(const std::string& apps_dir, const std::vector<std::string>& extra_args, const std::string& log)
        : log_(log) {
        for (int attempt = 0; attempt < 3 && pid_ < 0; ++attempt) {
            port_ = pick_free_port_on({"127.0.0.1"});
            std::vector<std::string> args = {"/usr/bin/python3",
                                             "-m",
                                             "uvicorn",
                                             "--ws",
                                             "websockets",
                                             "--host",
                                             "127.0.0.1",
                                             "--port",
                                             std::to_string(port_),
                                             "--no-access-log"};
            args.insert(args.end(), extra_args.begin(), extra_args.end());
            args.push_back("ws_diff_app:app");
            std::vector<char*> argv;
            for (auto& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
            pid_ = ::fork();
            if (pid_ == 0) { // only async-signal-safe calls until exec
                if (::chdir(apps_dir.c_str()) != 0) ::_exit(126);
                ::dup2(fd, 1);
                ::dup2(fd, 2);
                ::execv(argv[0], argv.data());
                ::_exit(127);
            }
            ::close(fd);
            if (!listening()) stop(); // the port was taken meanwhile, or it failed: again
        }
        BOOST_REQUIRE_MESSAGE(pid_ > 0, "uvicorn did not start:\n" + read_file(log_));
    }
    Uvicorn(const Uvicorn&) = delete;
    Uvicorn& operator=(const Uvicorn&) = delete;
    ~Uvicorn() { stop(); }

    std::uint16_t port() const { return port_; }
    std::string log() const { return read_file(log_); }

private:
    // Polls until uvicorn accepts connections (false if it exited).
    bool listening() {
        const auto deadline = std::chrono::steady_clock::now() + 60s;
        while (std::chrono::steady_clock::now() < deadline) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return false;
            }
            const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_port = htons(port_);
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            const bool ok = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
            ::close(s);
            if (ok) return true;
            std::this_thread::sleep_for(50ms);
        }
        return false;
    }
    void stop() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGTERM);
        const auto deadline = std::chrono::steady_clock::now() + 15s;
        int status = 0;
        while (::waitpid(pid_, &status, WNOHANG) == 0) {
            if (std::chrono::steady_clock::now() > deadline) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, &status, 0);
                break;
            }
            std::this_thread::sleep_for(20ms);
        }
        pid_ = -1;
    }

    std::string log_;
    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
};

// What the client saw, as tests/e2e/clients/ws_client.py records it, in a
// form two servers can be compared by: the status (101, or the refusal's),
// the subprotocol, the extensions agreed (their names: the parameters are
// each server's own choice), every message and control frame, the Close
// (code and reason) and any client error. Long texts are shortened to their
// length and a hash. `with_body`: also the refusal's body. `reasons`: also
// the reason of a Close the server sends (see DiffCase).
std::string client_view(const std::string& output, bool with_body = false, bool reasons = true) {
    const auto end = output.find_last_not_of('\n');
    const auto start = output.rfind('\n', end);
    const auto t = parse_json(output.substr(start == std::string::npos ? 0 : start + 1));
    auto shorten = [](const std::string& text) {
        if (text.size() <= 80) return text;
        return "<" + std::to_string(text.size()) + " chars, hash " + std::to_string(std::hash<std::string>{}(text)) +
               ">";
    };
    // property_tree reads JSON's null as "null".
    auto value = [&t](const char* key, const char* none) {
        const auto v = t.get<std::string>(key, "null");
        return v == "null" ? std::string(none) : v;
    };
    std::ostringstream os;
    os << "status " << value("status", "none") << "; subprotocol " << value("subprotocol", "none") << "; extensions";
    std::istringstream offers(value("extensions", ""));
    for (std::string ext; std::getline(offers, ext, ',');) {
        ext = ext.substr(0, ext.find(';'));
        ext.erase(0, ext.find_first_not_of(' '));
        ext.erase(ext.find_last_not_of(' ') + 1);
        os << " " << ext;
    }
    os << ";";
    for (const auto& [k, e] : t.get_child("events")) {
        os << " " << e.get<std::string>("type");
        for (const char* field : {"data", "hex", "code", "reason"})
            if (auto v = e.get_optional<std::string>(field); v && (reasons || std::string(field) != "reason"))
                os << " " << field << "=" << shorten(*v);
        os << ";";
    }
    if (with_body) os << " body " << value("body", "") << ";";
    os << " error " << value("error", "none");
    return os.str();
}

struct DiffCase {
    std::string name;
    std::vector<std::string> args; // ws_client.py's: the path first, then steps and options
    bool with_body = false;
    // The server fails the connection: its Close reason is free text (RFC
    // 6455 §7.1.6), which mod_pympm fills ("message too big", the PM00302
    // line's words) and websockets leaves empty. Codes are still compared.
    bool fails = false;
};

std::string run_client(std::uint16_t port, const DiffCase& c) {
    std::vector<std::string> args = {"/usr/bin/python3", source_dir() + "/tests/e2e/clients/ws_client.py",
                                     "ws://127.0.0.1:" + std::to_string(port) + c.args.at(0)};
    args.insert(args.end(), c.args.begin() + 1, c.args.end());
    auto r = run_command(args, 120s);
    BOOST_TEST(r.exit_code == 0, r.output);
    return r.output;
}

// 1000000 bytes: the message size limit both servers get.
const std::string kDiffLimit = "1000000";

} // namespace

BOOST_AUTO_TEST_SUITE(websocket_differential)

// The same app (tests/apps/ws_diff_app.py) and the same client script under
// bare uvicorn and under mod_pympm: the client must see the same thing.
BOOST_AUTO_TEST_CASE(the_client_sees_what_it_sees_under_uvicorn) {
    HttpdServer srv(threaded_one_child(
        Mpm::event, 4, "PyApp / @APPS@/ws_diff_app.py:app asgi\nPyWebSocketMaxMessage " + kDiffLimit + "\n"));
    srv.start();
    Uvicorn uvicorn(srv.apps_dir(), {"--ws-max-size", kDiffLimit}, srv.root() + "/uvicorn.log");
    const std::vector<DiffCase> cases = {
        {"echo, text and bytes, empty text",
         {"/echo", "text=héllo", "recv", "bytes=00ff10", "recv", "text=", "recv", "close=1000"}},
        {"a large message, each way", {"/echo", "repeat=999999:x", "recv", "close=1000"}},
        // Its header says the size: both fail it before the payload (no
        // send racing the close).
        {"a frame over the size limit: 1009",
         {"/echo", "--mode", "raw", "frame=1:fin+claim=1000001:hex:", "wait-close"},
         false,
         true},
        {"the server's pick of the offered subprotocols",
         {"/subprotocol", "--subprotocol", "chat", "--subprotocol", "superchat", "recv", "close=1000"}},
        {"no subprotocol picked", {"/subprotocol", "--subprotocol", "chat", "recv", "close=1000"}},
        {"the app closes with a code and a reason", {"/close?code=4002&reason=done", "recv", "recv"}},
        {"the client closes with a code and a reason", {"/echo", "text=a", "recv", "close=4001:bye"}},
        {"the client closes without a code", {"/echo", "--mode", "raw", "frame=8:fin:hex:", "wait-close"}},
        {"close before accept: 403", {"/refuse", "recv"}},
        {"permessage-deflate, both ways",
         {"/echo", "--mode", "raw", "--deflate", "text=squeeze squeeze squeeze", "recv", "close=1000"}},
        {"no permessage-deflate when the client offers none",
         {"/echo", "--no-deflate", "text=a", "recv", "close=1000"}},
        {"a fragmented message with a ping inside, then invalid UTF-8: 1007",
         {"/echo", "--mode", "raw", "frame=1:-:text:hel", "frame=9:fin:text:between", "frame=0:fin:text:lo", "recv",
          "frame=1:fin:hex:c328", "wait-close"},
         false,
         true},
        {"an unmasked frame: 1002",
         {"/echo", "--mode", "raw", "frame=1:fin+nomask:text:bare", "wait-close"},
         false,
         true},
        {"a ping is answered", {"/echo", "--mode", "raw", "ping=pi", "close=1000"}},
        {"the app returns after accepting: 1000", {"/return_after", "text=x", "recv"}},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.name) {
            const auto ours = client_view(run_client(srv.port(), c), c.with_body, !c.fails);
            const auto theirs = client_view(run_client(uvicorn.port(), c), c.with_body, !c.fails);
            BOOST_TEST(ours == theirs, "\nmod_pympm: " << ours << "\nuvicorn:   " << theirs);
        }
    }
    srv.allow_log_error("PM00302"); // the size limit and invalid UTF-8 (info)
}

// Where they differ, mod_pympm is right (RFC 6455, the ASGI spec 2.4) and
// docs/asgi.md says so: uvicorn 0.17 (Debian 12's) offers no denial
// response extension, so the app falls back to a plain refusal; and it
// drops the TCP connection of an app that raised after accepting, where
// RFC 6455 §7.4.1 has 1011 for "an unexpected condition".
BOOST_AUTO_TEST_CASE(where_uvicorn_0_17_differs_mod_pympm_follows_the_specs) {
    HttpdServer srv(threaded_one_child(Mpm::event, 4, "PyApp / @APPS@/ws_diff_app.py:app asgi\n"));
    srv.start();
    Uvicorn uvicorn(srv.apps_dir(), {}, srv.root() + "/uvicorn.log");
    const DiffCase deny{"denial", {"/deny", "--mode", "raw"}, true};
    BOOST_TEST(client_view(run_client(srv.port(), deny), true) ==
               "status 401; subprotocol none; extensions; body no entry; error none");
    BOOST_TEST(client_view(run_client(uvicorn.port(), deny), true) ==
               "status 403; subprotocol none; extensions; body ; error none");
    const DiffCase raised{"raise after accept", {"/raise_after", "--no-deflate", "text=x", "recv"}};
    BOOST_TEST(client_view(run_client(srv.port(), raised)) ==
               "status 101; subprotocol none; extensions; close code=1011 reason=; error none");
    BOOST_TEST(client_view(run_client(uvicorn.port(), raised)) ==
               "status 101; subprotocol none; extensions; eof code=1006; error none");
    srv.allow_log_error("PM000(20|21)");
    srv.allow_traceback_lines();
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(websocket_http2)

namespace {

// mod_http2 with RFC 8441 on: h2c on the main port.
const std::string kH2Ws =
    "LoadModule http2_module " + httpd_modules_dir() + "/mod_http2.so\nProtocols h2c http/1.1\nH2WebSockets on\n";

// ws_h2_steps.py: the conversation on one HTTP/2 stream (an extended
// CONNECT), `scheme` ws (h2c, prior knowledge) or wss (TLS, ALPN h2).
Transcript converse_h2(std::uint16_t port, const std::string& target, const std::string& steps,
                       const std::string& scheme = "ws") {
    const std::string url = scheme + "://127.0.0.1:" + std::to_string(port) + target;
    auto r = run_command({"/usr/bin/python3", source_dir() + "/tests/e2e/clients/ws_h2_steps.py", url, steps}, 60s);
    BOOST_TEST_REQUIRE(r.exit_code == 0, r.output);
    const auto last = r.output.rfind("\n[");
    auto tree = parse_json(last == std::string::npos ? r.output : r.output.substr(last + 1));
    Transcript out;
    for (auto& [k, v] : tree) out.push_back(v);
    return out;
}

// Headless Chromium loads /w/page?tag=TAG from the TLS port: the page
// opens wss://, sends, shows the echo, and its HTTP response ends once it
// has (tests/apps/ws_app.py). Returns the DOM Chromium dumps.
std::string browser_dom(const HttpdServer& srv, std::uint16_t tls_port, const std::string& tag) {
    const std::string profile = srv.root() + "/chromium-profile-" + tag;
    auto dom = run_command({"/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                            "--no-first-run", "--disable-background-networking", "--disable-component-update",
                            "--disable-sync", "--ignore-certificate-errors", "--user-data-dir=" + profile, "--dump-dom",
                            "https://127.0.0.1:" + std::to_string(tls_port) + "/w/page?tag=" + tag},
                           std::chrono::seconds(90));
    BOOST_TEST_REQUIRE(dom.exit_code == 0, dom.output);
    return dom.output;
}

} // namespace

BOOST_AUTO_TEST_CASE(an_h2_stream_carries_a_websocket_to_the_app) {
    for (Mpm mpm : {Mpm::prefork, Mpm::event}) {
        BOOST_TEST_CONTEXT(mpm_name(mpm)) {
            HttpdServer srv(
                debug(mpm == Mpm::prefork ? prefork_one_child(kWs + kH2Ws) : threaded_one_child(mpm, 4, kWs + kH2Ws)));
            srv.start();
            auto t = converse_h2(srv.port(), "/w/scope?x=1", R"([{"connect": {}}, {"recv": 10}, {"close": 1000}])");
            BOOST_TEST_REQUIRE(t.size() == 3u, str(t));
            BOOST_TEST(t[0].get<int>("status") == 200);
            auto s = parse_json(t[1].get<std::string>("text"));
            BOOST_TEST(s.get<std::string>("type") == "websocket");
            BOOST_TEST(s.get<std::string>("http_version") == "2");
            BOOST_TEST(s.get<std::string>("scheme") == "ws");
            BOOST_TEST(s.get<std::string>("path") == "/w/scope");
            BOOST_TEST(s.get<std::string>("query_string") == "x=1");
            BOOST_TEST(s.get<bool>("has_method") == false);
            BOOST_TEST(t[2].get<int>("closed") == 1000);
            auto e = converse_h2(srv.port(), "/w/echo",
                                 R"([{"connect": {}}, {"send": "héllo"}, {"recv": 10}, {"send_bytes": "00ff10"},
                                     {"recv": 10}, {"send": "x", "repeat": 200000}, {"recv": 20}, {"close": 1000}])");
            BOOST_TEST_REQUIRE(e.size() == 8u, str(e));
            BOOST_TEST(e[2].get<std::string>("text") == "héllo");
            BOOST_TEST(e[4].get<std::string>("bytes") == "00ff10");
            BOOST_TEST(e[6].get<std::string>("text") == std::string(200000, 'x'));
            BOOST_TEST(e[7].get<int>("closed") == 1000);
            BOOST_TEST(!srv.wait_for_log("PM00300: WebSocket /w/echo accepted \\(HTTP/2\\)", 10s).empty());
        }
    }
}

// What the app saw, polled until `needle` shows (or 15 s pass).
std::string app_events_with(const HttpdServer& srv, const std::string& needle) {
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    std::string events;
    while (std::chrono::steady_clock::now() < deadline && (events = app_events(srv)).find(needle) == std::string::npos)
        std::this_thread::sleep_for(50ms);
    return events;
}

// The app saw `event` (polled for the whole event: the socket's tag shows
// in its connect event before its disconnect is recorded).
void expect_app_event(const HttpdServer& srv, const std::string& event) {
    const std::string events = app_events_with(srv, event);
    BOOST_TEST(contains(events, event), "the app saw " << events);
}

BOOST_AUTO_TEST_CASE(close_codes_cross_an_h2_stream_both_ways) {
    for (Mpm mpm : {Mpm::prefork, Mpm::event}) {
        BOOST_TEST_CONTEXT(mpm_name(mpm)) {
            HttpdServer srv(mpm == Mpm::prefork ? prefork_one_child(kWs + kH2Ws)
                                                : threaded_one_child(mpm, 4, kWs + kH2Ws));
            srv.start();
            auto t =
                converse_h2(srv.port(), "/w/echo?tag=c1",
                            R"([{"connect": {}}, {"send": "up"}, {"recv": 10}, {"close": 4001, "reason": "bye now"}])");
            BOOST_TEST_REQUIRE(t.size() == 4u, str(t));
            BOOST_TEST(t[3].get<int>("closed") == 4001, "the close is echoed with its code");
            expect_app_event(srv, R"(["disconnect", "c1", 4001, "bye now"])");
            auto a = converse_h2(srv.port(), "/w/close?code=4002&reason=done", R"([{"connect": {}}, {"recv": 10}])");
            BOOST_TEST_REQUIRE(a.size() == 2u, str(a));
            BOOST_TEST(a[1].get<int>("closed") == 4002);
            BOOST_TEST(a[1].get<std::string>("reason") == "done");
            auto r = converse_h2(srv.port(), "/w/return_after", R"([{"connect": {}}, {"send": "x"}, {"recv": 10}])");
            BOOST_TEST(r.at(2).get<int>("closed") == 1000, str(r));
            // A client that leaves without a Close, by ending its stream or
            // its connection: the app hears 1006 and the thread is free.
            auto e = converse_h2(srv.port(), "/w/echo?tag=e1",
                                 R"([{"connect": {}}, {"send": "up"}, {"recv": 10}, {"end_stream": 15}])");
            BOOST_TEST(e.at(3).get<bool>("stream_ended", false), str(e));
            expect_app_event(srv, R"(["disconnect", "e1", 1006, ""])");
            auto d = converse_h2(srv.port(), "/w/echo?tag=d1",
                                 R"([{"connect": {}}, {"send": "up"}, {"recv": 10}, {"drop": true}])");
            BOOST_TEST(d.at(3).get<bool>("dropped", false), str(d));
            expect_app_event(srv, R"(["disconnect", "d1", 1006, ""])");
            BOOST_TEST(http_get(srv.port(), "/w/hello").status == 200, "the child serves on");
        }
    }
}

// The handshake over h2 is the one over HTTP/1.1: refusals keep their
// status (mod_http2 passes 4xx on), the subprotocol, the app's headers and
// permessage-deflate reach the client in the 200.
BOOST_AUTO_TEST_CASE(the_handshake_over_h2_answers_as_over_http11) {
    HttpdServer srv(threaded_one_child(Mpm::event, 4, kWs + kH2Ws));
    srv.start();
    BOOST_TEST(converse_h2(srv.port(), "/w/refuse", R"([{"connect": {}}])").at(0).get<int>("refused", 0) == 403);
    BOOST_TEST(converse_h2(srv.port(), "/w/deny", R"([{"connect": {}}])").at(0).get<int>("refused", 0) == 401);
    BOOST_TEST(converse_h2(srv.port(), "/w/echo", R"([{"connect": {"version": "8"}}])").at(0).get<int>("refused", 0) ==
               426);
    auto p = converse_h2(srv.port(), "/w/subprotocol",
                         R"([{"connect": {"subprotocols": ["chat", "superchat"]}}, {"recv": 10}, {"close": 1000}])");
    BOOST_TEST_REQUIRE(p.size() == 3u, str(p));
    BOOST_TEST(p[0].get<std::string>("subprotocol") == "superchat");
    BOOST_TEST(p[1].get<std::string>("text") == R"(["chat", "superchat"])");
    auto h = converse_h2(srv.port(), "/w/headers", R"([{"connect": {}}, {"close": 1000}])");
    BOOST_TEST(h.at(0).get<std::string>("headers.x-app", "") == "accepted", str(h));
    const std::string text(5000, 'a');
    auto z = converse_h2(srv.port(), "/w/echo",
                         R"([{"connect": {"compression": true}}, {"send": ")" + text + R"("}, {"recv": 10},
                             {"close": 1000}])");
    BOOST_TEST_REQUIRE(z.size() == 4u, str(z));
    BOOST_TEST(z[0].get_child("extensions").size() == 1u, str(z));
    BOOST_TEST(z[2].get<std::string>("text") == text);
}

BOOST_AUTO_TEST_CASE(graceful_restart_closes_an_h2_websocket_with_1001) {
    for (Mpm mpm : {Mpm::prefork, Mpm::event}) {
        BOOST_TEST_CONTEXT(mpm_name(mpm)) {
            HttpdServer srv(
                debug(mpm == Mpm::prefork ? prefork_one_child(kWs + kH2Ws) : threaded_one_child(mpm, 4, kWs + kH2Ws)));
            make_markers_dir(srv);
            srv.start();
            auto client = std::async(std::launch::async, [&srv] {
                return converse_h2(srv.port(), "/w/echo?tag=g2", R"([{"connect": {}}, {"recv": 60}])");
            });
            BOOST_TEST_REQUIRE(
                !srv.wait_for_log("PM00300: WebSocket /w/echo\\?tag=g2 accepted \\(HTTP/2", 20s).empty());
            srv.graceful_restart();
            auto t = client.get();
            BOOST_TEST_REQUIRE(t.size() == 2u, str(t));
            BOOST_TEST(t[1].get<int>("closed", 0) == 1001, str(t));
            BOOST_TEST(t[1].get<std::string>("reason", "") == "going away");
            BOOST_TEST(file_contains_soon(markers_file(srv), R"(["disconnect", "g2", 1001, "going away"])"),
                       read_file(markers_file(srv)));
        }
    }
}

// The browser test of issue 21: Chromium uses RFC 8441 on the h2
// connection it loaded the page on, once the server's SETTINGS allow it.
BOOST_AUTO_TEST_CASE(a_browser_echoes_over_wss_on_an_h2_connection) {
    HttpdOptions o = debug(threaded_one_child(Mpm::event, 8, kWs));
    o.extra_config = "LoadModule http2_module " + httpd_modules_dir() + "/mod_http2.so\nH2WebSockets on\n";
    HttpdServer srv(o);
    const std::uint16_t tls = add_tls_vhost(srv);
    srv.start();
    const std::string dom = browser_dom(srv, tls, "h2page");
    BOOST_TEST(contains(dom, "echo=[echo: héllo from the page] http_version=2 scheme=wss"), dom);
    BOOST_TEST(contains(dom, "<title>done</title>"), dom);
    BOOST_TEST(!srv.wait_for_log("PM00300: WebSocket /w/browser\\?tag=h2page accepted \\(HTTP/2[,)]", 10s).empty());
}

BOOST_AUTO_TEST_CASE(a_browser_echoes_over_wss_on_http11) {
    // Without mod_http2 the TLS host's ALPN offers only http/1.1.
    HttpdServer srv(debug(threaded_one_child(Mpm::event, 8, kWs)));
    const std::uint16_t tls = add_tls_vhost(srv);
    srv.start();
    const std::string dom = browser_dom(srv, tls, "h1page");
    BOOST_TEST(contains(dom, "echo=[echo: héllo from the page] http_version=1.1 scheme=wss"), dom);
    BOOST_TEST(!srv.wait_for_log("PM00300: WebSocket /w/browser\\?tag=h1page accepted \\(HTTP/1.1[,)]", 10s).empty());
}

BOOST_AUTO_TEST_SUITE_END()

// Issue 14: ASGI apps inside httpd's children. The spec's HTTP events
// (bodies in chunks, streaming, disconnects), scopes under a non-root mount,
// lifespan, concurrency on the event loop and PyThreads, FastAPI, Starlette
// and async Django from Debian's packages, WSGI and ASGI side by side, and
// what the configuration check refuses.
#include "http1_response_parser.h"
#include "http_client.h"
#include "httpd_server.h"
#include "test_mpm_common.h"
#include "test_support.h"

#include <boost/test/unit_test.hpp>

#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

using namespace pympm_test;
using namespace pympm_test::mpm;
using namespace std::chrono_literals;

namespace {

const std::string kAsgi = "PyApp /a @APPS@/asgi_app.py:app asgi\n";

// Prefork and event on the default loop (uvloop, installed for the tests),
// and event on asyncio's own loop.
std::vector<std::pair<std::string, HttpdOptions>> prefork_event_and_asyncio(const std::string& config) {
    return {{"prefork", prefork_one_child(config)},
            {"event", threaded_one_child(Mpm::event, 4, config)},
            {"event, PyAsyncioLoop asyncio", threaded_one_child(Mpm::event, 4, config + "PyAsyncioLoop asyncio\n")}};
}

// Prefork and event, each on uvloop and on asyncio's own loop.
std::vector<std::pair<std::string, HttpdOptions>> every_mpm_and_loop(const std::string& config) {
    std::vector<std::pair<std::string, HttpdOptions>> out;
    for (const char* loop : {"uvloop", "asyncio"}) {
        const std::string c = config + "PyAsyncioLoop " + loop + "\n";
        out.emplace_back(std::string("prefork, ") + loop, prefork_one_child(c));
        out.emplace_back(std::string("event, ") + loop, threaded_one_child(Mpm::event, 4, c));
    }
    return out;
}

HttpRequest post(const std::string& target, std::string body, std::chrono::milliseconds timeout = 60s) {
    HttpRequest r;
    r.method = "POST";
    r.target = target;
    r.body = std::move(body);
    r.timeout = timeout;
    return r;
}

std::string md5_of(const std::string& data) {
    auto r = run_command({python_executable(), "-c",
                          "import hashlib,sys; print(hashlib.md5(open(sys.argv[1],'rb').read()).hexdigest())", [&] {
                              char path[] = "/tmp/pympm-md5-XXXXXX";
                              int fd = ::mkstemp(path);
                              (void)!::write(fd, data.data(), data.size());
                              ::close(fd);
                              return std::string(path);
                          }()});
    return r.output.substr(0, 32);
}

} // namespace

BOOST_AUTO_TEST_SUITE(asgi_http)

BOOST_AUTO_TEST_CASE(scope_under_a_non_root_mount) {
    for (auto& [name, options] : prefork_event_and_asyncio(kAsgi)) {
        BOOST_TEST_CONTEXT(name) {
            HttpdServer srv(options);
            srv.start();
            HttpRequest req;
            req.target = "/a/scope?x=1&y=%C3%A9";
            req.headers = {{"X-Custom-Header", "Value"},
                           {"Authorization", "Bearer t0k"},
                           {"Proxy", "http://evil:1"},
                           {"Proxy-Authorization", "Basic c2VjcmV0"}};
            auto r = http_request(srv.port(), req);
            BOOST_TEST_REQUIRE(r.status == 200, r.body);
            auto s = parse_json(r.body);
            BOOST_TEST(s.get<std::string>("type") == "http");
            BOOST_TEST(s.get<std::string>("asgi.version") == "3.0");
            BOOST_TEST(s.get<std::string>("asgi.spec_version") == "2.3");
            BOOST_TEST(s.get<std::string>("http_version") == "1.1");
            BOOST_TEST(s.get<std::string>("method") == "GET");
            BOOST_TEST(s.get<std::string>("scheme") == "http");
            BOOST_TEST(s.get<std::string>("root_path") == "/a");
            BOOST_TEST(s.get<std::string>("path") == "/a/scope", "the spec's path has the mount");
            BOOST_TEST(s.get<std::string>("raw_path") == "/a/scope");
            BOOST_TEST(s.get<std::string>("query_string") == "x=1&y=%C3%A9");
            std::map<std::string, std::string> headers;
            for (auto& [k, pair] : s.get_child("headers")) {
                std::vector<std::string> nv;
                for (auto& [k2, v] : pair) nv.push_back(v.get_value<std::string>());
                BOOST_TEST(nv.at(0) == [&] {
                    std::string l = nv[0];
                    for (auto& c : l) c = static_cast<char>(std::tolower(c));
                    return l;
                }());
                headers[nv.at(0)] = nv.at(1);
            }
            BOOST_TEST(headers["x-custom-header"] == "Value", "headers are lower-cased byte pairs, values as sent");
            BOOST_TEST(headers["authorization"] == "Bearer t0k", "the app authenticates its own clients");
            BOOST_TEST(headers.count("proxy") == 0u, "httpoxy: no Proxy header");
            BOOST_TEST(headers.count("proxy-authorization") == 0u, "proxy credentials stay with httpd");
            BOOST_TEST(s.get<std::string>("client..") == "127.0.0.1");
            BOOST_TEST(s.get_child("server").back().second.get_value<int>() == srv.port());
            BOOST_TEST(s.get<long>("state.started_by") > 0, "the lifespan's state, copied");
        }
    }
}

// CPython hands out one shared object for every 1-byte bytes value. Header
// names were lower-cased in place after PyBytes_FromStringAndSize, so one
// request with `X: 1` turned bytes([88]) into b"x" for every app of the
// child, until it exited. Names of 1 and 2 bytes, 1-byte values, a 1-byte
// query string, and (at a root mount) a 1-byte raw_path: each is a new
// object, none is CPython's shared one.
BOOST_AUTO_TEST_CASE(one_letter_header_names_leave_cpythons_shared_bytes_alone) {
    for (auto& [name, options] : prefork_event_and_asyncio(kAsgi + "PyApp / @APPS@/asgi_app.py:app asgi\n")) {
        BOOST_TEST_CONTEXT(name) {
            HttpdServer srv(options);
            srv.start();
            HttpConnection c(srv.port());
            for (int i = 0; i < 2; ++i) {
                BOOST_TEST_CONTEXT("request " << i) {
                    HttpRequest req;
                    req.target = "/a/one_byte_objects?q";
                    req.keep_alive = true;
                    req.headers = {{"X", "1"}, {"Ab", "1"}, {"Q", "2"}};
                    auto r = c.request(req);
                    BOOST_TEST_REQUIRE(r.status == 200, r.body);
                    auto s = parse_json(r.body);
                    BOOST_TEST(s.get<std::string>("bytes_88") == "X");
                    BOOST_TEST(s.get_child("wrong").empty(), "1-byte bytes objects changed: " << r.body);
                    BOOST_TEST(s.get_child("shared").empty(), "the scope holds CPython's shared bytes: " << r.body);
                    std::set<std::string> names;
                    for (auto& [k, v] : s.get_child("names")) names.insert(v.get_value<std::string>());
                    for (const char* n : {"x", "ab", "q"}) BOOST_TEST(names.count(n) == 1u, n << " in " << r.body);
                    BOOST_TEST(s.get<std::string>("query_string") == "q");
                    BOOST_TEST(s.get<std::string>("raw_path") == "/a/one_byte_objects");
                    req.target = "/?q";
                    r = c.request(req);
                    BOOST_TEST_REQUIRE(r.status == 200, r.body);
                    s = parse_json(r.body);
                    BOOST_TEST(s.get<std::string>("raw_path") == "/");
                    BOOST_TEST(s.get_child("shared").empty(), "the scope holds CPython's shared bytes: " << r.body);
                    BOOST_TEST(s.get_child("wrong").empty(), "1-byte bytes objects changed: " << r.body);
                }
            }
            BOOST_TEST(srv.child_pids().size() == 1u, "one child served both");
        }
    }
}

// Credentials of a request httpd authenticated itself stay with httpd, as
// for WSGI.
BOOST_AUTO_TEST_CASE(httpd_authenticated_requests_keep_their_credentials) {
    HttpdServer srv(prefork_one_child(kAsgi));
    srv.options().extra_config = basic_auth_config(srv, "/a/scope");
    srv.start();
    BOOST_TEST(http_get(srv.port(), "/a/scope").status == 401);
    HttpRequest req;
    req.target = "/a/scope";
    req.headers = {{"Authorization", "Basic YWxpY2U6c2VjcmV0"}};
    auto r = http_request(srv.port(), req);
    BOOST_TEST_REQUIRE(r.status == 200, r.body);
    BOOST_TEST(!contains(r.body, "authorization"), r.body);
    BOOST_TEST(!contains(r.body, "YWxpY2U6c2VjcmV0"), r.body);
}

BOOST_AUTO_TEST_CASE(bodies_in_chunks_large_uploads_and_streaming) {
    for (auto& [name, options] : prefork_event_and_asyncio(kAsgi)) {
        BOOST_TEST_CONTEXT(name) {
            HttpdServer srv(options);
            srv.start();
            // A chunked body: several http.request events with more_body.
            HttpRequest chunked = post("/a/echo", "");
            std::string all;
            for (int i = 0; i < 64; ++i) {
                chunked.chunks.push_back(std::string(4096, static_cast<char>('a' + i % 26)));
                all += chunked.chunks.back();
            }
            auto r = http_request(srv.port(), chunked);
            BOOST_TEST_REQUIRE(r.status == 200, r.body);
            std::istringstream got(r.body);
            std::size_t len = 0;
            std::string md5;
            int events = 0;
            got >> len >> md5 >> events;
            BOOST_TEST(len == all.size());
            BOOST_TEST(md5 == md5_of(all));
            BOOST_TEST(events >= 2, events << " http.request events");
            // A large upload with a Content-Length.
            std::string big(8 * 1024 * 1024, 'x');
            for (std::size_t i = 0; i < big.size(); i += 4099) big[i] = static_cast<char>('0' + i % 10);
            auto large = http_request(srv.port(), post("/a/echo", big));
            BOOST_TEST_REQUIRE(large.status == 200);
            BOOST_TEST(large.body.rfind(std::to_string(big.size()) + " " + md5_of(big), 0) == 0u, large.body);
            // A streamed response: each part arrives as it is sent.
            HttpRequest s;
            s.target = "/a/stream?n=3&pause=0.4";
            auto stream = http_request(srv.port(), s);
            BOOST_TEST(stream.body == "chunk 0\nchunk 1\nchunk 2\nend\n");
            BOOST_TEST(stream.chunked);
            BOOST_TEST_REQUIRE(stream.pieces.size() >= 2u);
            BOOST_TEST(HttpResponse::seconds(stream.pieces.front().at, stream.pieces.back().at) >= 0.8,
                       "the first part came before the app slept");
        }
    }
}

BOOST_AUTO_TEST_CASE(the_app_sees_the_client_disconnect) {
    for (auto& [name, options] : prefork_event_and_asyncio(kAsgi)) {
        BOOST_TEST_CONTEXT(name) {
            HttpdServer srv(options);
            srv.start();
            {
                HttpConnection c(srv.port());
                c.send_all("POST /a/wait_disconnect HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
                           Clock::now() + 10s);
                // The app now waits in receive(); the client goes.
            }
            std::string seen;
            BOOST_TEST(eventually(
                           [&] {
                               seen = http_get(srv.port(), "/a/disconnects").body;
                               return contains(seen, "http.disconnect");
                           },
                           20s),
                       seen);
        }
    }
}

// The scope's "asgi" dict and a disconnect message are the app's own: an
// app that changes them changes nothing the next request receives.
BOOST_AUTO_TEST_CASE(what_an_app_changes_in_its_scope_or_messages_stays_its_own) {
    for (auto options : {prefork_one_child(kAsgi), threaded_one_child(Mpm::event, 4, kAsgi)}) {
        BOOST_TEST_CONTEXT(mpm_name(options.mpm)) {
            HttpdServer srv(options);
            srv.start();
            for (int i = 0; i < 2; ++i) {
                auto r = http_get(srv.port(), "/a/change_scope_asgi");
                BOOST_TEST_REQUIRE(r.status == 200, r.body);
                BOOST_TEST(parse_json(r.body).get<std::string>("version") == "3.0", "request " << i << ": " << r.body);
            }
            std::string seen;
            for (int i = 1; i <= 2; ++i) {
                {
                    HttpConnection c(srv.port());
                    c.send_all("POST /a/wait_disconnect HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
                               Clock::now() + 10s);
                }
                BOOST_TEST_REQUIRE(eventually(
                                       [&] {
                                           seen = http_get(srv.port(), "/a/disconnects").body;
                                           return parse_json(seen).size() == static_cast<std::size_t>(i);
                                       },
                                       20s),
                                   seen);
            }
            BOOST_TEST(!contains(seen, "changed"), seen);
        }
    }
}

BOOST_AUTO_TEST_CASE(errors_are_logged_and_answered) {
    HttpdServer srv(threaded_one_child(Mpm::event, 4, kAsgi));
    srv.allow_log_error("PM00020: app /a=.* raised an exception for [A-Z]+ /a/raise");
    srv.allow_log_error("RuntimeError: raised");
    srv.allow_log_error("PM00022: app /a=.*: the ASGI app returned without sending http.response.start");
    srv.allow_log_error("PM00020: app /a=.* raised an exception for [A-Z]+ /a/bad_header");
    srv.allow_log_error("ValueError: invalid value for response header 'x-bad'");
    srv.allow_log_error(
        "PM00120: the ASGI app at /a raised after its response to GET /a/sleep_after_body was complete");
    srv.allow_log_error("RuntimeError: raised after the response was complete");
    srv.allow_log_error("PM00020: app /a=.* raised an exception for [A-Z]+ /a/str_header");
    srv.allow_traceback_lines();
    srv.start();
    BOOST_TEST(http_get(srv.port(), "/a/raise").status == 500);
    BOOST_TEST(http_get(srv.port(), "/a/no_response").status == 500);
    BOOST_TEST(http_get(srv.port(), "/a/bad_header").status == 500);
    BOOST_TEST(http_get(srv.port(), "/a/str_header").status == 500);
    BOOST_TEST(srv.count_log("TypeError: a header value must be bytes, not str") == 1u);
    auto cut = raw_exchange(srv.port(), "GET /a/raise_after_start HTTP/1.1\r\nHost: x\r\n\r\n", 20s);
    BOOST_TEST(contains(cut.data, "part"));
    BOOST_TEST(!ends_with(cut.data, "0\r\n\r\n"), "the response is cut, no last chunk");
    BOOST_TEST(srv.count_log("PM00020: app /a=.* raised an exception for [A-Z]+ /a/raise_after_start") == 1u);
    // Raised after the response was complete (the request had ended): the
    // client has its answer, the log has the traceback.
    auto late = http_get(srv.port(), "/a/sleep_after_body?s=0.05&tag=raises&then=raise");
    BOOST_TEST(late.status == 200);
    BOOST_TEST(late.body == "answered before the sleep\n");
    BOOST_TEST(!srv.wait_for_log("PM00120: the ASGI app at /a raised after its response to GET "
                                 "/a/sleep_after_body was complete",
                                 20s)
                    .empty());
    BOOST_TEST(!srv.wait_for_log("PM00120: .*RuntimeError: raised after the response was complete", 20s).empty());
    // receive() and send() from the rest of an app whose request ended: the
    // channel is detached, they answer without touching the request.
    BOOST_TEST(http_get(srv.port(), "/a/sleep_after_body?s=0.05&tag=probe&then=probe").status == 200);
    std::string after;
    BOOST_TEST(eventually(
        [&] {
            after = http_get(srv.port(), "/a/after_body").body;
            return contains(after, "probe:");
        },
        20s));
    BOOST_TEST(contains(after, R"("probe:http.disconnect:RuntimeError")"), after);
    BOOST_TEST(http_get(srv.port(), "/a/hello").status == 200, "the child serves on");
}

// bool() of a message's "more_body" that raises: send() raises it to the
// app, which can catch it and answer (it was ignored, left set while send()
// returned normally). Nothing of the response had gone out yet.
BOOST_AUTO_TEST_CASE(a_more_body_whose_truth_raises_raises_from_send) {
    for (auto& [name, options] : prefork_event_and_asyncio(kAsgi)) {
        BOOST_TEST_CONTEXT(name) {
            HttpdServer srv(options);
            srv.start();
            auto r = http_get(srv.port(), "/a/bad_more_body", 20s);
            BOOST_TEST(r.status == 200);
            BOOST_TEST(r.body == "ZeroDivisionError", r.body);
            BOOST_TEST(http_get(srv.port(), "/a/hello").status == 200, "the child serves on");
        }
    }
}

// Issue 18 item 6: work the app does after its last body part (FastAPI's
// BackgroundTasks, a raw app that sleeps) held back the response until the
// app returned, and with it the next request on the connection. Both now
// arrive while the work still runs: the next request on the same connection
// asks whether the work has ended (no timing: a loaded machine cannot make
// it pass or fail), and the work still runs to its end.
BOOST_AUTO_TEST_CASE(work_after_the_last_body_part_holds_back_neither_the_response_nor_the_next_request) {
    constexpr int kSleep = 4; // seconds of work after each response
    for (auto& [name, options] : every_mpm_and_loop(kAsgi + "PyApp /f @APPS@/fastapi_app.py:app asgi\n")) {
        BOOST_TEST_CONTEXT(name) {
            HttpdServer srv(options);
            srv.start();
            const std::string s = std::to_string(kSleep);
            struct Case {
                std::string what;
                HttpRequest req;
                std::string body;
                std::string ended; // where the work's end shows
                std::string tag;   // what shows there once it ended (JSON-quoted)
            };
            std::vector<Case> cases(3);
            cases[0] = {"a raw ASGI app that sleeps after its last body part",
                        {},
                        "answered before the sleep\n",
                        "/a/after_body",
                        R"("raw")"};
            cases[0].req.target = "/a/sleep_after_body?tag=raw&s=" + s;
            cases[1] = {"FastAPI, an async background task", post("/f/slow-later/async-task?seconds=" + s, ""),
                        R"({"scheduled":"async-task"})", "/f/done", R"("async-task")"};
            cases[2] = {"FastAPI, a sync background task (thread pool)",
                        post("/f/slow-later/sync-task?sync=true&seconds=" + s, ""), R"({"scheduled":"sync-task"})",
                        "/f/done", R"("sync-task")"};
            for (auto& c : cases) {
                BOOST_TEST_CONTEXT(c.what) {
                    HttpConnection conn(srv.port());
                    c.req.keep_alive = true;
                    c.req.timeout = 30s;
                    const auto t0 = Clock::now();
                    auto r = conn.request(c.req);
                    BOOST_TEST_REQUIRE(r.status == 200, r.body);
                    BOOST_TEST(r.body == c.body);
                    BOOST_TEST_REQUIRE(!r.connection_closed);
                    HttpRequest next;
                    next.target = c.ended;
                    next.keep_alive = true;
                    next.timeout = 30s;
                    auto n = conn.request(next);
                    BOOST_TEST_REQUIRE(n.status == 200, "the next request on the same connection");
                    BOOST_TEST_MESSAGE(name << ", " << c.what << ": answered after "
                                            << HttpResponse::seconds(t0, r.complete) << " s, the next request after "
                                            << HttpResponse::seconds(t0, n.complete) << " s");
                    BOOST_TEST(!contains(n.body, c.tag),
                               "the response and the next request waited for the app's work: " << n.body);
                }
            }
            // The work itself still ran to its end.
            std::string raw, tasks;
            BOOST_TEST(eventually(
                           [&] {
                               raw = http_get(srv.port(), "/a/after_body").body;
                               tasks = http_get(srv.port(), "/f/done").body;
                               return contains(raw, R"("raw")") && contains(tasks, R"("async-task")") &&
                                      contains(tasks, R"("sync-task")");
                           },
                           30s),
                       raw << " " << tasks);
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()

// Where users meet an ASGI mount inside httpd: an ErrorDocument into it when
// httpd refuses a body the app is receiving, mod_include's subrequests from
// the output filter of its own response, mod_rewrite, HTTP/2. Under prefork
// and one event child with PyThreads below and at ThreadsPerChild.
BOOST_AUTO_TEST_SUITE(asgi_inside_httpd)

std::vector<std::pair<std::string, HttpdOptions>> variants(const std::string& extra) {
    std::vector<std::pair<std::string, HttpdOptions>> out;
    out.emplace_back("prefork", prefork_one_child(kAsgi));
    for (const char* py : {"1", "auto"})
        out.emplace_back(std::string("event 1x4 PyThreads ") + py,
                         threaded_one_child(Mpm::event, 4, kAsgi + "PyThreads " + py + "\n"));
    for (auto& [name, o] : out) o.extra_config = extra;
    return out;
}

std::string module_line(const std::string& name, const std::string& file) {
    return "LoadModule " + name + " " + httpd_modules_dir() + "/" + file + "\n";
}

std::string chunk(const std::string& data) {
    std::ostringstream o;
    o << std::hex << data.size() << "\r\n" << data << "\r\n";
    return o.str();
}

BOOST_AUTO_TEST_CASE(error_document_subrequests_rewrite_and_h2) {
    const std::string extra = "ErrorDocument 400 /a/error\nErrorDocument 413 /a/error\nLimitRequestBody 1000\n" +
                              module_line("include_module", "mod_include.so") +
                              "<Location /a/ssi>\n    SetOutputFilter INCLUDES\n    Options +Includes\n</Location>\n" +
                              module_line("rewrite_module", "mod_rewrite.so") +
                              "RewriteEngine On\nRewriteRule ^/old/(.*)$ /a/$1 [PT]\n" +
                              module_line("http2_module", "mod_http2.so") + "Protocols h2c http/1.1\n";
    for (auto& [name, options] : variants(extra)) {
        BOOST_TEST_CONTEXT(name) {
            HttpdServer srv(options);
            srv.start();
            const std::string pid = std::to_string(srv.child_pids().at(0));

            // httpd refuses the body while the app awaits receive(): the
            // error page comes from the app, on the same thread, nested.
            auto bad = raw_exchange(srv.port(),
                                    "POST /a/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                    "Connection: close\r\n\r\n" +
                                        chunk("hello") + "zz\r\nworld\r\n0\r\n\r\n",
                                    20s);
            BOOST_TEST(!bad.timed_out, "the child hangs");
            BOOST_TEST(bad.data.rfind("HTTP/1.1 400 ", 0) == 0u, bad.data);
            BOOST_TEST(contains(bad.data, "asgi error page at /a/error"), bad.data);
            std::string big;
            for (int i = 0; i < 4; ++i) big += chunk(std::string(400, 'a' + i));
            auto over = raw_exchange(srv.port(),
                                     "POST /a/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                     "Connection: close\r\n\r\n" +
                                         big + "0\r\n\r\n",
                                     20s);
            BOOST_TEST(!over.timed_out, "the child hangs");
            BOOST_TEST(over.data.rfind("HTTP/1.1 413 ", 0) == 0u, over.data);
            BOOST_TEST(contains(over.data, "asgi error page at /a/error"), over.data);

            // Subrequests from the output filter of the app's own response.
            HttpConnection c(srv.port());
            for (int i = 0; i < 3; ++i) {
                HttpRequest r;
                r.target = "/a/ssi?n=3";
                r.keep_alive = true;
                r.timeout = 20s;
                auto ssi = c.request(r);
                BOOST_TEST_REQUIRE(ssi.status == 200, ssi.body);
                for (int k = 0; k < 3; ++k)
                    BOOST_TEST(contains(ssi.body, "<p>inner " + std::to_string(k) + " pid " + pid), ssi.body);
            }

            // mod_rewrite into the mount: root_path is still the mount.
            auto moved = parse_json(http_get(srv.port(), "/old/scope").body);
            BOOST_TEST(moved.get<std::string>("root_path") == "/a");
            BOOST_TEST(moved.get<std::string>("path") == "/a/scope");

            // HTTP/2: 12 streams on one connection (one at a time under
            // prefork, which mod_http2 does not support).
            const int streams = options.mpm == Mpm::prefork ? 1 : 12;
            auto h2 = run_command({"/usr/bin/h2load", "-n", "12", "-c", "1", "-m", std::to_string(streams),
                                   "http://127.0.0.1:" + std::to_string(srv.port()) + "/a/sleep?s=0.2"},
                                  60s);
            BOOST_TEST(contains(h2.output, "status codes: 12 2xx"), h2.output);
            auto v2 = run_command({"/usr/bin/curl", "-s", "--http2-prior-knowledge",
                                   "http://127.0.0.1:" + std::to_string(srv.port()) + "/a/scope"},
                                  20s);
            BOOST_TEST(parse_json(v2.output).get<std::string>("http_version") == "2", v2.output);

            BOOST_TEST(std::to_string(srv.child_pids().at(0)) == pid, "the same child serves on");
            BOOST_TEST(http_get(srv.port(), "/a/hello").status == 200);
        }
    }
}

// Found by the request fuzzer. httpd refuses a malformed chunk, or a chunked
// body over LimitRequestBody, by sending an error and the end of the response
// down the output filters; when the response is already under way (an app
// that answers while it reads) the read seemed to succeed, with the refused
// bytes (the bad chunk line, the excess) as body, and what the app sent next
// went out raw after the response's last chunk. The response must end where
// httpd ended it, and nothing follow it on the connection. WSGI (write()
// before reading wsgi.input) reads the same way.
BOOST_AUTO_TEST_CASE(a_body_refused_once_the_response_began_ends_it) {
    for (auto& [name, options] : variants("LimitRequestBody 1000\n")) {
        BOOST_TEST_CONTEXT(name) {
            options.pympm_config += "PyApp /in @APPS@/wsgi_input_app.py\n";
            HttpdServer srv(options);
            srv.start();
            const std::string a600(600, 'a'), b600(600, 'b');
            const std::string malformed = "3\r\nabc\r\n;5\r\nhello\r\n0\r\n\r\n";
            const std::string over_limit = chunk(a600) + chunk(b600) + "0\r\n\r\n";
            struct Case {
                std::string target, chunks, what;
            };
            for (const Case& c : {Case{"/a/stream_echo", malformed, "ASGI, a malformed chunk"},
                                  Case{"/a/stream_echo", over_limit, "ASGI, over LimitRequestBody"},
                                  Case{"/in/write_then_read", malformed, "WSGI, a malformed chunk"},
                                  Case{"/in/write_then_read", over_limit, "WSGI, over LimitRequestBody"}}) {
                BOOST_TEST_CONTEXT(c.what) {
                    // A pipelined request after it: httpd closes the
                    // connection instead of reading the rest as a request.
                    auto r = raw_exchange(srv.port(),
                                          "POST " + c.target +
                                              " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                              "\r\n" +
                                              c.chunks + "GET /a/hello HTTP/1.1\r\nHost: x\r\n\r\n",
                                          20s, true);
                    BOOST_TEST_REQUIRE(!r.timed_out, "the child hangs");
                    std::size_t pos = 0;
                    auto p = parse_http1_response(r.data, pos, false, r.closed);
                    BOOST_TEST_REQUIRE((p.state == WireParse::complete), p.error << ": " << c_escape(r.data, 400));
                    BOOST_TEST(p.response.status == 200);
                    BOOST_TEST(pos == r.data.size(),
                               "after the response: \"" << c_escape(r.data.substr(pos), 200) << "\"");
                    const std::string& body = p.response.body;
                    if (c.target == "/in/write_then_read") {
                        BOOST_TEST(body == "begun\n");
                    } else if (c.chunks == malformed) {
                        BOOST_TEST(body == "abc");
                    } else {
                        // What came within the limit, as it came.
                        BOOST_TEST(body.size() <= 1000u);
                        BOOST_TEST(body.substr(0, 600) == a600);
                        BOOST_TEST(body.substr(std::min<std::size_t>(600, body.size())) ==
                                   std::string(body.size() > 600 ? body.size() - 600 : 0, 'b'));
                    }
                }
            }
            BOOST_TEST(http_get(srv.port(), "/a/hello").status == 200, "the child serves on");
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(asgi_lifecycle)

BOOST_AUTO_TEST_CASE(lifespan_shutdown_runs_in_the_stop_sequence) {
    for (auto& [name, options] : prefork_event_and_asyncio(kAsgi + "PyApp /f @APPS@/fastapi_app.py:app asgi\n")) {
        BOOST_TEST_CONTEXT(name) {
            HttpdServer srv(options);
            const std::string markers = make_markers_dir(srv);
            srv.start();
            BOOST_TEST(srv.count_log("PM00071: lifespan startup of /a=") == 1u);
            auto done = parse_json(http_get(srv.port(), "/f/done").body);
            BOOST_TEST(done.get<bool>("started"), "FastAPI's startup handler ran");
            const long pid = srv.child_pids().at(0);
            srv.graceful_restart();
            BOOST_TEST(eventually([&] { return file_exists(markers + "/shutdown-" + std::to_string(pid)); }, 20s));
            BOOST_TEST(read_text(markers + "/shutdown-" + std::to_string(pid)) == "stopping=True\n",
                       "pympm.stopping was set before lifespan.shutdown");
            BOOST_TEST(file_exists(markers + "/fastapi-shutdown-" + std::to_string(pid)));
            BOOST_TEST(srv.count_log("PM00074: lifespan shutdown of /a=") >= 1u);
        }
    }
}

// Issue 18 item 3: an `async def` passed to pympm.on_stop from a coroutine
// once the child is stopping was run "at once" by waiting for it on the loop,
// from the loop's own thread: the loop stopped for good, the request never
// answered and the child did not finish its stop. It now runs as a task on
// the loop, and the stop sequence waits for it before lifespan.shutdown.
BOOST_AUTO_TEST_CASE(an_async_on_stop_callback_registered_while_stopping_runs_and_the_child_stops) {
    constexpr int kShutdownTimeout = 5;
    for (auto& [name, options] :
         every_mpm_and_loop(kAsgi + "PyShutdownTimeout " + std::to_string(kShutdownTimeout) + "\n")) {
        BOOST_TEST_CONTEXT(name) {
            HttpdServer srv(options);
            const std::string markers = make_markers_dir(srv);
            srv.start();
            const pid_t pid = srv.child_pids().at(0);
            // A request that answered and then waits for the stop (prefork
            // tells a child to stop only between requests).
            BOOST_TEST_REQUIRE(http_get(srv.port(), "/a/on_stop_after_response").body == "answered\n");
            // Threaded MPMs: a request still in flight when the stop begins.
            std::future<HttpResponse> in_flight;
            if (options.mpm != Mpm::prefork) {
                const auto mark = srv.log_mark();
                in_flight = std::async(std::launch::async,
                                       [&srv] { return http_get(srv.port(), "/a/on_stop_in_flight", 30s); });
                BOOST_TEST_REQUIRE(!srv.wait_for_log("on_stop_in_flight waits for the stop", 20s, mark).empty());
            }
            srv.graceful_restart();
            if (in_flight.valid()) {
                auto r = in_flight.get();
                BOOST_TEST(r.status == 200);
                BOOST_TEST(r.body == "registered while stopping\n");
            }
            const std::string suffix = "-" + std::to_string(pid);
            std::vector<std::string> tags = {"after-response"};
            if (options.mpm != Mpm::prefork) tags.push_back("in-flight");
            for (const auto& tag : tags)
                BOOST_TEST(eventually([&] { return file_exists(markers + "/late-on-stop-" + tag + suffix); }, 20s),
                           "the callback registered by the " << tag << " request ran");
            BOOST_TEST(eventually([&] { return !process_running(pid); }, std::chrono::seconds(kShutdownTimeout + 1)),
                       "the old child finished its stop");
            BOOST_TEST(srv.count_log("PM00070") == 0u, "no watchdog had to end the stop");
            BOOST_TEST(srv.count_log("PM00074: lifespan shutdown of /a=") == 1u, "lifespan.shutdown completed");
            BOOST_TEST(http_get(srv.port(), "/a/hello").status == 200, "the new child serves");
        }
    }
}

// The app's work after its response (a background task) outlives the
// request: a stopping child waits for it, up to PyShutdownTimeout, before
// lifespan.shutdown; what is still running then is logged with its stack,
// and the child exits without finalising Python under it.
BOOST_AUTO_TEST_CASE(a_stopping_child_waits_for_work_after_responses_up_to_py_shutdown_timeout) {
    constexpr int kShutdownTimeout = 3;
    for (auto& [name, options] :
         prefork_event_and_asyncio(kAsgi + "PyShutdownTimeout " + std::to_string(kShutdownTimeout) + "\n")) {
        BOOST_TEST_CONTEXT(name) {
            HttpdServer srv(options);
            // Waiting for the endless task used up PyShutdownTimeout.
            srv.allow_log_error("PM00075: lifespan shutdown of /a=.* timeout: not finished within PyShutdownTimeout");
            const std::string markers = make_markers_dir(srv);
            srv.start();
            const pid_t pid = srv.child_pids().at(0);
            const std::string suffix = "-" + std::to_string(pid);
            BOOST_TEST(http_get(srv.port(), "/a/sleep_after_body?s=2&tag=finishes").status == 200);
            BOOST_TEST(http_get(srv.port(), "/a/sleep_after_body?s=600&tag=endless").status == 200);
            srv.graceful_restart();
            BOOST_TEST(eventually([&] { return !process_running(pid); }, 30s), "the old child stopped");
            BOOST_TEST(file_exists(markers + "/after-body-finishes" + suffix), "the stop waited for the work");
            BOOST_TEST(!file_exists(markers + "/after-body-endless" + suffix));
            BOOST_TEST(srv.count_log("PM00121: the ASGI app's task for GET /a/sleep_after_body \\(after its "
                                     "response\\) still running after PyShutdownTimeout " +
                                     std::to_string(kShutdownTimeout) + "s") == 1u);
            BOOST_TEST(srv.count_log("PM00121: .*in app") >= 1u, "its stack");
            // The loop stopped without the task. If its thread is still
            // running when the stop sequence looks, Python is not finalised
            // under it (finalising then crashed the child); if the thread has
            // already returned, Python is finalised as usual. Either way,
            // exactly one of the two is logged and nothing crashed (the log
            // scan fails the test on AH00052).
            const std::string in_child = "\\[pid " + std::to_string(pid) + ":tid .*";
            const auto not_finalised =
                srv.count_log(in_child + "PM00031: not finalising Python: thread\\(s\\) pympm-asgi-loop ");
            const auto finalised = srv.count_log(in_child + "PM00032: Python finalised");
            BOOST_TEST(not_finalised + finalised == 1u, "PM00031: " << not_finalised << ", PM00032: " << finalised);
            BOOST_TEST(srv.count_log("PM00070") == 0u, "no watchdog had to end the stop");
            BOOST_TEST(http_get(srv.port(), "/a/hello").status == 200, "the new child serves");
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(asgi_concurrency)

double burst_seconds(const HttpdServer& srv, int n) {
    const auto t0 = Clock::now();
    std::vector<std::future<HttpResponse>> replies;
    for (int i = 0; i < n; ++i)
        replies.push_back(std::async(std::launch::async, [&] { return http_get(srv.port(), "/a/sleep?s=0.5", 60s); }));
    for (auto& f : replies) BOOST_TEST(f.get().status == 200);
    return HttpResponse::seconds(t0, Clock::now());
}

BOOST_AUTO_TEST_CASE(the_loop_interleaves_and_py_threads_1_serialises) {
    // On uvloop (the default when it is installed, as here) and on asyncio's.
    for (const char* loop : {"auto", "asyncio"}) {
        BOOST_TEST_CONTEXT("PyAsyncioLoop " << loop) {
            // 20 requests that each await asyncio.sleep(0.5): together in
            // ~0.5 s, not 10 s one after the other.
            HttpdOptions o = threaded_one_child(Mpm::event, 20, kAsgi + "PyAsyncioLoop " + loop + "\n");
            HttpdServer srv(o);
            srv.start();
            auto info = parse_json(http_get(srv.port(), "/a/info").body);
            const std::string expected = std::string(loop) == "auto" ? "uvloop" : "asyncio";
            BOOST_TEST(info.get<std::string>("asyncio_loop").rfind(expected, 0) == 0u,
                       info.get<std::string>("asyncio_loop"));
            BOOST_TEST(info.get<std::string>("running_loop").rfind(expected, 0) == 0u,
                       info.get<std::string>("running_loop"));
            const double t = burst_seconds(srv, 20);
            BOOST_TEST_MESSAGE("20 x sleep(0.5), ThreadsPerChild 20, " << loop << ": " << t << " s");
            BOOST_TEST(t < 4.0, "took " << t << " s");
        }
    }
    {
        HttpdServer srv(threaded_one_child(Mpm::event, 20, kAsgi + "PyThreads 1\n"));
        srv.start();
        const double t = burst_seconds(srv, 6);
        BOOST_TEST_MESSAGE("6 x sleep(0.5), PyThreads 1: " << t << " s");
        BOOST_TEST(t >= 2.9, "one at a time: took " << t << " s");
    }
}

// Under prefork a child has one request thread: its loop serves one ASGI
// request at a time, and more concurrency comes from more children.
BOOST_AUTO_TEST_CASE(prefork_serves_one_request_per_child_at_a_time) {
    HttpdServer srv(prefork_one_child(kAsgi));
    srv.start();
    const double t = burst_seconds(srv, 3);
    BOOST_TEST_MESSAGE("3 x sleep(0.5), prefork, 1 child: " << t << " s");
    BOOST_TEST(t >= 1.4, "one at a time: took " << t << " s");
}

// A task the app starts on the loop (here from lifespan startup) runs
// between requests: nothing holds the GIL then (PyEnableThreads On).
BOOST_AUTO_TEST_CASE(background_tasks_run_between_requests) {
    for (auto& [name, options] : prefork_event_and_asyncio(kAsgi)) {
        BOOST_TEST_CONTEXT(name) {
            HttpdServer srv(options);
            const std::string markers = make_markers_dir(srv);
            srv.start();
            const std::string ticks = markers + "/ticks-" + std::to_string(srv.child_pids().at(0));
            long first = 0;
            BOOST_TEST_REQUIRE(eventually(
                [&] {
                    first = std::atol(read_text(ticks).c_str());
                    return first > 0;
                },
                20s));
            // No request from here on: the count still advances.
            BOOST_TEST(eventually([&] { return std::atol(read_text(ticks).c_str()) >= first + 3; }, 20s),
                       "ticks stayed at " << read_text(ticks));
        }
    }
}

BOOST_AUTO_TEST_CASE(wsgi_and_asgi_side_by_side_in_one_child) {
    HttpdServer srv(threaded_one_child(Mpm::event, 4, kAsgi + "PyApp /w @APPS@/hello.py\n"));
    srv.start();
    auto a = http_get(srv.port(), "/a/hello");
    auto w = http_get(srv.port(), "/w/");
    BOOST_TEST(a.status == 200);
    BOOST_TEST(w.status == 200);
    BOOST_TEST(srv.child_pids().size() == 1u);
    BOOST_TEST(contains(a.body, std::to_string(srv.child_pids().at(0))));
    BOOST_TEST(!srv.wait_for_log("PM00010: child ready: .*apps=/a=.*asgi_app.py:app \\(asgi\\),/w=", 5s).empty());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(asgi_frameworks)

BOOST_AUTO_TEST_CASE(fastapi_answers_as_its_test_client_does) {
    auto expected = run_command({python_executable(), test_apps_dir() + "/fastapi_testclient.py"});
    BOOST_TEST_REQUIRE(expected.exit_code == 0, expected.output);
    auto want = parse_json(expected.output);
    for (auto& [name, options] : prefork_event_and_asyncio("PyApp / @APPS@/fastapi_app.py:app asgi\n")) {
        BOOST_TEST_CONTEXT(name) {
            HttpdServer srv(options);
            srv.start();
            const std::vector<HttpRequest> requests = [] {
                std::vector<HttpRequest> v(7);
                v[0].target = "/items/5?q=abc&limit=3";
                v[1].target = "/items/notanumber";
                v[2].method = "POST";
                v[2].target = "/orders";
                v[2].headers = {{"Content-Type", "application/json"}};
                v[2].body = R"({"name": "tea", "quantity": 4, "tags": ["b", "a"]})";
                v[3] = v[2];
                v[3].body = R"({"name": "tea"})";
                v[4].target = "/stream?n=4";
                v[5].target = "/plain";
                v[6].target = "/nowhere";
                return v;
            }();
            std::size_t i = 0;
            for (auto& [k, w] : want) {
                std::vector<std::string> fields;
                for (auto& [k2, v] : w) fields.push_back(v.get_value<std::string>());
                auto r = http_request(srv.port(), requests.at(i));
                BOOST_TEST_CONTEXT(requests.at(i).method << " " << requests.at(i).target) {
                    BOOST_TEST(std::to_string(r.status) == fields.at(0));
                    BOOST_TEST(r.headers.get("Content-Type") == fields.at(1));
                    BOOST_TEST(r.body == fields.at(2));
                }
                ++i;
            }
            BOOST_TEST(i == requests.size());
            // BackgroundTasks run after the response.
            BOOST_TEST(http_request(srv.port(), post("/later/apple", "")).status == 200);
            BOOST_TEST(eventually([&] { return contains(http_get(srv.port(), "/done").body, "apple"); }, 10s));
        }
    }
}

BOOST_AUTO_TEST_CASE(fastapi_and_starlette_under_a_mount) {
    HttpdServer srv(threaded_one_child(Mpm::event, 4,
                                       "PyApp /f @APPS@/fastapi_app.py:app asgi\n"
                                       "PyApp /s @APPS@/starlette_app.py:app asgi\n"));
    srv.start();
    auto item = parse_json(http_get(srv.port(), "/f/items/9?q=z").body);
    BOOST_TEST(item.get<int>("item_id") == 9);
    auto links = parse_json(http_get(srv.port(), "/f/links").body);
    BOOST_TEST(links.get<std::string>("item") == "http://127.0.0.1:" + std::to_string(srv.port()) + "/f/items/7",
               "URLs the app builds carry the mount");
    BOOST_TEST(http_get(srv.port(), "/s/greet/ann").body == "hello from the lifespan, ann");
    HttpRequest echo = post("/s/echo?k=v", R"({"a": [1, 2]})");
    echo.headers = {{"Content-Type", "application/json"}};
    BOOST_TEST(http_request(srv.port(), echo).body == R"({"echo":{"a":[1,2]},"query":{"k":"v"}})");
    BOOST_TEST(http_get(srv.port(), "/s/stream").body == "part 0\npart 1\npart 2\n");
    BOOST_TEST(http_request(srv.port(), post("/s/later", "")).status == 200);
    BOOST_TEST(eventually([&] { return contains(http_get(srv.port(), "/s/events").body, "background"); }, 10s));
    BOOST_TEST(contains(http_get(srv.port(), "/s/events").body, "startup"));
    BOOST_TEST(srv.count_log("PM00076") == 2u, "both use Debian's Starlette, before 0.35");
}

BOOST_AUTO_TEST_CASE(async_django_view) {
    HttpdServer srv(
        threaded_one_child(Mpm::event, 4, "PyPath @APPS@/django_site\nPyApp /dj pympm_demo.asgi:application asgi\n"));
    srv.start();
    auto r = http_get(srv.port(), "/dj/async/42/");
    BOOST_TEST_REQUIRE(r.status == 200, r.body);
    auto j = parse_json(r.body);
    BOOST_TEST(j.get<int>("n") == 42);
    BOOST_TEST(j.get<std::string>("path") == "/dj/async/42/");
    BOOST_TEST(j.get<std::string>("path_info") == "/async/42/");
    BOOST_TEST(j.get<std::string>("url") == "/dj/async/42/");
    BOOST_TEST(j.get<std::string>("thread") == "pympm-asgi-loop", "the async view ran on the event loop");
    BOOST_TEST(http_get(srv.port(), "/dj/hello/ann/").body == "Hello, ann!\n", "sync views run too");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(asgi_config)

BOOST_AUTO_TEST_CASE(what_cannot_work_is_refused) {
    {
        HttpdServer srv(prefork_one_child(kAsgi + "PyEnableThreads Off\n"));
        auto t = srv.config_test();
        BOOST_TEST(t.exit_code != 0);
        BOOST_TEST(contains(t.output, "ASGI apps need PyEnableThreads On"), t.output);
    }
    {
        HttpdServer srv(prefork_one_child(kAsgi + "PyAsyncioLoop trio\n"));
        auto t = srv.config_test();
        BOOST_TEST(t.exit_code != 0);
        BOOST_TEST(contains(t.output, "'trio' is not an event loop; write auto"), t.output);
    }
    {
        HttpdServer srv(prefork_one_child("PyApp /a @APPS@/asgi_app.py:app gsgi\n"));
        auto t = srv.config_test();
        BOOST_TEST(t.exit_code != 0);
        BOOST_TEST(contains(t.output, "'gsgi' is not an interface; write wsgi (the default) or asgi"), t.output);
    }
    {
        // A WSGI app mounted as ASGI: refused when the child imports it.
        HttpdServer srv(prefork_one_child("PyApp /h @APPS@/hello.py asgi\n"));
        srv.allow_log_error("PM00012: could not use app /h=.* as ASGI");
        srv.allow_log_error("PM00002");
        srv.start();
        BOOST_TEST(!srv.wait_for_log("PM00012: could not use app .* takes 2 arguments, like a WSGI app", 10s).empty());
        BOOST_TEST(http_get(srv.port(), "/h/").status == 500);
    }
}

BOOST_AUTO_TEST_SUITE_END()

// receive() as apps and frameworks call it: several at once (Starlette's
// StreamingResponse listens for the disconnect while its stream asks
// request.is_disconnected()), and cancelled while it waits (asyncio.wait_for,
// anyio's cancel scopes, a task's cancel()). Each as under uvicorn.
BOOST_AUTO_TEST_SUITE(asgi_receive)

const std::string kReceive = "PyApp /r @APPS@/asgi_receive_app.py:app asgi\n";

// A second receive() once the body is in used to answer the first one
// waiting for the end with http.disconnect, the client still there:
// Starlette's listener then cancelled the stream after its first part.
BOOST_AUTO_TEST_CASE(several_receive_calls_wait_for_the_end_side_by_side) {
    for (auto& [name, options] : prefork_event_and_asyncio(kReceive)) {
        BOOST_TEST_CONTEXT(name) {
            HttpdServer srv(options);
            srv.start();
            auto r = http_get(srv.port(), "/r/second_receiver", 20s);
            BOOST_TEST(r.status == 200);
            BOOST_TEST(r.body == "ok");
            auto s = http_get(srv.port(), "/r/starlette_stream", 20s);
            BOOST_TEST(s.status == 200);
            BOOST_TEST(s.body == "event 0\nevent 1\nevent 2\n");
        }
    }
}

// The client going away answers every receive() that waits for the end.
// Event only: the test asks the child while the request waits.
BOOST_AUTO_TEST_CASE(the_client_going_away_reaches_every_waiting_receive) {
    for (const char* loop : {"uvloop", "asyncio"}) {
        BOOST_TEST_CONTEXT(loop) {
            HttpdServer srv(threaded_one_child(Mpm::event, 4, kReceive + "PyAsyncioLoop " + loop + "\n"));
            srv.start();
            {
                HttpConnection c(srv.port());
                c.send_all("POST /r/end_waiters HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
                           Clock::now() + 10s);
                std::string state;
                BOOST_TEST_REQUIRE(eventually(
                                       [&] {
                                           state = http_get(srv.port(), "/r/end_waiters_state", 20s).body;
                                           return contains(state, "\"waiting\": 3");
                                       },
                                       20s),
                                   state);
            }
            std::string seen;
            BOOST_TEST(eventually(
                           [&] {
                               seen = http_get(srv.port(), "/r/end_waiters_state", 20s).body;
                               return contains(seen, "\"seen\": [\"http.disconnect\", \"http.disconnect\", "
                                                     "\"http.disconnect\"]");
                           },
                           20s),
                       seen);
        }
    }
}

// A receive() cancelled while the request thread read its chunk, or after
// its answer came but before its task took it, used to lose the chunk: the
// app saw no body, or waited for it until PyRequestTimeout.
BOOST_AUTO_TEST_CASE(a_cancelled_receive_loses_nothing) {
    for (auto& [name, options] : prefork_event_and_asyncio(kReceive)) {
        BOOST_TEST_CONTEXT(name) {
            HttpdServer srv(options);
            srv.start();
            auto r = http_request(srv.port(), post("/r/cancelled_receive", "hello", 15s));
            BOOST_TEST(r.status == 200);
            BOOST_TEST(r.body == "5");
            auto paused = http_request(srv.port(), post("/r/cancelled_receive?pause=0.2", "hello", 15s));
            BOOST_TEST(paused.status == 200);
            BOOST_TEST(paused.body == "5");
            auto late = http_request(srv.port(), post("/r/cancelled_after_answer", "hello", 15s));
            BOOST_TEST(late.status == 200);
            BOOST_TEST(late.body.rfind("5 ", 0) == 0u, late.body);
            // asyncio.wait_for(receive(), 0.05) timing out while the client
            // is slow to send the rest.
            HttpConnection c(srv.port());
            c.send_all("POST /r/wait_for_timeout HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello",
                       Clock::now() + 10s);
            std::this_thread::sleep_for(300ms); // the client is slow: receive() times out meanwhile
            c.send_all("world", Clock::now() + 10s);
            auto slow = c.read_response(false, Clock::now() + 15s);
            BOOST_TEST(slow.status == 200);
            BOOST_TEST(slow.body == "helloworld");
        }
    }
}

// Answers given back by receive() calls cancelled before their tasks took
// them: two came back in reverse order, and a last chunk given back while
// another receive() waited for the end stayed unclaimed until the client
// went (the app's wait_for gave up: 500).
BOOST_AUTO_TEST_CASE(answers_given_back_keep_their_order_and_reach_a_waiting_receive) {
    std::string body(131072, '\0');
    for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(i % 251);
    for (auto& [name, options] : prefork_event_and_asyncio(kReceive)) {
        BOOST_TEST_CONTEXT(name) {
            HttpdServer srv(options);
            srv.start();
            auto two = http_request(srv.port(), post("/r/two_given_back?n=131072", body, 15s));
            BOOST_TEST(two.status == 200);
            BOOST_TEST(two.body == "in order");
            auto waiting = http_request(srv.port(), post("/r/given_back_to_end_waiter", "hello", 15s));
            BOOST_TEST(waiting.status == 200);
            BOOST_TEST(waiting.body == "http.request 5");
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()

// Issue 20: the request thread hands the request to the event loop and
// waits without the GIL; the loop takes queued requests in bursts from an
// eventfd.
BOOST_AUTO_TEST_SUITE(asgi_fast_path)

// Python thread states are what a thread that ran Python leaves behind: a
// request thread that serves only ASGI never takes the GIL, so it has none.
BOOST_AUTO_TEST_CASE(request_threads_serving_only_asgi_create_no_python_thread_state) {
    HttpdServer srv(threaded_one_child(Mpm::event, 16, kAsgi));
    srv.start();
    const int before = parse_json(http_get(srv.port(), "/a/info").body).get<int>("thread_states");
    std::vector<std::future<int>> replies;
    for (int i = 0; i < 64; ++i)
        replies.push_back(std::async(std::launch::async, [&] { return http_get(srv.port(), "/a/hello", 60s).status; }));
    for (auto& f : replies) BOOST_TEST(f.get() == 200);
    const int after = parse_json(http_get(srv.port(), "/a/info").body).get<int>("thread_states");
    BOOST_TEST(after == before, "thread states before " << before << ", after 64 requests on 16 threads " << after);
}

// Requests that arrive while the loop is busy queue in its inbox and are
// taken in one wake-up of the loop, not one each.
BOOST_AUTO_TEST_CASE(a_burst_queued_behind_a_busy_loop_is_taken_in_one_wake_up) {
    HttpdServer srv(threaded_one_child(Mpm::event, 16, kAsgi + "PyApp /o @APPS@/ops_app.py\n"));
    srv.start();
    auto info = [&] { return parse_json(http_get(srv.port(), "/o/info", 20s).body); };
    BOOST_TEST_REQUIRE(http_get(srv.port(), "/a/hello").status == 200);
    const auto base = info();
    const auto items0 = base.get<std::uint64_t>("asgi_inbox_items");
    const auto wakes0 = base.get<std::uint64_t>("asgi_loop_wakes");
    const std::string flag = srv.root() + "/loop-released";
    auto holder =
        std::async(std::launch::async, [&] { return http_get(srv.port(), "/a/hold_loop?flag=" + flag, 60s).status; });
    // The holder is on the loop (its start was taken) before the burst.
    BOOST_TEST_REQUIRE(eventually([&] { return info().get<std::uint64_t>("asgi_inbox_items") >= items0 + 1; }, 20s));
    std::vector<std::future<int>> burst;
    for (int i = 0; i < 12; ++i)
        burst.push_back(std::async(std::launch::async, [&] { return http_get(srv.port(), "/a/hello", 60s).status; }));
    BOOST_TEST_REQUIRE(eventually([&] { return info().get<std::uint64_t>("asgi_inbox_items") >= items0 + 13; }, 20s));
    { std::ofstream(flag) << "go"; }
    BOOST_TEST(holder.get() == 200);
    for (auto& f : burst) BOOST_TEST(f.get() == 200);
    const auto wakes = info().get<std::uint64_t>("asgi_loop_wakes") - wakes0;
    // One for the holder, one for the burst (a hello's answers need none).
    BOOST_TEST(wakes <= 3u, wakes << " wake-ups of the loop for 13 requests");
}

// The last body part goes to the request thread when it is sent, not when
// the app next yields: CPU-bound work after it in the same step (here the
// loop blocked until the client has its answer) does not hold the response.
BOOST_AUTO_TEST_CASE(work_in_the_same_step_after_the_last_part_does_not_delay_the_response) {
    for (auto& [name, options] : prefork_event_and_asyncio(kAsgi)) {
        BOOST_TEST_CONTEXT(name) {
            HttpdServer srv(options);
            srv.start();
            const std::string flag = srv.root() + "/response-seen";
            auto r = http_get(srv.port(), "/a/last_part_then_hold?flag=" + flag, 20s);
            BOOST_TEST(r.status == 200);
            BOOST_TEST(r.body == "sent before the hold\n");
            { std::ofstream(flag) << "seen"; }
            BOOST_TEST(http_get(srv.port(), "/a/hello", 20s).status == 200);
        }
    }
}

// An ErrorDocument into an ASGI mount, run by httpd on the thread of a WSGI
// request whose body read failed: that thread holds the GIL the WSGI
// request's read gave back, which the loop needs to run the error page.
BOOST_AUTO_TEST_CASE(an_error_document_into_an_asgi_mount_from_a_wsgi_body_read_does_not_deadlock) {
    const std::string config = kAsgi + "PyApp /w @APPS@/wsgi_input_app.py\n";
    std::vector<std::pair<std::string, HttpdOptions>> variants;
    variants.emplace_back("prefork", prefork_one_child(config));
    variants.emplace_back("event 1x4", threaded_one_child(Mpm::event, 4, config));
    for (auto& [name, options] : variants) {
        BOOST_TEST_CONTEXT(name) {
            options.extra_config = "ErrorDocument 400 /a/error\n";
            HttpdServer srv(options);
            srv.start();
            auto bad = raw_exchange(srv.port(),
                                    "POST /w/read HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                    "Connection: close\r\n\r\n5\r\nhello\r\nzz\r\nworld\r\n0\r\n\r\n",
                                    20s);
            BOOST_TEST(!bad.timed_out, "the child hangs");
            BOOST_TEST(bad.data.rfind("HTTP/1.1 400 ", 0) == 0u, bad.data);
            BOOST_TEST(contains(bad.data, "asgi error page at /a/error"), bad.data);
            BOOST_TEST(http_get(srv.port(), "/a/hello").status == 200);
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()

// Issue 20, second part: a request's coroutine runs its first step at once,
// on the loop's thread, and becomes a scheduled task only if it suspends
// (PyAsgiEagerStart On, the default); what an app can see of its task must
// not change.
BOOST_AUTO_TEST_SUITE(asgi_eager_start)

namespace {

std::vector<std::pair<std::string, HttpdOptions>> eager_on_and_off(const std::string& config) {
    std::vector<std::pair<std::string, HttpdOptions>> out;
    for (const char* eager : {"On", "Off"}) {
        for (auto& [name, options] : prefork_event_and_asyncio(config + "PyAsgiEagerStart " + eager + "\n"))
            out.emplace_back(name + ", PyAsgiEagerStart " + eager, options);
    }
    return out;
}

std::string traceback_of(const HttpdServer& srv, std::size_t mark) {
    // Without the temporary folder of the test's apps.
    std::string out;
    for (const auto& line : srv.log_lines_matching("PM00021: ", mark))
        out +=
            std::regex_replace(line.substr(line.find("PM00021: ")), std::regex("/tmp/pympm-e2e-[A-Za-z0-9]+"), "TMP") +
            "\n";
    return out;
}

} // namespace

BOOST_AUTO_TEST_CASE(py_asgi_eager_start_says_how_requests_start) {
    for (const char* eager : {"On", "Off"}) {
        BOOST_TEST_CONTEXT(eager) {
            HttpdServer srv(threaded_one_child(Mpm::event, 4, kAsgi + "PyAsgiEagerStart " + eager + "\n"));
            srv.start();
            const auto info = parse_json(http_get(srv.port(), "/a/info").body);
            BOOST_TEST(info.get<bool>("asgi_eager_start") == (eager == std::string("On")));
        }
    }
    HttpdServer srv(prefork_one_child(kAsgi + "PyAsgiEagerStart sometimes\n"));
    auto t = srv.config_test();
    BOOST_TEST(t.exit_code != 0);
    BOOST_TEST(contains(t.output, "PyAsgiEagerStart"), t.output);
}

// asyncio.current_task() is one asyncio.Task from the app's first line to
// its end; the request runs in a context of its own (a ContextVar set by one
// request is not seen by the next); anyio's cancel scopes, task groups and
// worker threads (FastAPI's and Starlette's machinery) work across the
// first suspension.
BOOST_AUTO_TEST_CASE(the_app_sees_one_task_in_a_context_of_its_own_from_its_first_line) {
    for (auto& [name, options] : eager_on_and_off(kAsgi)) {
        BOOST_TEST_CONTEXT(name) {
            HttpdServer srv(options);
            srv.start();
            for (const char* tag : {"first", "second"}) {
                auto r = http_get(srv.port(), std::string("/a/task_semantics?tag=") + tag, 20s);
                BOOST_TEST_REQUIRE(r.status == 200, r.body);
                const auto shown = parse_json(r.body);
                BOOST_TEST(shown.get<bool>("same_task"));
                BOOST_TEST(shown.get<bool>("is_asyncio_task"));
                BOOST_TEST(shown.get<bool>("listed"));
                BOOST_TEST(shown.get<std::string>("tag_before") == "null", "a ContextVar leaked between requests");
                BOOST_TEST(shown.get<std::string>("tag_after") == tag);
                BOOST_TEST(shown.get<std::string>("library") == "asyncio");
                BOOST_TEST(shown.get<int>("in_thread") == 42);
            }
            BOOST_TEST(http_get(srv.port(), "/a/cancel_self").body == "cancelled at the first await\n");
        }
    }
}

// A request's first step runs before the loop's other callbacks: another
// request's task (polling all tasks between its steps) finds it started.
// Without eager start it may find it not yet started, and cancel it then:
// the request ends as one whose app raised (500, the CancelledError logged),
// not as if the loop had stopped (it was answered 503 with PM00200).
BOOST_AUTO_TEST_CASE(a_request_task_cancelled_before_its_first_step_still_ends) {
    const std::string config = kAsgi + "PyApp /o @APPS@/ops_app.py\n";
    for (const char* eager : {"On", "Off"}) {
        BOOST_TEST_CONTEXT("PyAsgiEagerStart " << eager) {
            HttpdServer srv(threaded_one_child(Mpm::event, 8, config + "PyAsgiEagerStart " + eager + "\n"));
            const bool on = eager == std::string("On");
            if (!on) {
                srv.allow_log_error("PM00020: app /a=.* raised an exception for GET /a/victim");
                srv.allow_log_error("CancelledError");
                srv.allow_traceback_lines();
            }
            srv.start();
            auto items = [&] {
                return parse_json(http_get(srv.port(), "/o/info", 20s).body).get<std::uint64_t>("asgi_inbox_items");
            };
            const auto items0 = items();
            auto hunter = std::async(std::launch::async,
                                     [&] { return http_get(srv.port(), "/a/cancel_unstarted?s=20", 60s).body; });
            BOOST_TEST_REQUIRE(eventually([&] { return items() >= items0 + 1; }, 20s));
            auto victim = http_get(srv.port(), "/a/victim", 30s);
            const std::string found = hunter.get();
            if (on) {
                BOOST_TEST(found == "found it started\n");
                BOOST_TEST(victim.status == 200);
                BOOST_TEST(victim.body == "victim answered\n");
            } else {
                BOOST_TEST(found == "cancelled before its first step\n");
                BOOST_TEST(victim.status == 500, "the request must end: " << victim.status << " " << victim.body);
                BOOST_TEST(srv.count_log("PM00020: app /a=.* raised an exception for GET /a/victim") == 1u,
                           srv.log_since(0));
            }
            BOOST_TEST(http_get(srv.port(), "/a/hello").status == 200);
        }
    }
}

// PyRequestTimeout during the first step (the app holds the loop before it
// first awaits): the task is the request's already, its stack is logged
// and the cancel lands at the first await; 504, the child serves on.
BOOST_AUTO_TEST_CASE(a_timeout_during_the_first_step_cancels_the_request_at_its_first_await) {
    for (auto& [name, options] : eager_on_and_off(kAsgi + "PyRequestTimeout 2\n")) {
        BOOST_TEST_CONTEXT(name) {
            HttpdServer srv(options);
            srv.allow_log_error("PM00060");
            srv.start();
            const std::size_t mark = srv.log_mark();
            // Past the timeout (2 s), within twice it (the child is then
            // taken for stuck).
            auto r = http_get(srv.port(), "/a/first_step_blocks?s=3", 30s);
            BOOST_TEST(r.status == 504);
            BOOST_TEST(srv.count_log("PM00060: request ran the app .*its task is cancelled \\(GET /a/first_step_blocks",
                                     mark) == 1u,
                       srv.log_since(mark));
            BOOST_TEST(srv.count_log("PM00060:   .*time.sleep", mark) >= 1u, srv.log_since(mark));
            BOOST_TEST(srv.count_log("PM00061: .*504 to the client", mark) == 1u);
            BOOST_TEST(srv.count_log("PM00062", mark) == 0u, "cancelled, not stuck: " << srv.log_since(mark));
            BOOST_TEST(http_get(srv.port(), "/a/hello").status == 200);
        }
    }
}

// Under eager start on and off, the app at `url` of `config` answers twice
// with a JSON object whose "first" and "later" (its first request, and one
// later) `check` looks at.
void first_and_later_answers(const std::string& config, const std::string& url,
                             const std::function<void(const boost::property_tree::ptree&, const std::string&)>& check) {
    for (auto& [name, options] : eager_on_and_off(config)) {
        BOOST_TEST_CONTEXT(name) {
            HttpdServer srv(options);
            srv.start();
            for (int i = 0; i < 2; ++i) {
                auto r = http_get(srv.port(), url, 20s);
                BOOST_TEST_REQUIRE(r.status == 200, r.body);
                check(parse_json(r.body), r.body);
            }
        }
    }
}

// A task factory the app's lifespan startup sets makes every request's
// task, eager start or not (eager start built an asyncio.Task regardless).
BOOST_AUTO_TEST_CASE(a_task_factory_set_in_lifespan_startup_makes_the_requests_tasks) {
    first_and_later_answers("PyApp /f @APPS@/asgi_loop_hooks_app.py:factory_app asgi\n", "/f/",
                            [](const boost::property_tree::ptree& shown, const std::string& body) {
                                BOOST_TEST(shown.get<std::string>("first") == "MyTask", body);
                                BOOST_TEST(shown.get<std::string>("later") == "MyTask", body);
                            });
}

// A call_soon the app's lifespan startup sets on the loop stays the loop's
// (eager start on 3.11 replaced it while it made a task, then deleted it).
BOOST_AUTO_TEST_CASE(a_call_soon_set_on_the_loop_in_lifespan_startup_stays) {
    first_and_later_answers("PyApp /c @APPS@/asgi_loop_hooks_app.py:call_soon_app asgi\n", "/c/",
                            [](const boost::property_tree::ptree& shown, const std::string& body) {
                                BOOST_TEST(shown.get<bool>("first"), body);
                                BOOST_TEST(shown.get<bool>("later"), body);
                            });
}

// An exception's traceback (PM00020) is the same whether the app raised in
// its first step or later, eager start or not: the app's frames under
// pympm's one.
BOOST_AUTO_TEST_CASE(a_traceback_is_the_same_with_and_without_eager_start) {
    std::map<std::string, std::string> tracebacks;
    for (const char* eager : {"On", "Off"}) {
        HttpdServer srv(threaded_one_child(Mpm::event, 4, kAsgi + "PyAsgiEagerStart " + eager + "\n"));
        srv.allow_log_error("PM00020: app /a=.* raised an exception for [A-Z]+ /a/raise");
        srv.allow_log_error("RuntimeError: raised");
        srv.allow_traceback_lines();
        srv.start();
        const std::size_t mark = srv.log_mark();
        BOOST_TEST(http_get(srv.port(), "/a/raise").status == 500);
        BOOST_TEST_REQUIRE(!srv.wait_for_log("PM00021:   RuntimeError: raised on purpose", 20s, mark).empty());
        tracebacks[eager] = traceback_of(srv, mark);
    }
    BOOST_TEST(tracebacks["On"] == tracebacks["Off"]);
    BOOST_TEST(contains(tracebacks["On"], "in _asgi_serve"), tracebacks["On"]);
    BOOST_TEST(contains(tracebacks["On"], "in app"), tracebacks["On"]);
    BOOST_TEST(contains(tracebacks["On"], "raise RuntimeError(\"raised on purpose\")"), tracebacks["On"]);
}

BOOST_AUTO_TEST_SUITE_END()

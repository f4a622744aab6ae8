// Issue 23, item 2: the PyThreads gate stays first-come-first-served while
// slow clients keep lending and taking back slots. Slow uploaders (4 KiB
// every 70 ms, read 4 KiB at a time) and slow readers of streamed responses
// keep coming back for a slot; a plain GET sent meanwhile is served within
// a few lending turns, long before they finish, and the app never sees more
// than PyThreads requests running Python at once.
// tests/apps/slot_fairness_app.py holds the routes.
#include "http_client.h"
#include "httpd_server.h"
#include "test_mpm_common.h"
#include "test_support.h"

#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <functional>
#include <thread>
#include <vector>

using namespace pympm_test;
using namespace pympm_test::mpm;
using namespace std::chrono_literals;

namespace {

const std::string kApps = "PyApp /f @APPS@/slot_fairness_app.py\n"
                          "PyApp /a @APPS@/slot_fairness_app.py:asgi_app asgi\n";

constexpr int kClients = 6;
constexpr int kPieces = 64; // per client: 64 x 70 ms = 4.5 s
constexpr std::size_t kPiece = 4096;
constexpr auto kInterval = 70ms;
constexpr int kPiecesBeforeGet = 8; // the GET goes once every client is this far

struct FairnessVariant {
    std::string name;
    int py_threads;
    HttpdOptions options;
};

// One child of 10 threads (room for every client and the GET), PyThreads 1
// and 2, under each MPM given.
std::vector<FairnessVariant> variants(std::initializer_list<Mpm> mpms, const std::string& extra = "") {
    std::vector<FairnessVariant> out;
    for (Mpm mpm : mpms) {
        for (int py_threads : {1, 2}) {
            HttpdOptions o = threaded_one_child(mpm, 10, kApps + "PyThreads " + std::to_string(py_threads) + "\n");
            o.extra_config = extra;
            out.push_back(
                {std::string(mpm == Mpm::event ? "event" : "worker") + " 1x10 PyThreads " + std::to_string(py_threads),
                 py_threads, o});
        }
    }
    return out;
}

// One slow client's progress, shared with the test's thread.
struct SlowClient {
    std::string mount;          // "/f" (WSGI) or "/a" (ASGI)
    std::atomic<int> pieces{0}; // sent (uploads) or read (downloads)
    Clock::time_point started{};
    Clock::time_point finished{};
    int status = 0;
    std::string body;
    std::string error;
};

// Sends a body of kPieces pieces, one every kInterval, then reads the answer.
void slow_upload(std::uint16_t port, SlowClient& c) {
    try {
        const auto deadline = Clock::now() + 60s;
        HttpConnection conn(port);
        c.started = Clock::now();
        conn.send_all("POST " + c.mount + "/upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: " +
                          std::to_string(kPieces * kPiece) + "\r\n\r\n",
                      deadline);
        const std::string piece(kPiece, 'u');
        for (int i = 0; i < kPieces; ++i) {
            // The pace of a slow client: what the test is about, not a wait
            // for something to happen.
            std::this_thread::sleep_until(c.started + (i + 1) * kInterval);
            conn.send_all(piece, deadline);
            ++c.pieces;
        }
        auto r = conn.read_response(false, deadline);
        c.finished = Clock::now();
        c.status = r.status;
        c.body = r.body;
    } catch (const std::exception& e) {
        c.error = e.what();
    }
}

// Asks for a streamed response of kPieces pieces and reads it kPiece bytes
// every kInterval. Its receive buffer and segments are small (set before
// connecting, so the window is small from the start), so that the app's
// sends wait on each read, not on every twelfth.
void slow_download(std::uint16_t port, SlowClient& c) {
    int fd = -1;
    try {
        const auto deadline = Clock::now() + 60s;
        c.started = Clock::now();
        fd = ::socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) throw HttpError("socket() failed");
        int small = 4096, segment = 1024;
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        ::setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &segment, sizeof segment);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw HttpError("connect() failed");
        send_on(fd,
                "GET " + c.mount + "/stream?n=" + std::to_string(kPieces) + "&size=" + std::to_string(kPiece) +
                    " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                deadline);
        std::string got;
        for (int i = 0;; ++i) {
            std::this_thread::sleep_until(c.started + (i + 1) * kInterval); // the client's pace
            if (!wait_readable(fd, deadline)) throw HttpError("timed out reading the stream");
            char buf[kPiece];
            const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            if (n <= 0) break; // the server closes after the response
            got.append(buf, static_cast<std::size_t>(n));
            ++c.pieces;
        }
        c.finished = Clock::now();
        auto [head, body] = split_head(got);
        if (head.rfind("HTTP/1.1 ", 0) == 0 && head.size() >= 12) c.status = std::stoi(head.substr(9, 3));
        c.body = std::move(body);
    } catch (const std::exception& e) {
        c.error = e.what();
    }
    if (fd >= 0) ::close(fd);
}

using ClientFn = void (*)(std::uint16_t, SlowClient&);

void check_upload(const SlowClient& c, double get_in_app) {
    auto j = parse_json(c.body);
    BOOST_TEST(j.get<std::size_t>("bytes") == kPieces * kPiece);
    // It came first, so it got in first: the GET did not overtake it.
    BOOST_TEST(j.get<double>("started") < get_in_app);
}

void check_download(const SlowClient& c, double) { BOOST_TEST(c.body.size() == kPieces * kPiece); }

// kClients slow clients on `mount`, then a plain GET once each of them is
// kPiecesBeforeGet pieces in: the GET is served within a few lending turns
// while the slow clients go on (with no lending at all it would wait for
// them to finish), and PyThreads is never exceeded.
void a_get_is_not_kept_out(const FairnessVariant& v, const std::string& mount, ClientFn client,
                           void (*check_client)(const SlowClient&, double)) {
    HttpdServer srv(v.options);
    srv.start();
    BOOST_TEST_REQUIRE(http_get(srv.port(), mount + "/get", 20s).status == 200); // the child is up

    std::vector<SlowClient> clients(kClients);
    std::vector<std::thread> threads;
    for (auto& c : clients) {
        c.mount = mount;
        threads.emplace_back(client, srv.port(), std::ref(c));
    }
    const bool under_way = eventually(
        [&] {
            return std::all_of(clients.begin(), clients.end(), [](const SlowClient& c) {
                return c.pieces.load() >= kPiecesBeforeGet || !c.error.empty();
            });
        },
        30s);
    auto get = http_get(srv.port(), mount + "/get", 60s);
    for (auto& t : threads) t.join();
    BOOST_TEST_REQUIRE(under_way);

    BOOST_TEST_REQUIRE(get.status == 200, get.body);
    const double get_in_app = parse_json(get.body).get<double>("started");
    const double waited = get.total_seconds();
    double shortest = 1e9;
    Clock::time_point first_done = Clock::time_point::max();
    for (auto& c : clients) {
        BOOST_TEST_REQUIRE(c.error.empty(), c.error);
        BOOST_TEST_REQUIRE(c.status == 200, c.body.substr(0, 200));
        check_client(c, get_in_app);
        shortest = std::min(shortest, HttpResponse::seconds(c.started, c.finished));
        first_done = std::min(first_done, c.finished);
    }
    BOOST_TEST_MESSAGE(v.name << ", " << mount << ": the GET waited " << waited << " s; the slow clients took "
                              << shortest << " s and more");
    BOOST_TEST(shortest > 4.0); // they really were slow
    BOOST_TEST((get.complete < first_done), "the GET was answered only after a slow client was done");
    // Typically 0.15-0.65 s against 4.5-6 s (4-5 s when returning requests
    // went first); with no lending at all it would wait for whole uploads
    // (for all six under PyThreads 1). 2 s leaves room for a loaded machine.
    BOOST_TEST(waited < 2.0, "the GET waited " << waited << " s behind clients that took " << shortest << " s");

    auto stats = parse_json(http_get(srv.port(), "/f/max_inside", 20s).body);
    BOOST_TEST(stats.get<int>("slots_lent") >= 1); // the clients did lend their slots
    if (mount == "/f") {
        BOOST_TEST(stats.get<int>("max_inside") <= v.py_threads);
        BOOST_TEST(stats.get<int>("max_inside") >= 1);
    }
}

} // namespace

BOOST_AUTO_TEST_SUITE(slot_fairness, *boost::unit_test::label("slow"))

BOOST_AUTO_TEST_CASE(a_get_behind_slow_uploaders_is_served_while_they_upload) {
    for (auto& v : variants({Mpm::event, Mpm::worker})) BOOST_TEST_CONTEXT(v.name) {
            a_get_is_not_kept_out(v, "/f", slow_upload, check_upload);
        }
}

BOOST_AUTO_TEST_CASE(a_get_behind_slow_readers_of_streams_is_served_while_they_read) {
    // A small send buffer, so that the app's sends wait on the client.
    for (auto& v : variants({Mpm::event, Mpm::worker}, "SendBufferSize 4096\n")) BOOST_TEST_CONTEXT(v.name) {
            a_get_is_not_kept_out(v, "/f", slow_download, check_download);
        }
}

BOOST_AUTO_TEST_CASE(an_asgi_get_behind_slow_asgi_uploaders_is_served_while_they_upload) {
    // Each receive() is a read of the body that lends the slot the same way.
    for (auto& v : variants({Mpm::event})) BOOST_TEST_CONTEXT(v.name) {
            a_get_is_not_kept_out(v, "/a", slow_upload, check_upload);
        }
}

BOOST_AUTO_TEST_SUITE_END()

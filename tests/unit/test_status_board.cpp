// The status board laid out in ordinary memory (as the parent lays it out
// in shared memory), and its three renderings.
#include "status/status_board.h"
#include "status/status_report.h"

#include <boost/test/unit_test.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>

using namespace pympm;

namespace {

struct Board {
    explicit Board(int entries) : bytes(StatusBoard::bytes_for(entries)) {
        memory.reset(static_cast<char*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64)));
        board = StatusBoard::create(memory.get(), bytes, entries);
    }
    struct Free {
        void operator()(char* p) const { std::free(p); }
    };
    std::size_t bytes;
    std::unique_ptr<char, Free> memory;
    StatusBoard* board = nullptr;
};

// A pid that is certainly not a live process.
int dead_pid() {
    pid_t p = ::fork();
    if (p == 0) ::_exit(0);
    int st = 0;
    ::waitpid(p, &st, 0);
    return p;
}

bool contains(const std::string& s, const std::string& needle) { return s.find(needle) != std::string::npos; }

std::string reason_of(const ChildStats* e) {
    return leave_reason_name(static_cast<LeaveReason>(e->predecessor_reason.load()));
}

} // namespace

BOOST_AUTO_TEST_SUITE(status_board)

BOOST_AUTO_TEST_CASE(claim_record_release_keeps_totals) {
    Board b(4);
    BOOST_TEST_REQUIRE(b.board);
    BOOST_TEST(StatusBoard::attach(b.memory.get(), b.bytes) == b.board);
    ChildStats* mine = b.board->claim(::getpid(), 3, 1000);
    BOOST_TEST_REQUIRE(mine);
    mine->counters.requests += 5;
    mine->counters.app_5xx += 2;
    mine->counters.app_time_buckets[app_time_bucket(0.003)] += 5;
    auto s = b.board->snapshot(2000);
    BOOST_TEST(s.children.size() == 1u);
    BOOST_TEST(s.children[0].generation == 3);
    BOOST_TEST(s.totals.requests == 5u);
    b.board->release(mine, LeaveReason::max_requests);
    auto after = b.board->snapshot(3000);
    BOOST_TEST(after.children.empty());
    BOOST_TEST(after.totals.requests == 5u, "a child that left keeps its count in the totals");
    BOOST_TEST(after.totals.app_5xx == 2u);
    // Its successor on the entry learns why it left.
    ChildStats* next = b.board->claim(::getpid(), 4, 4000);
    BOOST_TEST_REQUIRE(next);
    BOOST_TEST(reason_of(next) == "max_requests");
    BOOST_TEST(next->counters.requests.load() == 0u);
    BOOST_TEST(b.board->snapshot(5000).totals.requests == 5u);
}

BOOST_AUTO_TEST_CASE(entries_of_dead_children_are_folded) {
    Board b(2);
    ChildStats* ghost = b.board->claim(dead_pid(), 1, 0);
    BOOST_TEST_REQUIRE(ghost);
    ghost->counters.requests += 7;
    // The next child to claim an entry finds the dead child's first, folds
    // its counters into the totals, and takes it.
    ChildStats* alive = b.board->claim(::getpid(), 1, 0);
    BOOST_TEST(alive == ghost);
    BOOST_TEST(reason_of(alive) == "died");
    BOOST_TEST(alive->counters.requests.load() == 0u);
    alive->counters.requests += 1;
    BOOST_TEST(b.board->claim(::getpid(), 2, 0) != nullptr);
    auto s = b.board->snapshot(0);
    BOOST_TEST(s.totals.requests == 8u);
    BOOST_TEST(s.children.size() == 2u);
    BOOST_TEST(b.board->claim(::getpid(), 2, 0) == nullptr, "full");
}

BOOST_AUTO_TEST_CASE(histogram_quantiles) {
    std::uint64_t h[kHistogramSize] = {};
    BOOST_TEST(histogram_quantile(h, 0.5) == 0.0);
    h[app_time_bucket(0.0004)] = 50; // 0..1 ms
    h[app_time_bucket(0.2)] = 50;    // 100..250 ms
    BOOST_TEST(histogram_quantile(h, 0.25) == 0.0005, boost::test_tools::tolerance(1e-9));
    const double p99 = histogram_quantile(h, 0.99);
    BOOST_TEST(p99 > 0.1);
    BOOST_TEST(p99 <= 0.25);
    BOOST_TEST(app_time_bucket(1000.0) == kHistogramSize - 1);
}

BOOST_AUTO_TEST_CASE(renderings_agree) {
    Board b(2);
    ChildStats* c = b.board->claim(::getpid(), 1, 0);
    std::snprintf(c->mpm, sizeof c->mpm, "event<&>");
    c->counters.requests += 3;
    c->counters.app_4xx += 1;
    c->counters.app_time_ns += 3000000;
    c->counters.app_time_buckets[app_time_bucket(0.001)] += 3;
    b.board->count_leave(LeaveReason::max_memory);
    auto s = b.board->snapshot(1000);

    const std::string prom = render_status_prometheus(s);
    BOOST_TEST(contains(prom, "# TYPE pympm_requests_total counter\npympm_requests_total 3\n"));
    BOOST_TEST(contains(prom, "pympm_app_duration_seconds_bucket{le=\"0.001\"} 3\n"));
    BOOST_TEST(contains(prom, "pympm_app_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
    BOOST_TEST(contains(prom, "pympm_app_duration_seconds_count 3\n"));
    BOOST_TEST(contains(prom, "pympm_child_leaves_total{reason=\"max_memory\"} 1\n"));
    // Every sample line belongs to a family announced by HELP and TYPE.
    std::istringstream lines(prom);
    std::string family;
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind("# TYPE ", 0) == 0) family = line.substr(7, line.find(' ', 7) - 7);
        else if (line[0] != '#') BOOST_TEST(line.rfind(family, 0) == 0u, line << " outside " << family);
    }

    const std::string json = render_status_json(s);
    BOOST_TEST(contains(json, "\"requests\": 3"));
    BOOST_TEST(contains(json, "\"mpm\": \"event<&>\""));
    const std::string html = render_status_html(s);
    BOOST_TEST(contains(html, "event&lt;&amp;&gt;"), "escaped");
    BOOST_TEST(!contains(html, "event<&>"));
    BOOST_TEST(contains(render_status_auto(s), "pympmRequests: 3\n"));
}

BOOST_AUTO_TEST_SUITE_END()

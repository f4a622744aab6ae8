// The status board laid out in shared memory (as the parent lays it out for
// httpd's children), its three renderings, and its protocol across process
// deaths: processes forked here claim, count and leave, stopped at the
// board's pause points (status/test_pause.h) and killed there.
#include "child/child_metrics.h"
#include "child/child_requests.h"
#include "child/request_rates.h"
#include "status/status_board.h"
#include "status/status_report.h"
#include "status/test_pause.h"

#include "unit_support.h"

#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace pympm;
using pympm_test::contains;
using pympm_test::eventually;
using namespace std::chrono_literals;

namespace {

// How long eventually() waits for another thread to get there.
constexpr std::chrono::milliseconds kStatusBoardWait = 20s;

// Memory shared with the processes forked by a test.
template <typename T>
struct Shared {
    explicit Shared(std::size_t size = sizeof(T)) : bytes(size) {
        void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        BOOST_TEST_REQUIRE(p != MAP_FAILED);
        memory = p;
    }
    ~Shared() { ::munmap(memory, bytes); }
    Shared(const Shared&) = delete;
    Shared& operator=(const Shared&) = delete;
    T* get() const { return static_cast<T*>(memory); }
    std::size_t bytes;
    void* memory = nullptr;
};

struct Board {
    explicit Board(int entries) : shm(StatusBoard::bytes_for(entries)) {
        board = StatusBoard::create(shm.memory, shm.bytes, entries);
        BOOST_TEST_REQUIRE(board);
    }
    StatusBoard* operator->() const { return board; }
    Shared<char> shm;
    StatusBoard* board = nullptr;
};

ChildModel model(const char* mpm = "prefork", int threads = 1, int py_threads = 1) {
    ChildModel m;
    m.mpm = mpm;
    m.threads_per_child = threads;
    m.py_threads = py_threads;
    return m;
}

ChildStats* claim_as(StatusBoard* b, int pid, int generation = 1) {
    return b->claim(OwnerId::of(pid), generation, 0, model());
}

ChildStats* claim_here(StatusBoard* b, int generation = 1, const ChildModel& m = model()) {
    return b->claim(OwnerId::self(), generation, 0, m);
}

// A pid that is certainly not a live process.
int dead_pid() {
    pid_t p = ::fork();
    if (p == 0) ::_exit(0);
    int st = 0;
    ::waitpid(p, &st, 0);
    return p;
}

std::string reason_of(const ChildStats* e) {
    return leave_reason_name(static_cast<LeaveReason>(e->predecessor_reason.load()));
}

std::uint64_t deaths(const BoardSnapshot& s) { return s.leaves[static_cast<std::size_t>(LeaveReason::died)]; }

// Forks a process that runs `work` with the pause point `point` set, and
// returns once it stopped itself there (its pid), or -1 if it did not.
pid_t stopped_at(const char* point, const std::function<void()>& work) {
    pid_t p = ::fork();
    if (p == 0) {
        test_pause::configure(point);
        work();
        ::_exit(0);
    }
    int st = 0;
    if (::waitpid(p, &st, WUNTRACED) != p || !WIFSTOPPED(st)) return -1;
    return p;
}

void kill_and_reap(pid_t p) {
    ::kill(p, SIGKILL);
    int st = 0;
    ::waitpid(p, &st, 0);
}

constexpr int kStuck = -1;

// Waits up to `limit` for `p` to exit: its exit status (128 + the signal
// that killed it), or kStuck (it is then killed, with its process group if
// it leads one).
int exit_status_within(pid_t p, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        int st = 0;
        if (::waitpid(p, &st, WNOHANG) == p) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (std::chrono::steady_clock::now() > deadline) {
            ::kill(-p, SIGKILL);
            kill_and_reap(p);
            return kStuck;
        }
        std::this_thread::sleep_for(1ms);
    }
}

// Runs `check` in a process group of its own (a board wedged by a dead
// process would make it, and the processes it forks, spin for ever): its
// result, or kStuck if it did not finish within `limit`.
int bounded(const std::function<int()>& check, std::chrono::seconds limit = 20s) {
    pid_t p = ::fork();
    if (p == 0) {
        ::setpgid(0, 0);
        ::_exit(check());
    }
    ::setpgid(p, p); // also here: the group exists before a timeout kills it
    return exit_status_within(p, limit);
}

// A process on the board that stays until told to leave (`*go`), then
// releases its entry and exits.
pid_t live_child(StatusBoard* b, std::atomic<int>* go, std::uint64_t requests) {
    pid_t p = ::fork();
    if (p == 0) {
        ChildStats* e = claim_here(b, 1, model("event", 4, 2));
        if (!e) ::_exit(3);
        e->counters.requests += requests;
        go[1] = 1; // on the board
        while (go[0].load() == 0) std::this_thread::sleep_for(1ms);
        b->release(e, LeaveReason::httpd);
        ::_exit(0);
    }
    return p;
}

} // namespace

BOOST_AUTO_TEST_SUITE(status_board)

BOOST_AUTO_TEST_CASE(claim_record_release_keeps_totals) {
    Board b(4);
    BOOST_TEST(StatusBoard::attach(b.shm.memory, b.shm.bytes) == b.board);
    ChildStats* mine = b->claim(OwnerId::self(), 3, 1000, model("worker", 8, 3));
    BOOST_TEST_REQUIRE(mine);
    mine->counters.requests += 5;
    mine->counters.app_5xx += 2;
    mine->counters.app_time_buckets[app_time_bucket(0.003)] += 5;
    auto s = b->snapshot(2000);
    BOOST_TEST_REQUIRE(s.children.size() == 1u);
    BOOST_TEST(s.children[0].generation == 3);
    BOOST_TEST(s.children[0].mpm == "worker");
    BOOST_TEST(s.children[0].threads_per_child == 8);
    BOOST_TEST(s.children[0].py_threads == 3);
    BOOST_TEST(s.children[0].requests == 5u);
    BOOST_TEST(s.totals.requests == 5u);
    b->release(mine, LeaveReason::max_requests);
    auto after = b->snapshot(3000);
    BOOST_TEST(after.children.empty());
    BOOST_TEST(after.totals.requests == 5u, "a child that left keeps its count in the totals");
    BOOST_TEST(after.totals.app_5xx == 2u);
    // Its successor on the entry learns why it left, and starts from zero.
    ChildStats* next = claim_here(b.board, 4);
    BOOST_TEST_REQUIRE(next == mine);
    BOOST_TEST(reason_of(next) == "max_requests");
    BOOST_TEST(read_own_entry(*next).requests == 0u);
    next->counters.requests += 1;
    auto later = b->snapshot(5000);
    BOOST_TEST(later.totals.requests == 6u);
    BOOST_TEST_REQUIRE(later.children.size() == 1u);
    BOOST_TEST(later.children[0].requests == 1u);
    BOOST_TEST(later.children[0].app_5xx == 0u);
    BOOST_TEST(later.children[0].buckets[app_time_bucket(0.003)] == 0u);
    BOOST_TEST(later.children_started == 2u);
    BOOST_TEST(deaths(later) == 0u);
}

BOOST_AUTO_TEST_CASE(entries_of_dead_children_are_taken_over) {
    Board b(2);
    ChildStats* ghost = claim_as(b.board, dead_pid());
    BOOST_TEST_REQUIRE(ghost);
    ghost->counters.requests += 7;
    // The next child to claim an entry takes the dead child's; its counts
    // stay in the totals.
    ChildStats* alive = claim_here(b.board);
    BOOST_TEST(alive == ghost);
    BOOST_TEST(reason_of(alive) == "died");
    BOOST_TEST(read_own_entry(*alive).requests == 0u);
    alive->counters.requests += 1;
    BOOST_TEST(claim_here(b.board, 2) != nullptr);
    auto s = b->snapshot(0);
    BOOST_TEST(s.totals.requests == 8u);
    BOOST_TEST(s.children.size() == 2u);
    BOOST_TEST(deaths(s) == 1u);
    BOOST_TEST(claim_here(b.board, 2) == nullptr, "full");
}

BOOST_AUTO_TEST_CASE(an_entry_whose_pid_now_belongs_to_a_later_process_is_taken_over) {
    const OwnerId me = OwnerId::self();
    BOOST_TEST_REQUIRE(me.start_ticks > 1u, "/proc/self/stat gives this process's start time");
    // A process that had this pid before this one.
    OwnerId earlier = me;
    earlier.start_ticks -= 1;
    Board b(1);
    ChildStats* old = b->claim(earlier, 1, 0, model());
    BOOST_TEST_REQUIRE(old);
    BOOST_TEST(b->snapshot(0).children.empty(), "not shown as the process that has its pid now");
    BOOST_TEST(b->claim(me, 2, 0, model()) == old);
    BOOST_TEST(reason_of(old) == "died");
}

BOOST_AUTO_TEST_CASE(the_entry_of_a_dead_child_not_yet_reaped_is_taken_over) {
    Board b(1);
    pid_t p = ::fork();
    if (p == 0) ::_exit(claim_here(b.board) ? 0 : 3);
    // Exited, not reaped: a zombie, as a child is until httpd reaps it.
    siginfo_t info{};
    BOOST_TEST_REQUIRE(::waitid(P_PID, static_cast<id_t>(p), &info, WEXITED | WNOWAIT) == 0);
    BOOST_TEST(info.si_status == 0);
    auto s = b->snapshot(0);
    BOOST_TEST(s.children.empty());
    BOOST_TEST(deaths(s) == 1u);
    BOOST_TEST(claim_here(b.board) != nullptr);
    int st = 0;
    ::waitpid(p, &st, 0);
}

// The regression of issue 23: a claim killed between taking an entry and
// publishing it left the entry taken for ever.
BOOST_AUTO_TEST_CASE(a_claim_killed_at_any_step_leaves_an_entry_the_next_claim_takes) {
    for (const char* point : {"claim:taken", "claim:written"}) {
        BOOST_TEST_CONTEXT(point) {
            Board b(1);
            pid_t p = stopped_at(point, [&] { claim_here(b.board, 7, model("event", 4, 2)); });
            BOOST_TEST_REQUIRE(p > 0);
            // Stopped, not dead: its entry is not shown (not published yet)
            // and not taken from it.
            auto s = b->snapshot(0);
            BOOST_TEST(s.children.empty());
            BOOST_TEST(s.children_started <= 1u);
            BOOST_TEST(claim_here(b.board) == nullptr);
            kill_and_reap(p);
            auto r = bounded([&] {
                ChildStats* e = claim_here(b.board, 8);
                if (!e) return 1;
                if (reason_of(e) != "died") return 2;
                auto after = b->snapshot(0);
                if (after.children.size() != 1u || after.children[0].generation != 8) return 3;
                return after.children[0].mpm == "prefork" ? 0 : 4;
            });
            BOOST_TEST(r == 0, "the check failed at step " << r << " (-1: stuck)");
        }
    }
}

// The regression of issue 23: a child killed while leaving wedged every
// status read, every other child's leaving and every claim.
BOOST_AUTO_TEST_CASE(a_child_killed_while_leaving_stalls_no_one) {
    Board b(3);
    Shared<std::atomic<int>> go(2 * sizeof(std::atomic<int>));
    pid_t other = live_child(b.board, go.get(), 2);
    BOOST_TEST_REQUIRE(eventually([&] { return go.get()[1].load() == 1; }, kStatusBoardWait));
    pid_t p = stopped_at("release", [&] {
        ChildStats* e = claim_here(b.board);
        if (!e) return;
        e->counters.requests += 5;
        b->release(e, LeaveReason::max_requests);
    });
    BOOST_TEST_REQUIRE(p > 0);
    kill_and_reap(p);
    auto r = bounded([&] {
        auto s = b->snapshot(0);
        if (s.totals.requests != 7u) return 1; // the dead child's 5 are kept
        if (s.children.size() != 1u || s.children[0].requests != 2u || s.children[0].mpm != "event") return 2;
        if (deaths(s) != 1u) return 3;
        // A new child joins; the dead child's entry shows why it is free.
        ChildStats* e = claim_here(b.board);
        if (!e) return 4;
        if (claim_here(b.board) == nullptr) return 5; // both free entries are usable
        return 0;
    });
    BOOST_TEST(r == 0, "the check failed at step " << r << " (-1: stuck)");
    // The other child leaves when told to.
    go.get()[0] = 1;
    BOOST_TEST(exit_status_within(other, 20s) == 0);
    r = bounded([&] {
        auto s = b->snapshot(0);
        return s.totals.requests == 7u && s.children.empty() ? 0 : 1;
    });
    BOOST_TEST(r == 0, "the check failed at step " << r << " (-1: stuck)");
}

BOOST_AUTO_TEST_CASE(a_child_killed_while_counting_a_request_keeps_what_it_counted) {
    Board b(2);
    pid_t p = stopped_at("update", [&] {
        ChildMetrics m(claim_here(b.board));
        m.app_begins();
        m.app_ends(std::chrono::milliseconds(3), 500, true);
    });
    BOOST_TEST_REQUIRE(p > 0);
    auto stopped = b->snapshot(0);
    BOOST_TEST_REQUIRE(stopped.children.size() == 1u);
    BOOST_TEST(stopped.children[0].in_app == 1);
    BOOST_TEST(stopped.totals.requests == 1u);
    kill_and_reap(p);
    auto r = bounded([&] {
        auto s = b->snapshot(0);
        if (!s.children.empty() || deaths(s) != 1u) return 1;
        if (s.totals.requests != 1u || s.totals.in_app != 0) return 2;
        return 0;
    });
    BOOST_TEST(r == 0, "the check failed at step " << r << " (-1: stuck)");
}

// Many short-lived processes claim, count and leave while others are killed
// at random moments and the board is read: the totals never go backwards,
// keep every count a process made, and no entry is lost. Run in a bounded
// process of its own: the processes it forks would spin for ever on a
// wedged board.
BOOST_AUTO_TEST_CASE(random_kills_never_lose_counts_or_entries) {
    constexpr int kWorkers = 4;
    constexpr int kRounds = 200;
    Board b(kWorkers);
    struct Tallies {
        std::atomic<std::uint64_t> counted[kRounds];
        std::atomic<int> killed;
    };
    Shared<Tallies> tallies;
    const int r = bounded(
        [&]() -> int {
            std::mt19937 rng(23);
            std::vector<pid_t> running;
            int failed = 0;
            std::uint64_t seen = 0;
            auto reap = [&](pid_t p, int st) {
                if (WIFEXITED(st) && WEXITSTATUS(st) != 0) ++failed;
                running.erase(std::find(running.begin(), running.end(), p));
            };
            for (int round = 0; round < kRounds; ++round) {
                while (static_cast<int>(running.size()) >= kWorkers) {
                    int st = 0;
                    pid_t p = ::waitpid(-1, &st, 0);
                    if (p > 0) reap(p, st);
                }
                const int work = std::uniform_int_distribution<int>(1, 200)(rng);
                pid_t p = ::fork();
                if (p == 0) {
                    ChildStats* e = claim_here(b.board);
                    if (!e) ::_exit(3);
                    for (int i = 0; i < work; ++i) {
                        e->counters.requests.fetch_add(1); // first the board, then the tally
                        tallies.get()->counted[round].fetch_add(1);
                    }
                    b->release(e, LeaveReason::max_requests);
                    ::_exit(0);
                }
                running.push_back(p);
                if (std::uniform_int_distribution<int>(0, 2)(rng) == 0) {
                    std::this_thread::sleep_for(
                        std::chrono::microseconds(std::uniform_int_distribution<int>(0, 300)(rng)));
                    int st = 0;
                    ::kill(p, SIGKILL);
                    ::waitpid(p, &st, 0);
                    if (WIFSIGNALED(st)) tallies.get()->killed.fetch_add(1);
                    reap(p, st);
                }
                const std::uint64_t now = b->snapshot(0).totals.requests;
                if (now < seen) return 1; // backwards
                seen = now;
            }
            for (pid_t p : std::vector<pid_t>(running)) {
                int st = 0;
                ::waitpid(p, &st, 0);
                reap(p, st);
            }
            if (failed) return 2; // a process found no entry to claim
            std::uint64_t counted = 0;
            for (auto& t : tallies.get()->counted) counted += t.load();
            auto s = b->snapshot(0);
            if (s.totals.requests < counted) return 3;
            if (s.totals.requests > counted + static_cast<std::uint64_t>(tallies.get()->killed.load())) return 4;
            if (!s.children.empty()) return 5;
            for (int i = 0; i < kWorkers; ++i)
                if (!claim_here(b.board)) return 6; // an entry is lost
            return 0;
        },
        120s);
    BOOST_TEST(r == 0, "the check failed at step " << r << " (-1: stuck)");
    BOOST_TEST_MESSAGE("processes killed: " << tallies.get()->killed.load());
}

BOOST_AUTO_TEST_CASE(a_pause_point_with_a_token_stops_one_process_once) {
    char dir[] = "/tmp/pympm-pause-XXXXXX";
    BOOST_TEST_REQUIRE(::mkdtemp(dir) != nullptr);
    const std::string token = std::string(dir) + "/token";
    const std::string spec = "claim:taken@" + token;
    ::close(::open(token.c_str(), O_CREAT | O_WRONLY, 0600));
    pid_t p = stopped_at(spec.c_str(), [] {
        test_pause::at("claim:written"); // another point: passes
        test_pause::at("claim:taken");   // stops here, once
        test_pause::at("claim:taken");
    });
    BOOST_TEST_REQUIRE(p > 0);
    BOOST_TEST(::access(token.c_str(), F_OK) != 0, "the token is used up");
    ::kill(p, SIGCONT);
    BOOST_TEST(exit_status_within(p, 20s) == 0);
    ::rmdir(dir);
    // Unset: nothing stops.
    test_pause::configure(nullptr);
    test_pause::at("claim:taken");
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
    ChildStats* c = claim_here(b.board, 1, model("event<&>"));
    BOOST_TEST_REQUIRE(c);
    c->counters.requests += 3;
    c->counters.app_4xx += 1;
    c->counters.app_time_ns += 3000000;
    c->counters.app_time_buckets[app_time_bucket(0.001)] += 3;
    b->count_leave(LeaveReason::max_memory);
    BOOST_TEST_REQUIRE(claim_as(b.board, dead_pid()));
    auto s = b->snapshot(1000);

    const std::string prom = render_status_prometheus(s);
    BOOST_TEST(contains(prom, "# TYPE pympm_requests_total counter\npympm_requests_total 3\n"));
    BOOST_TEST(contains(prom, "pympm_app_duration_seconds_bucket{le=\"0.001\"} 3\n"));
    BOOST_TEST(contains(prom, "pympm_app_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
    BOOST_TEST(contains(prom, "pympm_app_duration_seconds_count 3\n"));
    BOOST_TEST(contains(prom, "pympm_child_leaves_total{reason=\"max_memory\"} 1\n"));
    BOOST_TEST(contains(prom, "pympm_child_deaths_total 1\n"));
    // Every sample line belongs to a family announced by HELP and TYPE.
    std::istringstream lines(prom);
    std::string family;
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind("# TYPE ", 0) == 0)
            family = line.substr(7, line.find(' ', 7) - 7);
        else if (line[0] != '#')
            BOOST_TEST(line.rfind(family, 0) == 0u, line << " outside " << family);
    }

    const std::string json = render_status_json(s);
    BOOST_TEST(contains(json, "\"requests\": 3"));
    BOOST_TEST(contains(json, "\"died\": 1"));
    BOOST_TEST(contains(json, "\"mpm\": \"event<&>\""));
    const std::string html = render_status_html(s);
    BOOST_TEST(contains(html, "event&lt;&amp;&gt;"), "escaped");
    BOOST_TEST(!contains(html, "event<&>"));
    BOOST_TEST(contains(html, "died without leaving (killed, crashed) 1"));
    BOOST_TEST(contains(render_status_auto(s), "pympmRequests: 3\n"));
}

BOOST_AUTO_TEST_SUITE_END()

// ------------------------------------------------ current requests, per app
BOOST_AUTO_TEST_SUITE(status_board_requests)

namespace {

SlotText text(std::string_view path, std::string_view method = "GET") {
    return SlotText{method, path, "192.0.2.7", "www.example.net"};
}

} // namespace

BOOST_AUTO_TEST_CASE(a_request_is_listed_from_its_arrival_to_its_end_and_counted_under_its_app) {
    Board b(2);
    ChildStats* e = claim_here(b.board, 3, model("event", 4, 2));
    BOOST_TEST_REQUIRE(e);
    ChildRequests requests;
    requests.attach(b.board, e, {"/a=/srv/a.py", "/b=/srv/b.py"});
    RequestSlot* slot = requests.begin(1, text("/b/slow", "POST"), true);
    BOOST_TEST_REQUIRE(slot);
    auto s = b->snapshot(5000);
    BOOST_TEST_REQUIRE(s.requests.size() == 1u);
    const RequestSnapshot& r = s.requests[0];
    BOOST_TEST(r.pid == ::getpid());
    BOOST_TEST(r.method == "POST");
    BOOST_TEST(r.path == "/b/slow");
    BOOST_TEST(r.client == "192.0.2.7");
    BOOST_TEST(r.vhost == "www.example.net");
    BOOST_TEST(r.app_name == "/b=/srv/b.py");
    BOOST_TEST(static_cast<int>(r.state) == static_cast<int>(RequestState::waiting_for_slot));
    BOOST_TEST(s.children.at(0).in_state[static_cast<int>(RequestState::waiting_for_slot)] == 1u);
    slot_set_state(*slot, RequestState::reading_body);
    s = b->snapshot(5000);
    BOOST_TEST(static_cast<int>(s.requests.at(0).state) == static_cast<int>(RequestState::reading_body));
    BOOST_TEST(s.apps.size() == 2u);
    for (const auto& a : s.apps) BOOST_TEST(a.in_app == (a.name == "/b=/srv/b.py" ? 1 : 0));

    ChildRequests::Outcome failed;
    failed.status = 503;
    failed.raised = true;
    failed.timed_out = true;
    failed.app_time = 300ms;
    requests.end(slot, 1, &failed);
    s = b->snapshot(5000);
    BOOST_TEST(s.requests.empty());
    for (const auto& a : s.apps) {
        BOOST_TEST(a.requests == (a.name == "/b=/srv/b.py" ? 1u : 0u));
        BOOST_TEST(a.app_5xx == (a.name == "/b=/srv/b.py" ? 1u : 0u));
        BOOST_TEST(a.exceptions == (a.name == "/b=/srv/b.py" ? 1u : 0u));
        BOOST_TEST(a.timeouts == (a.name == "/b=/srv/b.py" ? 1u : 0u));
        BOOST_TEST(a.buckets[app_time_bucket(0.3)] == (a.name == "/b=/srv/b.py" ? 1u : 0u));
        BOOST_TEST(a.in_app == 0);
    }
    // The thread keeps its slot for its next request.
    BOOST_TEST(requests.begin(0, text("/a/x"), false) == slot);
    requests.end(slot, 0, nullptr); // never reached the app: not counted
    s = b->snapshot(5000);
    for (const auto& a : s.apps) BOOST_TEST(a.requests == (a.name == "/b=/srv/b.py" ? 1u : 0u));
    // Once detached (the child leaves), nothing is written any more.
    requests.detach();
    BOOST_TEST(requests.begin(0, text("/a/y"), false) == nullptr);
    BOOST_TEST(b->snapshot(0).requests.empty());
}

BOOST_AUTO_TEST_CASE(each_request_thread_has_a_slot_of_its_own_and_the_rest_are_counted_unlisted) {
    Board b(1); // kDefaultSlotsPerChild slots
    ChildStats* e = claim_here(b.board);
    BOOST_TEST_REQUIRE(e);
    ChildRequests requests;
    requests.attach(b.board, e, {"/=/srv/app.py"});
    // This thread too (it keeps its slot for the process's life).
    RequestSlot* mine = requests.begin(0, text("/main"), false);
    BOOST_TEST_REQUIRE(mine);
    std::vector<std::thread> threads;
    std::atomic<int> began{0}, listed{1};
    std::atomic<bool> end{false};
    for (int i = 0; i < kDefaultSlotsPerChild + 1; ++i)
        threads.emplace_back([&, i] {
            RequestSlot* s = requests.begin(0, text("/t" + std::to_string(i)), false);
            if (s) ++listed;
            ++began;
            while (!end.load()) std::this_thread::sleep_for(1ms);
            ChildRequests::Outcome ok;
            ok.status = 200;
            requests.end(s, 0, &ok);
        });
    BOOST_TEST_REQUIRE(eventually([&] { return began.load() == kDefaultSlotsPerChild + 1; }, kStatusBoardWait));
    auto s = b->snapshot(0);
    BOOST_TEST(listed.load() == kDefaultSlotsPerChild);
    BOOST_TEST(s.requests.size() == static_cast<std::size_t>(kDefaultSlotsPerChild));
    BOOST_TEST(s.children.at(0).unlisted == 2u);
    std::set<std::string> paths;
    for (const auto& r : s.requests) paths.insert(r.path);
    BOOST_TEST(paths.size() == static_cast<std::size_t>(kDefaultSlotsPerChild));
    end = true;
    for (auto& t : threads) t.join();
    ChildRequests::Outcome ok;
    ok.status = 200;
    requests.end(mine, 0, &ok);
    // Ended threads gave their slots back: new threads get them.
    std::thread([&] { BOOST_TEST(requests.begin(0, text("/again"), false) != nullptr); }).join();
    BOOST_TEST(b->snapshot(0).apps.at(0).requests == static_cast<std::uint64_t>(kDefaultSlotsPerChild + 2));
}

BOOST_AUTO_TEST_CASE(long_fields_are_cut_and_flagged) {
    Board b(1);
    ChildStats* e = claim_here(b.board);
    BOOST_TEST_REQUIRE(e);
    RequestSlot& slot = b->slots_of(e)[0];
    const std::string path(300, 'p');
    slot_begin(slot, RequestState::in_app, 0, 0, SlotText{std::string(40, 'M'), path, "", std::string(64, 'v')});
    auto s = b->snapshot(0);
    BOOST_TEST_REQUIRE(s.requests.size() == 1u);
    BOOST_TEST(s.requests[0].path == path.substr(0, kSlotPathBytes));
    BOOST_TEST(s.requests[0].method == std::string(kSlotMethodBytes, 'M'));
    BOOST_TEST(s.requests[0].vhost == std::string(64, 'v'));
    BOOST_TEST(s.requests[0].client.empty());
    BOOST_TEST(s.requests[0].truncated == ((1u << kFieldMethod) | (1u << kFieldPath)));
    // A shorter path later leaves nothing of the longer one behind.
    slot_end(slot);
    slot_begin(slot, RequestState::in_app, 0, 0, SlotText{"GET", "/short", "c", "v"});
    s = b->snapshot(0);
    BOOST_TEST(s.requests.at(0).path == "/short");
    BOOST_TEST(s.requests.at(0).truncated == 0u);
}

// A child stopped (or killed) in the middle of writing a request: the read
// skips that slot after a few tries instead of waiting, shows the rest, and
// the next owner of the entry starts clean.
BOOST_AUTO_TEST_CASE(a_torn_request_write_is_skipped_not_waited_on) {
    Board b(2);
    pid_t p = ::fork();
    if (p == 0) {
        ChildStats* e = claim_here(b.board, 4);
        if (!e) ::_exit(1);
        RequestSlot* slots = b->slots_of(e);
        slot_begin(slots[1], RequestState::in_app, 0, 0, text("/whole"));
        test_pause::configure("slot:writing");
        slot_begin(slots[0], RequestState::in_app, 0, 0, text("/torn"));
        ::_exit(0);
    }
    int st = 0;
    BOOST_TEST_REQUIRE((::waitpid(p, &st, WUNTRACED) == p && WIFSTOPPED(st)));
    auto r = bounded([&] {
        auto s = b->snapshot(0);
        if (s.children.size() != 1u) return 1;
        if (s.requests.size() != 1u || s.requests[0].path != "/whole") return 2;
        return s.requests_torn == 1u ? 0 : 3;
    });
    BOOST_TEST(r == 0, "the check failed at step " << r << " (-1: stuck)");
    BOOST_TEST(render_status_html(b->snapshot(0)).find("not shown: their child was writing") != std::string::npos);
    kill_and_reap(p);
    r = bounded([&] {
        ChildStats* e = claim_here(b.board, 5);
        if (!e) return 1;
        auto s = b->snapshot(0);
        if (!s.requests.empty() || s.requests_torn != 0u) return 2;
        RequestSlot& slot = b->slots_of(e)[0];
        if (slot.seq.load() & 1) return 3;
        slot_begin(slot, RequestState::in_app, 0, 0, text("/next"));
        s = b->snapshot(0);
        return s.requests.size() == 1u && s.requests[0].path == "/next" ? 0 : 4;
    });
    BOOST_TEST(r == 0, "the check failed at step " << r << " (-1: stuck)");
}

BOOST_AUTO_TEST_CASE(apps_are_named_once_per_board_and_the_overflow_shares_a_row) {
    Board b(1);
    const std::uint32_t a = b->app_id("/a=x.py");
    BOOST_TEST(b->app_id("/b=y.py") != a);
    BOOST_TEST(b->app_id("/a=x.py") == a);
    for (int i = 0; i < 40; ++i) b->app_id("/many" + std::to_string(i) + "=z.py");
    BOOST_TEST(b->app_id("/late=z.py") == kOtherApps);
    ChildStats* e = claim_here(b.board);
    BOOST_TEST_REQUIRE(e);
    e->apps[kOtherApps].requests += 2;
    auto s = b->snapshot(0);
    BOOST_TEST(s.apps.size() == kMaxApps);
    BOOST_TEST(s.apps.back().name.empty());
    BOOST_TEST(s.apps.back().requests == 2u);
    BOOST_TEST(render_status_json(s).find("\"mount\": \"(other apps)\"") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(rates_cover_the_last_seconds) {
    Board b(1);
    ChildStats* e = claim_here(b.board);
    BOOST_TEST_REQUIRE(e);
    RequestRates rates;
    const auto t0 = std::chrono::steady_clock::time_point(100s);
    rates.sample(*e, t0);
    BOOST_TEST(e->rate_milli.load() == 0u);
    e->counters.requests += 20;
    e->apps[1].requests += 20;
    rates.sample(*e, t0 + 500ms); // under a second: not a sample
    BOOST_TEST(e->rate_window_ms.load() == 0u);
    rates.sample(*e, t0 + 2s);
    BOOST_TEST(e->rate_milli.load() == 10000u);
    BOOST_TEST(e->app_rate_milli[1].load() == 10000u);
    BOOST_TEST(e->rate_window_ms.load() == 2000u);
    // Ten seconds later with nothing new: the window moved past them.
    for (int i = 3; i <= 13; ++i) rates.sample(*e, t0 + std::chrono::seconds(i));
    BOOST_TEST(e->rate_milli.load() == 0u);
    BOOST_TEST(e->rate_window_ms.load() == 10000u);
    auto s = b->snapshot(0);
    BOOST_TEST(s.totals.rate == 0.0);
}

BOOST_AUTO_TEST_CASE(the_chart_keeps_a_point_per_step_for_the_last_minutes) {
    Board b(1);
    ChildStats* e = claim_here(b.board);
    BOOST_TEST_REQUIRE(e);
    RequestRates rates;
    const auto t0 = std::chrono::steady_clock::time_point(100s);
    // 70 steps of 5 s: the chart keeps the newest kHistoryPoints. In step k
    // the child serves 5 * k requests (k per second) with up to k % 7 in the
    // app at one sample.
    for (int k = 0; k < 70; ++k)
        for (int sec = 0; sec < kHistoryStepSeconds; ++sec) {
            e->in_app.store(sec == 2 ? k % 7 : 0);
            e->counters.requests += static_cast<std::uint64_t>(k);
            rates.sample(*e, t0 + std::chrono::seconds(k * kHistoryStepSeconds + sec + 1));
        }
    auto s = b->snapshot(0);
    const auto& h = s.children.at(0).history;
    BOOST_TEST_REQUIRE(h.size() == kHistoryPoints);
    // The last point covers the last full step (k = 68 and the first second
    // of 69 may straddle; any point's rate is one step's count over 5 s).
    for (std::size_t i = 1; i < h.size(); ++i) BOOST_TEST(h[i].rate >= h[i - 1].rate);
    BOOST_TEST(h.back().rate >= 60.0);
    BOOST_TEST(h.back().rate <= 70.0);
    std::uint32_t most = 0;
    for (const auto& p : h) most = std::max(most, p.in_app);
    BOOST_TEST(most == 6u);
    // A new owner starts an empty chart.
    b->release(e, LeaveReason::httpd);
    ChildStats* next = claim_here(b.board);
    BOOST_TEST_REQUIRE(next == e);
    BOOST_TEST(b->snapshot(0).children.at(0).history.empty());
}

BOOST_AUTO_TEST_CASE(the_page_draws_each_childs_chart_as_inline_svg_and_json_has_its_points) {
    Board b(1);
    ChildStats* e = claim_here(b.board);
    BOOST_TEST_REQUIRE(e);
    e->history[0].store(HistoryPoint::pack(12500, 3));
    e->history[1].store(HistoryPoint::pack(2000, 0));
    e->history_count.store(2);
    auto s = b->snapshot(0);
    const std::string html = render_status_html(s);
    BOOST_TEST(contains(html, "<svg class=\"chart\""), html);
    BOOST_TEST(contains(html, "up to 12.5 requests/s (line), up to 3 in the app (bars)"), html);
    BOOST_TEST(contains(html, "<polyline"));
    BOOST_TEST(!contains(html, "<script"), "no JavaScript");
    const std::string json = render_status_json(s);
    BOOST_TEST(contains(json, "\"history\": {\"step_seconds\": 5, \"requests_per_second\": [12.500, 2.000], "
                              "\"most_in_app\": [3, 0]}"),
               json);
}

BOOST_AUTO_TEST_CASE(per_app_app_time_is_a_prometheus_histogram_labelled_by_mount) {
    Board b(1);
    ChildStats* e = claim_here(b.board);
    BOOST_TEST_REQUIRE(e);
    ChildRequests requests;
    requests.attach(b.board, e, {"/a=/srv/a.py", "/b=pkg:app"});
    auto served = [&](int app, std::chrono::nanoseconds took, bool timed_out) {
        ChildRequests::Outcome o;
        o.status = 200;
        o.timed_out = timed_out;
        o.app_time = took;
        requests.end(requests.begin(app, text("/x"), false), app, &o);
    };
    served(0, 2ms, false);
    served(0, 2ms, false);
    served(1, 3s, true);
    auto s = b->snapshot(0);
    const std::string prom = render_status_prometheus(s);
    BOOST_TEST(contains(prom, "# TYPE pympm_mount_duration_seconds histogram\n"), prom);
    BOOST_TEST(
        contains(prom, "pympm_mount_duration_seconds_bucket{mount=\"/a\",target=\"/srv/a.py\",le=\"0.001\"} 0\n"),
        prom);
    BOOST_TEST(
        contains(prom, "pympm_mount_duration_seconds_bucket{mount=\"/a\",target=\"/srv/a.py\",le=\"0.0025\"} 2\n"),
        prom);
    BOOST_TEST(contains(prom, "pympm_mount_duration_seconds_count{mount=\"/a\",target=\"/srv/a.py\"} 2\n"), prom);
    BOOST_TEST(contains(prom, "pympm_mount_duration_seconds_sum{mount=\"/b\",target=\"pkg:app\"} 3.000000\n"), prom);
    BOOST_TEST(contains(prom, "pympm_mount_duration_seconds_bucket{mount=\"/b\",target=\"pkg:app\",le=\"2.5\"} 0\n"),
               prom);
    BOOST_TEST(contains(prom, "pympm_app_timeouts_total{mount=\"/b\",target=\"pkg:app\"} 1\n"), prom);
    BOOST_TEST(contains(prom, "pympm_app_requests_total{mount=\"/a\",target=\"/srv/a.py\"} 2\n"), prom);
    const std::string json = render_status_json(s);
    BOOST_TEST(contains(json, "\"mount\": \"/b\", \"app\": \"pkg:app\", \"requests\": 1"), json);
    BOOST_TEST(contains(json, "\"timeouts\": 1, "), json);
    const std::string html = render_status_html(s);
    BOOST_TEST(contains(html, "<th>timeouts</th><th>app time p50 / p99</th>"), html);
}

BOOST_AUTO_TEST_CASE(children_of_an_older_generation_show_as_draining) {
    Board b(3);
    BOOST_TEST_REQUIRE(claim_as(b.board, ::getppid(), 1));
    ChildStats* newer = claim_here(b.board, 2);
    BOOST_TEST_REQUIRE(newer);
    auto s = b->snapshot(0);
    BOOST_TEST(s.newest_generation == 2);
    const std::string json = render_status_json(s);
    BOOST_TEST(contains(json, "\"generation\": 1, "));
    BOOST_TEST(contains(json, "\"state\": \"draining\""), json);
    BOOST_TEST(contains(json, "\"state\": \"serving\""), json);
    newer->draining = 1;
    const std::string after = render_status_json(b->snapshot(0));
    BOOST_TEST(!contains(after, "\"state\": \"serving\""), after);
    BOOST_TEST(contains(render_status_html(b->snapshot(0)), "draining: httpd told it to stop"));
}

BOOST_AUTO_TEST_CASE(client_bytes_are_shown_escaped_in_every_format) {
    BOOST_TEST(displayable("/plain/path-1.txt") == "/plain/path-1.txt");
    BOOST_TEST(displayable("a\\b") == "a\\\\b");
    BOOST_TEST(displayable(std::string_view("\x00\x01\x1b\x7f", 4)) == "\\x00\\x01\\x1b\\x7f");
    BOOST_TEST(displayable("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") == "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    BOOST_TEST(displayable("\xff\xfe") == "\\xff\\xfe");
    BOOST_TEST(displayable("\xc0\xaf") == "\\xc0\\xaf", "overlong /");
    BOOST_TEST(displayable("\xed\xa0\x80") == "\\xed\\xa0\\x80", "surrogate");
    BOOST_TEST(displayable("\xe2\x82") == "\\xe2\\x82", "cut short");
    BOOST_TEST(displayable("\xc2\x85") == "\\u{0085}", "C1 control");
    BOOST_TEST(displayable("a\xe2\x80\xae"
                           "b\xe2\x80\x8b") == "a\\u{202E}b\\u{200B}",
               "bidi and zero-width");

    Board b(1);
    ChildStats* e = claim_here(b.board);
    BOOST_TEST_REQUIRE(e);
    ChildRequests requests;
    requests.attach(b.board, e, {"/<i>=\"q\".py"});
    const std::string hostile = "/x/<script>alert('1')</script>\"&\n\x1b\xff\xe2\x80\xae";
    BOOST_TEST_REQUIRE(requests.begin(0, SlotText{"G<T", hostile, "<c>", "<v>"}, false));
    auto s = b->snapshot(0);
    const std::string html = render_status_html(s);
    BOOST_TEST(!contains(html, "<script>"));
    BOOST_TEST(!contains(html, "<i>"));
    BOOST_TEST(!contains(html, "<c>"));
    BOOST_TEST(!contains(html, "<v>"));
    BOOST_TEST(!contains(html, "G<T"));
    BOOST_TEST(contains(html, "/x/&lt;script&gt;alert(&#39;1&#39;)&lt;/script&gt;&quot;&amp;\\x0a\\x1b\\xff\\u{202E}"),
               html);
    const std::string json = render_status_json(s);
    BOOST_TEST(contains(json, "\"path\": \"/x/<script>alert('1')</script>\\\"&\\\\x0a\\\\x1b\\\\xff\\\\u{202E}\""),
               json);
    for (const std::string& out : {html, json, render_status_prometheus(s)}) {
        for (char raw : {'\x1b', '\xff'}) BOOST_TEST(out.find(raw) == std::string::npos);
        BOOST_TEST(out.find("\xe2\x80\xae") == std::string::npos);
    }
    const std::string prom = render_status_prometheus(s);
    BOOST_TEST(contains(prom, "pympm_app_requests_in_app{mount=\"/<i>\",target=\"\\\"q\\\".py\"} 1\n"), prom);
    BOOST_TEST(!contains(prom, "/x/"), "no per-request series");
}

BOOST_AUTO_TEST_SUITE_END()

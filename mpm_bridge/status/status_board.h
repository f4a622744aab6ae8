// The server-wide status board: one block of shared memory, set up by the
// parent before the children fork, in which every live child publishes its
// figures, so that whichever child answers a status request can show all
// of them. No httpd types: the module maps the memory, this file lays it
// out (lock-free atomics only, valid across processes).
//
// Counters never go backwards: a child that leaves folds its counters into
// the board's retired totals (under a sequence lock that readers respect),
// and the entry of a child that died without doing so is folded by the next
// child that finds it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace pympm {

// Why a child left, as the status page reports it for its successor.
enum class LeaveReason : std::uint32_t {
    none = 0,        // still running, or nothing is known
    httpd = 1,       // httpd told it to stop (graceful restart, MaxConnectionsPerChild, idle reaping)
    max_requests = 2,
    max_memory = 3,
    request_timeout = 4,
    died = 5,        // exited without leaving its figures (killed, crashed)
};
constexpr std::size_t kLeaveReasons = 6;
const char* leave_reason_name(LeaveReason r);

// Upper bounds (seconds) of the app-time histogram; the last bucket is +Inf.
inline constexpr double kAppTimeBuckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                             0.25,  0.5,    1.0,   2.5,  5.0,   10.0, 30.0, 60.0};
constexpr std::size_t kHistogramSize = sizeof(kAppTimeBuckets) / sizeof(kAppTimeBuckets[0]) + 1;

// Monotone counters: a child's own, and the board's retired totals.
struct StatusCounters {
    std::atomic<std::uint64_t> requests{0};       // finished requests that reached the app
    std::atomic<std::uint64_t> app_4xx{0};
    std::atomic<std::uint64_t> app_5xx{0};
    std::atomic<std::uint64_t> exceptions{0};     // the app raised (not counting client disconnects)
    std::atomic<std::uint64_t> timeouts{0};       // PyRequestTimeout fired
    std::atomic<std::uint64_t> slot_waits{0};     // requests that waited for a PyThreads slot
    std::atomic<std::uint64_t> slot_wait_ns{0};
    std::atomic<std::uint64_t> app_time_ns{0};
    std::atomic<std::uint64_t> app_time_buckets[kHistogramSize]{};
};

// One child's entry.
struct ChildStats {
    enum State : std::uint32_t { free_ = 0, live = 1, folding = 2 };
    std::atomic<std::uint32_t> state{free_};
    std::atomic<std::int32_t> pid{0};
    std::atomic<std::int32_t> generation{0};
    std::atomic<std::int64_t> started_unix_ms{0};
    // The effective model, written before the entry goes live.
    char mpm[16] = {};
    std::int32_t threads_per_child = 0;
    std::int32_t py_threads = 0;
    std::uint8_t enable_threads = 0;
    std::uint8_t http2 = 0;
    // Gauges.
    std::atomic<std::int64_t> in_app{0};
    std::atomic<std::int64_t> waiting{0};
    std::atomic<std::uint64_t> slot_wait_max_ns{0};
    std::atomic<std::uint64_t> rss_bytes{0};
    std::atomic<std::uint64_t> python_threads{0};
    std::atomic<std::uint32_t> predecessor_reason{0}; // LeaveReason of the entry's previous child
    std::atomic<std::uint32_t> leaving{0};            // LeaveReason once it decided to leave
    StatusCounters counters;
};

// A consistent copy, for rendering.
struct ChildSnapshot {
    int pid = 0, generation = 0;
    std::int64_t started_unix_ms = 0;
    std::string mpm;
    int threads_per_child = 0, py_threads = 0;
    bool enable_threads = false, http2 = false;
    std::int64_t in_app = 0, waiting = 0;
    std::uint64_t slot_wait_max_ns = 0, rss_bytes = 0, python_threads = 0;
    LeaveReason predecessor_reason = LeaveReason::none, leaving = LeaveReason::none;
    std::uint64_t requests = 0, app_4xx = 0, app_5xx = 0, exceptions = 0, timeouts = 0, slot_waits = 0;
    std::uint64_t slot_wait_ns = 0, app_time_ns = 0;
    std::uint64_t buckets[kHistogramSize] = {};
};

struct BoardSnapshot {
    std::vector<ChildSnapshot> children; // live ones
    ChildSnapshot totals;                // retired + live counters
    std::uint64_t children_started = 0;
    std::uint64_t leaves[kLeaveReasons] = {};
    std::int64_t taken_unix_ms = 0;
};

class StatusBoard {
public:
    // Bytes of shared memory for `entries` children.
    static std::size_t bytes_for(int entries);
    // In the parent, once: lays the board out in `memory` (zeroed).
    static StatusBoard* create(void* memory, std::size_t bytes, int entries);
    // A board laid out earlier (across graceful restarts), or null if the
    // memory does not hold one of this layout.
    static StatusBoard* attach(void* memory, std::size_t bytes);

    // In a child: takes a free entry (folding those of children that died),
    // or null when the board is full.
    ChildStats* claim(int pid, int generation, std::int64_t now_unix_ms);
    // The child leaves: its counters go to the retired totals, the entry is
    // freed. `reason` is what its successor will show.
    void release(ChildStats* entry, LeaveReason reason);
    // Counts a child that leaves for a reason of its own.
    void count_leave(LeaveReason reason);

    BoardSnapshot snapshot(std::int64_t now_unix_ms);
    int entries() const { return entries_; }

private:
    StatusBoard() = default;
    ChildStats* entry(int i);
    // Folds the live entry of `pid` into the retired totals and frees it;
    // false if it was not that (another process folded it first).
    bool fold(ChildStats& e, int pid, LeaveReason reason);
    void lock_fold();
    void unlock_fold();

    std::uint64_t magic_ = 0;
    std::uint32_t layout_ = 0;
    std::int32_t entries_ = 0;
    std::atomic<std::uint64_t> fold_seq_{0}; // odd while counters move to `retired_`
    std::atomic<std::uint64_t> children_started_{0};
    std::atomic<std::uint64_t> leaves_[kLeaveReasons]{};
    StatusCounters retired_;
    // ChildStats entries_[entries_] follow.
};

// Where a request's app time falls in the histogram.
std::size_t app_time_bucket(double seconds);
// p-quantile (0..1) of a histogram, interpolated within its bucket.
double histogram_quantile(const std::uint64_t (&buckets)[kHistogramSize], double q);

} // namespace pympm

// The server-wide status board: one block of shared memory, set up by the
// parent before the children fork, in which every live child publishes its
// figures, so that whichever child answers a status request can show all
// of them. No httpd types: the module maps the memory, this file lays it
// out (lock-free atomics only, valid across processes).
//
// No lock, so that no child can stall another or the page by dying or
// stopping at a bad moment (SIGKILL, the OOM killer, a crash):
// - An entry belongs to whoever holds its owner word, which packs the
//   state, the owner's pid and its process start time in one 64-bit atomic
//   taken by compare-and-swap. An entry whose owner is gone (its pid is not
//   running, is a zombie, or was reused by a process that started later) is
//   taken over by the next claim or status read, whatever step its owner
//   died at.
// - Counters never move: an entry's counters keep growing across its
//   successive owners, and the server totals are the sum over all entries,
//   so a child that leaves or dies needs nothing folded. A child's own
//   figures are its entry's counters less `base`, their value when it
//   claimed the entry.
// - Readers take no lock: a child's figures are read between two reads of
//   its owner word, again when it changed meanwhile (a bounded number of
//   times; a child that keeps changing is left out of that one read).
#pragma once

#include "status/request_slots.h"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace pympm {

// Why a child left, as the status page reports it for its successor.
enum class LeaveReason : std::uint32_t {
    none = 0,  // still running, or nothing is known
    httpd = 1, // httpd told it to stop (graceful restart, MaxConnectionsPerChild, idle reaping)
    max_requests = 2,
    max_memory = 3,
    request_timeout = 4,
    died = 5, // exited without leaving its figures (killed, crashed)
};
constexpr std::size_t kLeaveReasons = 6;
const char* leave_reason_name(LeaveReason r);

// Upper bounds (seconds) of the app-time histogram; the last bucket is +Inf.
inline constexpr double kAppTimeBuckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                             0.5,   1.0,    2.5,   5.0,  10.0,  30.0, 60.0};
constexpr std::size_t kHistogramSize = sizeof(kAppTimeBuckets) / sizeof(kAppTimeBuckets[0]) + 1;

// Monotone counters: a child's own, and the board's retired totals.
struct StatusCounters {
    std::atomic<std::uint64_t> requests{0}; // finished requests that reached the app
    std::atomic<std::uint64_t> app_4xx{0};
    std::atomic<std::uint64_t> app_5xx{0};
    std::atomic<std::uint64_t> exceptions{0}; // the app raised (not counting client disconnects)
    std::atomic<std::uint64_t> timeouts{0};   // PyRequestTimeout fired
    std::atomic<std::uint64_t> slot_waits{0}; // requests that waited for a PyThreads slot
    std::atomic<std::uint64_t> slot_wait_ns{0};
    std::atomic<std::uint64_t> app_time_ns{0};
    std::atomic<std::uint64_t> app_time_buckets[kHistogramSize]{};
};

// Apps (mounts) the board tells apart, by name, for the server's life;
// the last row counts the apps beyond them.
inline constexpr std::size_t kMaxApps = 16;
inline constexpr std::uint32_t kOtherApps = kMaxApps - 1;
inline constexpr std::size_t kAppNameBytes = 128;
// Request slots of an entry when the board is laid out without a number.
inline constexpr int kDefaultSlotsPerChild = 4;

// Per app, monotone like StatusCounters.
struct AppCounters {
    std::atomic<std::uint64_t> requests{0};
    std::atomic<std::uint64_t> app_4xx{0};
    std::atomic<std::uint64_t> app_5xx{0};
    std::atomic<std::uint64_t> exceptions{0};
    std::atomic<std::uint64_t> timeouts{0}; // ran past PyRequestTimeout
    std::atomic<std::uint64_t> app_time_ns{0};
    std::atomic<std::uint64_t> app_time_buckets[kHistogramSize]{};
};

// The chart of a child: one point every kHistoryStepSeconds over the last
// kHistoryPoints of them, written by the child's watchdog thread alone.
inline constexpr std::size_t kHistoryPoints = 60;
inline constexpr int kHistoryStepSeconds = 5;
// A point: requests per second (x 1000) in the high 40 bits, the most
// requests in the app at one of the step's samples in the low 24, in one
// word so that a reader never sees half of one.
struct HistoryPoint {
    double rate = 0;
    std::uint32_t in_app = 0;
    static std::uint64_t pack(std::uint64_t rate_milli, std::uint64_t in_app);
    static HistoryPoint unpack(std::uint64_t word);
};

// Who owns an entry: a process, told apart from a later one that got the
// same pid by its start time (clock ticks since boot, /proc/PID/stat; 0 if
// it could not be read, and then only the pid is checked).
struct OwnerId {
    int pid = 0;
    std::uint64_t start_ticks = 0;
    static OwnerId of(int pid); // reads its start time
    static OwnerId self();
};

// What a child shows of its effective model, written before it goes live.
struct ChildModel {
    std::string mpm;
    int threads_per_child = 0;
    int py_threads = 0;
    bool enable_threads = false;
    bool http2 = false;
};

// One child's entry. Everything is atomic: a reader may read an entry while
// it changes hands (it then reads again).
struct ChildStats {
    // state (2 bits) | start ticks (40 bits) | pid (22 bits, Linux's
    // PID_MAX_LIMIT); a free entry keeps why its last owner left instead.
    std::atomic<std::uint64_t> owner{0};
    std::atomic<std::int32_t> generation{0};
    std::atomic<std::int64_t> started_unix_ms{0};
    std::atomic<char> mpm[16] = {};
    std::atomic<std::int32_t> threads_per_child{0};
    std::atomic<std::int32_t> py_threads{0};
    std::atomic<std::uint8_t> enable_threads{0};
    std::atomic<std::uint8_t> http2{0};
    // Gauges, reset at each claim.
    std::atomic<std::int64_t> in_app{0};
    std::atomic<std::int64_t> waiting{0};
    std::atomic<std::uint64_t> slot_wait_max_ns{0};
    std::atomic<std::uint64_t> rss_bytes{0};
    std::atomic<std::uint64_t> python_threads{0};
    std::atomic<std::int64_t> websockets_open{0};
    std::atomic<std::uint32_t> predecessor_reason{0}; // LeaveReason of the entry's previous owner
    std::atomic<std::uint32_t> leaving{0};            // LeaveReason once it decided to leave
    std::atomic<std::uint32_t> draining{0};           // httpd told it to stop: it finishes what it has
    // Its limits (0: none): PyRequestTimeout, its PyMaxRequests with the
    // jitter drawn, PyMaxMemory; and the requests counted towards the
    // request limit.
    std::atomic<std::int32_t> request_timeout_s{0};
    std::atomic<std::uint64_t> request_limit{0};
    std::atomic<std::uint64_t> max_memory_bytes{0};
    std::atomic<std::uint64_t> served{0};
    // Requests per second (x 1000) over the last `rate_window_ms`, in all
    // and per app, sampled by the child once a second.
    std::atomic<std::uint64_t> rate_milli{0};
    std::atomic<std::uint32_t> rate_window_ms{0};
    std::atomic<std::uint64_t> app_rate_milli[kMaxApps]{};
    // Requests not listed: they found no free request slot.
    std::atomic<std::uint64_t> unlisted{0};
    // The chart: points written so far (reset at each claim), in a ring.
    std::atomic<std::uint64_t> history_count{0};
    std::atomic<std::uint64_t> history[kHistoryPoints]{};
    // Monotone for the life of the board, across owners.
    StatusCounters counters;
    // `counters` when the current owner claimed the entry.
    StatusCounters base;
    // Monotone across owners, indexed by the board's app id.
    AppCounters apps[kMaxApps];
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
    std::int64_t websockets_open = 0;
    LeaveReason predecessor_reason = LeaveReason::none, leaving = LeaveReason::none;
    std::uint64_t requests = 0, app_4xx = 0, app_5xx = 0, exceptions = 0, timeouts = 0, slot_waits = 0;
    std::uint64_t slot_wait_ns = 0, app_time_ns = 0;
    std::uint64_t buckets[kHistogramSize] = {};
    bool draining = false;
    int request_timeout_s = 0;
    std::uint64_t request_limit = 0, max_memory_bytes = 0, served = 0, unlisted = 0;
    double rate = 0, rate_window_s = 0; // requests per second over the window
    // The requests it is serving now, by state.
    std::uint64_t in_state[kRequestStates] = {};
    std::vector<HistoryPoint> history; // its chart, oldest first
};

// One app (mount) over the whole board.
struct AppSnapshot {
    std::uint32_t id = 0;
    std::string name; // "/mount=target" (empty: the apps beyond the board's table)
    std::uint64_t requests = 0, app_4xx = 0, app_5xx = 0, exceptions = 0, timeouts = 0, app_time_ns = 0;
    std::uint64_t buckets[kHistogramSize] = {};
    std::int64_t in_app = 0, waiting = 0; // from the current requests
    double rate = 0;                      // requests per second, live children
};

// The figures of an entry's current owner (its counters since it claimed
// the entry), read as they are: for a child's own entry.
ChildSnapshot read_own_entry(const ChildStats& e);

struct BoardSnapshot {
    std::vector<ChildSnapshot> children; // live ones
    ChildSnapshot totals;                // counters of every child since the board was set up
    std::uint64_t children_started = 0;
    std::uint64_t leaves[kLeaveReasons] = {}; // died: children found dead
    std::int64_t taken_unix_ms = 0;
    std::vector<RequestSnapshot> requests; // current requests of live children, oldest first
    std::vector<AppSnapshot> apps;         // apps with a name or counts
    std::uint64_t requests_torn = 0;       // slots skipped: their child was writing on every read
    int newest_generation = 0;             // of live children: older ones are draining
};

class StatusBoard {
public:
    // Bytes of shared memory for `entries` children with `slots` request
    // slots each (one per request thread).
    static std::size_t bytes_for(int entries, int slots = kDefaultSlotsPerChild);
    // In the parent, once: lays the board out in `memory` (zeroed).
    static StatusBoard* create(void* memory, std::size_t bytes, int entries, int slots = kDefaultSlotsPerChild);
    // A board laid out earlier (across graceful restarts), or null if the
    // memory does not hold one of this layout.
    static StatusBoard* attach(void* memory, std::size_t bytes);

    // In a child: takes a free entry, or one whose owner is gone, and
    // publishes it with `model`; null when the board is full. Never waits.
    ChildStats* claim(const OwnerId& me, int generation, std::int64_t now_unix_ms, const ChildModel& model);
    // The child leaves: the entry is freed (its counters stay in the
    // totals). `reason` is what its successor will show. Never waits; a no-op
    // if `entry` is not this process's any more.
    void release(ChildStats* entry, LeaveReason reason);
    // Counts a child that leaves for a reason of its own.
    void count_leave(LeaveReason reason);

    // Never waits on a child. Entries of children found dead are freed.
    BoardSnapshot snapshot(std::int64_t now_unix_ms);
    int entries() const { return entries_; }
    int slots_per_child() const { return slots_; }
    // The request slots of an entry (slots_per_child() of them).
    RequestSlot* slots_of(const ChildStats* e);
    // The id of the app `name` on this board, registered if new (by a
    // child as it starts); kOtherApps once the table is full.
    std::uint32_t app_id(const std::string& name);

private:
    StatusBoard() = default;
    ChildStats* entry(int i);
    std::string app_name(std::uint32_t id) const;
    // Frees `e` if it still holds `owner`, a process that is gone; counts
    // the death once (by whoever frees it).
    bool reclaim_if_gone(ChildStats& e, std::uint64_t owner);

    std::uint64_t magic_ = 0;
    std::uint32_t layout_ = 0;
    std::int32_t entries_ = 0;
    std::int32_t slots_ = 0;
    // Per app: 0 free, kAppWriting | pid<<2 while a child writes its name,
    // kAppNamed once written (then never changes).
    std::atomic<std::uint64_t> app_state_[kMaxApps]{};
    std::atomic<std::uint64_t> app_names_[kMaxApps][kAppNameBytes / 8]{};
    std::atomic<std::uint64_t> children_started_{0};
    std::atomic<std::uint64_t> leaves_[kLeaveReasons]{};
    // ChildStats entries_[entries_] follow, then RequestSlot
    // [entries_ * slots_].
};

// Where a request's app time falls in the histogram.
std::size_t app_time_bucket(double seconds);
// p-quantile (0..1) of a histogram, interpolated within its bucket.
double histogram_quantile(const std::uint64_t (&buckets)[kHistogramSize], double q);

} // namespace pympm

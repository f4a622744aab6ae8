#include "status/status_board.h"

#include "status/test_pause.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <signal.h>
#include <thread>
#include <unistd.h>

namespace pympm {

namespace {

constexpr std::uint64_t kMagic = 0x70796d706d737462ULL; // "pympmstb"
// Changes whenever the layout does: a board of another build is not reused.
constexpr std::uint32_t kLayout = 1 + static_cast<std::uint32_t>(sizeof(ChildStats)) * 7 +
                                  static_cast<std::uint32_t>(kHistogramSize) * 131;

std::size_t header_bytes() {
    return (sizeof(StatusBoard) + alignof(ChildStats) - 1) / alignof(ChildStats) * alignof(ChildStats);
}

bool process_gone(int pid) { return pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH; }

void add_counters(StatusCounters& to, const StatusCounters& from) {
    auto add = [](std::atomic<std::uint64_t>& a, const std::atomic<std::uint64_t>& b) {
        a.fetch_add(b.load(std::memory_order_relaxed), std::memory_order_relaxed);
    };
    add(to.requests, from.requests);
    add(to.app_4xx, from.app_4xx);
    add(to.app_5xx, from.app_5xx);
    add(to.exceptions, from.exceptions);
    add(to.timeouts, from.timeouts);
    add(to.slot_waits, from.slot_waits);
    add(to.slot_wait_ns, from.slot_wait_ns);
    add(to.app_time_ns, from.app_time_ns);
    for (std::size_t i = 0; i < kHistogramSize; ++i) add(to.app_time_buckets[i], from.app_time_buckets[i]);
}

void clear_counters(StatusCounters& c) {
    for (auto* a : {&c.requests, &c.app_4xx, &c.app_5xx, &c.exceptions, &c.timeouts, &c.slot_waits,
                    &c.slot_wait_ns, &c.app_time_ns})
        a->store(0, std::memory_order_relaxed);
    for (auto& b : c.app_time_buckets) b.store(0, std::memory_order_relaxed);
}

void read_counters(const StatusCounters& c, ChildSnapshot& out) {
    out.requests += c.requests.load(std::memory_order_relaxed);
    out.app_4xx += c.app_4xx.load(std::memory_order_relaxed);
    out.app_5xx += c.app_5xx.load(std::memory_order_relaxed);
    out.exceptions += c.exceptions.load(std::memory_order_relaxed);
    out.timeouts += c.timeouts.load(std::memory_order_relaxed);
    out.slot_waits += c.slot_waits.load(std::memory_order_relaxed);
    out.slot_wait_ns += c.slot_wait_ns.load(std::memory_order_relaxed);
    out.app_time_ns += c.app_time_ns.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < kHistogramSize; ++i)
        out.buckets[i] += c.app_time_buckets[i].load(std::memory_order_relaxed);
}

} // namespace

const char* leave_reason_name(LeaveReason r) {
    switch (r) {
    case LeaveReason::none: return "none";
    case LeaveReason::httpd: return "httpd";
    case LeaveReason::max_requests: return "max_requests";
    case LeaveReason::max_memory: return "max_memory";
    case LeaveReason::request_timeout: return "request_timeout";
    case LeaveReason::died: return "died";
    }
    return "none";
}

std::size_t StatusBoard::bytes_for(int entries) {
    return header_bytes() + static_cast<std::size_t>(std::max(entries, 1)) * sizeof(ChildStats);
}

StatusBoard* StatusBoard::create(void* memory, std::size_t bytes, int entries) {
    if (!memory || entries < 1 || bytes < bytes_for(entries)) return nullptr;
    std::memset(memory, 0, bytes);
    auto* board = new (memory) StatusBoard();
    board->entries_ = entries;
    auto* first = reinterpret_cast<char*>(memory) + header_bytes();
    for (int i = 0; i < entries; ++i) new (first + static_cast<std::size_t>(i) * sizeof(ChildStats)) ChildStats();
    board->layout_ = kLayout;
    board->magic_ = kMagic;
    return board;
}

StatusBoard* StatusBoard::attach(void* memory, std::size_t bytes) {
    if (!memory || bytes < header_bytes()) return nullptr;
    auto* board = reinterpret_cast<StatusBoard*>(memory);
    if (board->magic_ != kMagic || board->layout_ != kLayout || bytes < bytes_for(board->entries_)) return nullptr;
    return board;
}

ChildStats* StatusBoard::entry(int i) {
    auto* first = reinterpret_cast<char*>(this) + header_bytes();
    return reinterpret_cast<ChildStats*>(first + static_cast<std::size_t>(i) * sizeof(ChildStats));
}

void StatusBoard::lock_fold() {
    for (;;) {
        std::uint64_t s = fold_seq_.load();
        if (!(s & 1) && fold_seq_.compare_exchange_weak(s, s + 1)) return;
        std::this_thread::yield(); // another child is folding (rare, short)
    }
}

void StatusBoard::unlock_fold() { fold_seq_.fetch_add(1); }

bool StatusBoard::fold(ChildStats& e, int pid, LeaveReason reason) {
    // The lock is taken before the entry stops counting as live, so that no
    // reader ever sees its counters in neither place.
    lock_fold();
    if (pid == static_cast<int>(::getpid())) test_pause::at("release"); // its own entry: leaving
    std::uint32_t st = ChildStats::live;
    const bool mine = e.pid.load() == pid && e.state.compare_exchange_strong(st, ChildStats::folding);
    if (mine) {
        add_counters(retired_, e.counters);
        clear_counters(e.counters);
    }
    unlock_fold();
    if (!mine) return false;
    e.in_app = 0;
    e.waiting = 0;
    e.slot_wait_max_ns = 0;
    e.rss_bytes = 0;
    e.python_threads = 0;
    e.leaving = 0;
    e.pid = 0;
    e.predecessor_reason = static_cast<std::uint32_t>(reason);
    e.state.store(ChildStats::free_, std::memory_order_release);
    return true;
}

ChildStats* StatusBoard::claim(int pid, int generation, std::int64_t now_unix_ms) {
    for (int i = 0; i < entries_; ++i) {
        ChildStats& e = *entry(i);
        const int owner = e.pid.load();
        if (e.state.load(std::memory_order_acquire) == ChildStats::live && process_gone(owner))
            fold(e, owner, LeaveReason::died); // a child that died without leaving its figures
        std::uint32_t st = e.state.load(std::memory_order_acquire);
        if (st != ChildStats::free_) continue;
        if (!e.state.compare_exchange_strong(st, ChildStats::folding)) continue;
        test_pause::at("claim:taken");
        // Ours: set up, then visible.
        e.pid = pid;
        e.generation = generation;
        e.started_unix_ms = now_unix_ms;
        children_started_.fetch_add(1, std::memory_order_relaxed);
        test_pause::at("claim:written");
        e.state.store(ChildStats::live, std::memory_order_release);
        return &e;
    }
    return nullptr;
}

void StatusBoard::release(ChildStats* e, LeaveReason reason) {
    if (e) fold(*e, e->pid.load(), reason);
}

void StatusBoard::count_leave(LeaveReason reason) {
    leaves_[static_cast<std::size_t>(reason) % kLeaveReasons].fetch_add(1, std::memory_order_relaxed);
}

BoardSnapshot StatusBoard::snapshot(std::int64_t now_unix_ms) {
    BoardSnapshot out;
    out.taken_unix_ms = now_unix_ms;
    for (int i = 0; i < entries_; ++i) {
        ChildStats& e = *entry(i);
        // Entries of dead children are folded first, so totals stay whole.
        const int owner = e.pid.load();
        if (e.state.load(std::memory_order_acquire) == ChildStats::live && process_gone(owner))
            fold(e, owner, LeaveReason::died);
    }
    // Retired totals and live counters, read between two folds: a child
    // moving its counters meanwhile makes the read start again.
    for (;;) {
        const std::uint64_t before = fold_seq_.load(std::memory_order_acquire);
        if (before & 1) {
            std::this_thread::yield();
            continue;
        }
        out.children.clear();
        out.totals = ChildSnapshot{};
        read_counters(retired_, out.totals);
        for (int i = 0; i < entries_; ++i) {
            ChildStats& e = *entry(i);
            if (e.state.load(std::memory_order_acquire) != ChildStats::live) continue;
            ChildSnapshot c;
            c.pid = e.pid.load();
            c.generation = e.generation.load();
            c.started_unix_ms = e.started_unix_ms.load();
            c.mpm.assign(e.mpm, strnlen(e.mpm, sizeof e.mpm));
            c.threads_per_child = e.threads_per_child;
            c.py_threads = e.py_threads;
            c.enable_threads = e.enable_threads != 0;
            c.http2 = e.http2 != 0;
            c.in_app = e.in_app.load();
            c.waiting = e.waiting.load();
            c.slot_wait_max_ns = e.slot_wait_max_ns.load();
            c.rss_bytes = e.rss_bytes.load();
            c.python_threads = e.python_threads.load();
            c.predecessor_reason = static_cast<LeaveReason>(e.predecessor_reason.load());
            c.leaving = static_cast<LeaveReason>(e.leaving.load());
            read_counters(e.counters, c);
            read_counters(e.counters, out.totals);
            out.totals.in_app += c.in_app;
            out.totals.waiting += c.waiting;
            out.totals.rss_bytes += c.rss_bytes;
            out.totals.python_threads += c.python_threads;
            out.totals.slot_wait_max_ns = std::max(out.totals.slot_wait_max_ns, c.slot_wait_max_ns);
            out.children.push_back(std::move(c));
        }
        if (fold_seq_.load(std::memory_order_acquire) == before) break;
    }
    out.children_started = children_started_.load();
    for (std::size_t i = 0; i < kLeaveReasons; ++i) out.leaves[i] = leaves_[i].load();
    std::sort(out.children.begin(), out.children.end(),
              [](const ChildSnapshot& a, const ChildSnapshot& b) { return a.pid < b.pid; });
    return out;
}

std::size_t app_time_bucket(double seconds) {
    std::size_t i = 0;
    while (i < kHistogramSize - 1 && seconds > kAppTimeBuckets[i]) ++i;
    return i;
}

double histogram_quantile(const std::uint64_t (&buckets)[kHistogramSize], double q) {
    std::uint64_t total = 0;
    for (auto b : buckets) total += b;
    if (total == 0) return 0;
    const double rank = q * static_cast<double>(total);
    double seen = 0;
    for (std::size_t i = 0; i < kHistogramSize; ++i) {
        const double here = static_cast<double>(buckets[i]);
        if (seen + here >= rank && here > 0) {
            const double lo = i == 0 ? 0.0 : kAppTimeBuckets[i - 1];
            if (i == kHistogramSize - 1) return lo; // +Inf: the highest finite bound
            const double hi = kAppTimeBuckets[i];
            return lo + (hi - lo) * ((rank - seen) / here);
        }
        seen += here;
    }
    return kAppTimeBuckets[kHistogramSize - 2];
}

} // namespace pympm

#include "status/status_board.h"

#include "status/test_pause.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <new>
#include <signal.h>
#include <unistd.h>

namespace pympm {

namespace {

constexpr std::uint64_t kMagic = 0x70796d706d737462ULL; // "pympmstb"
// Changes whenever the layout does: a board of another build is not reused.
constexpr std::uint32_t kLayout =
    3 + static_cast<std::uint32_t>(sizeof(ChildStats)) * 7 + static_cast<std::uint32_t>(kHistogramSize) * 131 +
    static_cast<std::uint32_t>(kHistoryPoints) * 65537 + static_cast<std::uint32_t>(sizeof(RequestSlot)) * 1009 +
    static_cast<std::uint32_t>(sizeof(StatusBoard)) * 8191;

std::size_t header_bytes() {
    return (sizeof(StatusBoard) + alignof(ChildStats) - 1) / alignof(ChildStats) * alignof(ChildStats);
}

std::size_t slots_offset(int entries) {
    const std::size_t end = header_bytes() + static_cast<std::size_t>(entries) * sizeof(ChildStats);
    return (end + alignof(RequestSlot) - 1) / alignof(RequestSlot) * alignof(RequestSlot);
}

// The app table's state words (StatusBoard::app_state_).
constexpr std::uint64_t kAppFree = 0, kAppWriting = 1, kAppNamed = 2;

// The owner word (see ChildStats::owner).
enum : std::uint64_t { kFree = 0, kClaiming = 1, kLive = 2 };
constexpr int kPidBits = 22;
constexpr int kStartBits = 40;
constexpr std::uint64_t kPidMask = (std::uint64_t{1} << kPidBits) - 1;
constexpr std::uint64_t kStartMask = (std::uint64_t{1} << kStartBits) - 1;

std::uint64_t owner_word(std::uint64_t state, const OwnerId& id) {
    return state << 62 | (id.start_ticks & kStartMask) << kPidBits | (static_cast<std::uint64_t>(id.pid) & kPidMask);
}
std::uint64_t free_word(LeaveReason why) { return static_cast<std::uint64_t>(why) & 0xff; }
std::uint64_t state_of(std::uint64_t w) { return w >> 62; }
int pid_of(std::uint64_t w) { return static_cast<int>(w & kPidMask); }
std::uint64_t start_of(std::uint64_t w) { return (w >> kPidBits) & kStartMask; }
LeaveReason reason_of_free(std::uint64_t w) {
    const auto r = static_cast<std::uint32_t>(w & 0xff);
    return r < kLeaveReasons ? static_cast<LeaveReason>(r) : LeaveReason::none;
}

struct ProcStat {
    char state = '?';
    long threads = 0;
    std::uint64_t start_ticks = 0;
};

// State (field 3), threads (20) and start time (22) of /proc/PID/stat;
// false if it cannot be read (gone, or /proc hidden).
bool read_proc_stat(int pid, ProcStat& st) {
    char path[32];
    std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
    const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    char buf[1024];
    const ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0) return false;
    buf[n] = '\0';
    // The command name (field 2) may hold spaces and parentheses: the
    // fields after it start after its last ')'.
    char* p = std::strrchr(buf, ')');
    if (!p || p[1] != ' ') return false;
    p += 2;
    st.state = *p;
    for (int field = 3; field < 22; ++field) {
        p = std::strchr(p, ' ');
        if (!p) return false;
        ++p;
        if (field + 1 == 20) st.threads = std::strtol(p, nullptr, 10);
    }
    st.start_ticks = std::strtoull(p, nullptr, 10);
    return true;
}

// True only if the process that took the owner word surely runs no more:
// its pid is free, a zombie not yet reaped (only its main thread left: a
// main thread that exited before the others also shows as a zombie), or
// another process's that started later.
bool owner_gone(std::uint64_t w) {
    const int pid = pid_of(w);
    if (pid <= 0) return true;
    ProcStat st;
    if (read_proc_stat(pid, st))
        return ((st.state == 'Z' || st.state == 'X') && st.threads <= 1) ||
               (start_of(w) != 0 && (st.start_ticks & kStartMask) != start_of(w));
    return ::kill(pid, 0) != 0 && errno == ESRCH;
}

void copy_counters(StatusCounters& to, const StatusCounters& from) {
    auto copy = [](std::atomic<std::uint64_t>& a, const std::atomic<std::uint64_t>& b) {
        a.store(b.load(std::memory_order_relaxed), std::memory_order_relaxed);
    };
    copy(to.requests, from.requests);
    copy(to.app_4xx, from.app_4xx);
    copy(to.app_5xx, from.app_5xx);
    copy(to.exceptions, from.exceptions);
    copy(to.timeouts, from.timeouts);
    copy(to.slot_waits, from.slot_waits);
    copy(to.slot_wait_ns, from.slot_wait_ns);
    copy(to.app_time_ns, from.app_time_ns);
    for (std::size_t i = 0; i < kHistogramSize; ++i) copy(to.app_time_buckets[i], from.app_time_buckets[i]);
}

// out += c (less `base`, when given: a child's own share; never below 0,
// should a counter have been read before its base).
void read_counters(const StatusCounters& c, ChildSnapshot& out, const StatusCounters* base = nullptr) {
    auto get = [base, &c](const std::atomic<std::uint64_t> StatusCounters::*m) {
        const std::uint64_t v = (c.*m).load(std::memory_order_relaxed);
        const std::uint64_t b = base ? (base->*m).load(std::memory_order_relaxed) : 0;
        return v > b ? v - b : 0;
    };
    out.requests += get(&StatusCounters::requests);
    out.app_4xx += get(&StatusCounters::app_4xx);
    out.app_5xx += get(&StatusCounters::app_5xx);
    out.exceptions += get(&StatusCounters::exceptions);
    out.timeouts += get(&StatusCounters::timeouts);
    out.slot_waits += get(&StatusCounters::slot_waits);
    out.slot_wait_ns += get(&StatusCounters::slot_wait_ns);
    out.app_time_ns += get(&StatusCounters::app_time_ns);
    for (std::size_t i = 0; i < kHistogramSize; ++i) {
        const std::uint64_t v = c.app_time_buckets[i].load(std::memory_order_relaxed);
        const std::uint64_t b = base ? base->app_time_buckets[i].load(std::memory_order_relaxed) : 0;
        out.buckets[i] += v > b ? v - b : 0;
    }
}

// The owner's figures: what it published at its claim, its gauges, and
// its share of the counters.
void read_owner(const ChildStats& e, std::uint64_t w, ChildSnapshot& c) {
    c.pid = pid_of(w);
    c.generation = e.generation.load(std::memory_order_relaxed);
    c.started_unix_ms = e.started_unix_ms.load(std::memory_order_relaxed);
    c.mpm.clear();
    for (const auto& ch : e.mpm) {
        const char v = ch.load(std::memory_order_relaxed);
        if (!v) break;
        c.mpm += v;
    }
    c.threads_per_child = e.threads_per_child.load(std::memory_order_relaxed);
    c.py_threads = e.py_threads.load(std::memory_order_relaxed);
    c.enable_threads = e.enable_threads.load(std::memory_order_relaxed) != 0;
    c.http2 = e.http2.load(std::memory_order_relaxed) != 0;
    c.in_app = e.in_app.load(std::memory_order_relaxed);
    c.waiting = e.waiting.load(std::memory_order_relaxed);
    c.slot_wait_max_ns = e.slot_wait_max_ns.load(std::memory_order_relaxed);
    c.rss_bytes = e.rss_bytes.load(std::memory_order_relaxed);
    c.python_threads = e.python_threads.load(std::memory_order_relaxed);
    c.websockets_open = e.websockets_open.load(std::memory_order_relaxed);
    const auto pred = e.predecessor_reason.load(std::memory_order_relaxed);
    c.predecessor_reason = pred < kLeaveReasons ? static_cast<LeaveReason>(pred) : LeaveReason::none;
    const auto leaving = e.leaving.load(std::memory_order_relaxed);
    c.leaving = leaving < kLeaveReasons ? static_cast<LeaveReason>(leaving) : LeaveReason::none;
    c.draining = e.draining.load(std::memory_order_relaxed) != 0;
    c.request_timeout_s = e.request_timeout_s.load(std::memory_order_relaxed);
    c.request_limit = e.request_limit.load(std::memory_order_relaxed);
    c.max_memory_bytes = e.max_memory_bytes.load(std::memory_order_relaxed);
    c.served = e.served.load(std::memory_order_relaxed);
    c.unlisted = e.unlisted.load(std::memory_order_relaxed);
    c.rate = static_cast<double>(e.rate_milli.load(std::memory_order_relaxed)) / 1000.0;
    c.rate_window_s = static_cast<double>(e.rate_window_ms.load(std::memory_order_relaxed)) / 1000.0;
    read_counters(e.counters, c, &e.base);
    // The newest points; one more may land meanwhile (a step is seconds
    // long), never a whole ring's worth.
    const std::uint64_t n = e.history_count.load(std::memory_order_acquire);
    const std::uint64_t first = n > kHistoryPoints ? n - kHistoryPoints : 0;
    c.history.clear();
    for (std::uint64_t k = first; k < n; ++k)
        c.history.push_back(HistoryPoint::unpack(e.history[k % kHistoryPoints].load(std::memory_order_relaxed)));
}

} // namespace

std::uint64_t HistoryPoint::pack(std::uint64_t rate_milli, std::uint64_t in_app) {
    constexpr std::uint64_t kMaxRate = (std::uint64_t{1} << 40) - 1, kMaxInApp = (std::uint64_t{1} << 24) - 1;
    return std::min(rate_milli, kMaxRate) << 24 | std::min(in_app, kMaxInApp);
}

HistoryPoint HistoryPoint::unpack(std::uint64_t word) {
    HistoryPoint p;
    p.rate = static_cast<double>(word >> 24) / 1000.0;
    p.in_app = static_cast<std::uint32_t>(word & ((std::uint64_t{1} << 24) - 1));
    return p;
}

OwnerId OwnerId::of(int pid) {
    OwnerId id;
    id.pid = pid;
    ProcStat st;
    if (read_proc_stat(pid, st)) id.start_ticks = st.start_ticks;
    return id;
}

OwnerId OwnerId::self() { return of(static_cast<int>(::getpid())); }

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

ChildSnapshot read_own_entry(const ChildStats& e) {
    ChildSnapshot c;
    read_owner(e, e.owner.load(std::memory_order_acquire), c);
    return c;
}

std::size_t StatusBoard::bytes_for(int entries, int slots) {
    entries = std::max(entries, 1);
    return slots_offset(entries) +
           static_cast<std::size_t>(entries) * static_cast<std::size_t>(std::max(slots, 1)) * sizeof(RequestSlot);
}

StatusBoard* StatusBoard::create(void* memory, std::size_t bytes, int entries, int slots) {
    if (!memory || entries < 1 || slots < 1 || bytes < bytes_for(entries, slots)) return nullptr;
    std::memset(memory, 0, bytes);
    auto* board = new (memory) StatusBoard();
    board->entries_ = entries;
    board->slots_ = slots;
    for (int i = 0; i < entries; ++i) new (board->entry(i)) ChildStats();
    for (int i = 0; i < entries * slots; ++i) new (board->slots_of(board->entry(0)) + i) RequestSlot();
    board->layout_ = kLayout;
    board->magic_ = kMagic;
    return board;
}

StatusBoard* StatusBoard::attach(void* memory, std::size_t bytes) {
    if (!memory || bytes < header_bytes()) return nullptr;
    auto* board = reinterpret_cast<StatusBoard*>(memory);
    if (board->magic_ != kMagic || board->layout_ != kLayout || board->entries_ < 1 || board->slots_ < 1 ||
        bytes < bytes_for(board->entries_, board->slots_))
        return nullptr;
    return board;
}

ChildStats* StatusBoard::entry(int i) {
    auto* first = reinterpret_cast<char*>(this) + header_bytes();
    return reinterpret_cast<ChildStats*>(first + static_cast<std::size_t>(i) * sizeof(ChildStats));
}

RequestSlot* StatusBoard::slots_of(const ChildStats* e) {
    const auto index =
        static_cast<std::size_t>(reinterpret_cast<const char*>(e) - reinterpret_cast<const char*>(entry(0))) /
        sizeof(ChildStats);
    auto* first = reinterpret_cast<RequestSlot*>(reinterpret_cast<char*>(this) + slots_offset(entries_));
    return first + index * static_cast<std::size_t>(slots_);
}

std::string StatusBoard::app_name(std::uint32_t id) const {
    if (id >= kOtherApps || app_state_[id].load(std::memory_order_acquire) != kAppNamed) return {};
    char bytes[kAppNameBytes + 1] = {};
    for (std::size_t i = 0; i < kAppNameBytes / 8; ++i) {
        const std::uint64_t w = app_names_[id][i].load(std::memory_order_relaxed);
        std::memcpy(bytes + i * 8, &w, 8);
    }
    return bytes;
}

std::uint32_t StatusBoard::app_id(const std::string& full) {
    const std::string name = full.substr(0, kAppNameBytes);
    for (std::uint32_t id = 0; id < kOtherApps; ++id) {
        std::uint64_t st = app_state_[id].load(std::memory_order_acquire);
        if (st == kAppNamed) {
            if (app_name(id) == name) return id;
            continue;
        }
        // A child that died while writing a name leaves the row to the next.
        if ((st & 3) == kAppWriting && !owner_gone(st >> 2)) continue;
        const std::uint64_t mine = kAppWriting | static_cast<std::uint64_t>(::getpid()) << 2;
        if (!app_state_[id].compare_exchange_strong(st, mine, std::memory_order_acq_rel)) continue;
        char bytes[kAppNameBytes] = {};
        std::memcpy(bytes, name.data(), name.size());
        for (std::size_t i = 0; i < kAppNameBytes / 8; ++i) {
            std::uint64_t w;
            std::memcpy(&w, bytes + i * 8, 8);
            app_names_[id][i].store(w, std::memory_order_relaxed);
        }
        // Two children naming a new app at once may get a row each: the
        // page adds rows of one name together.
        app_state_[id].store(kAppNamed, std::memory_order_release);
        return id;
    }
    return kOtherApps;
}

bool StatusBoard::reclaim_if_gone(ChildStats& e, std::uint64_t w) {
    if (state_of(w) == kFree || !owner_gone(w)) return false;
    if (!e.owner.compare_exchange_strong(w, free_word(LeaveReason::died), std::memory_order_acq_rel)) return false;
    leaves_[static_cast<std::size_t>(LeaveReason::died)].fetch_add(1, std::memory_order_relaxed);
    return true;
}

ChildStats* StatusBoard::claim(const OwnerId& me, int generation, std::int64_t now_unix_ms, const ChildModel& model) {
    if (me.pid <= 0 || static_cast<std::uint64_t>(me.pid) > kPidMask) return nullptr;
    const std::uint64_t claiming = owner_word(kClaiming, me);
    for (int i = 0; i < entries_; ++i) {
        ChildStats& e = *entry(i);
        std::uint64_t w = e.owner.load(std::memory_order_acquire);
        LeaveReason predecessor = LeaveReason::died;
        if (state_of(w) == kFree)
            predecessor = reason_of_free(w);
        else if (!owner_gone(w))
            continue; // a live child's, or one being claimed right now
        // Taking the entry and recording who took it are one step: a claim
        // that dies from here on leaves an entry the next one takes over.
        if (!e.owner.compare_exchange_strong(w, claiming, std::memory_order_acq_rel)) continue;
        if (predecessor == LeaveReason::died && state_of(w) != kFree)
            leaves_[static_cast<std::size_t>(LeaveReason::died)].fetch_add(1, std::memory_order_relaxed);
        // A reader that sees any store below then sees the owner word
        // changed, and reads the entry again.
        std::atomic_thread_fence(std::memory_order_release);
        test_pause::at("claim:taken");
        e.generation.store(generation, std::memory_order_relaxed);
        e.started_unix_ms.store(now_unix_ms, std::memory_order_relaxed);
        for (std::size_t k = 0; k < sizeof e.mpm / sizeof e.mpm[0]; ++k)
            e.mpm[k].store(k + 1 < sizeof e.mpm / sizeof e.mpm[0] && k < model.mpm.size() ? model.mpm[k] : '\0',
                           std::memory_order_relaxed);
        e.threads_per_child.store(model.threads_per_child, std::memory_order_relaxed);
        e.py_threads.store(model.py_threads, std::memory_order_relaxed);
        e.enable_threads.store(model.enable_threads ? 1 : 0, std::memory_order_relaxed);
        e.http2.store(model.http2 ? 1 : 0, std::memory_order_relaxed);
        e.in_app.store(0, std::memory_order_relaxed);
        e.waiting.store(0, std::memory_order_relaxed);
        e.slot_wait_max_ns.store(0, std::memory_order_relaxed);
        e.rss_bytes.store(0, std::memory_order_relaxed);
        e.python_threads.store(0, std::memory_order_relaxed);
        e.websockets_open.store(0, std::memory_order_relaxed);
        e.predecessor_reason.store(static_cast<std::uint32_t>(predecessor), std::memory_order_relaxed);
        e.leaving.store(0, std::memory_order_relaxed);
        e.draining.store(0, std::memory_order_relaxed);
        e.request_timeout_s.store(0, std::memory_order_relaxed);
        e.request_limit.store(0, std::memory_order_relaxed);
        e.max_memory_bytes.store(0, std::memory_order_relaxed);
        e.served.store(0, std::memory_order_relaxed);
        e.rate_milli.store(0, std::memory_order_relaxed);
        e.rate_window_ms.store(0, std::memory_order_relaxed);
        for (auto& r : e.app_rate_milli) r.store(0, std::memory_order_relaxed);
        e.unlisted.store(0, std::memory_order_relaxed);
        e.history_count.store(0, std::memory_order_relaxed);
        RequestSlot* slots = slots_of(&e);
        for (int k = 0; k < slots_; ++k) slot_reset(slots[k]);
        copy_counters(e.base, e.counters);
        children_started_.fetch_add(1, std::memory_order_relaxed);
        test_pause::at("claim:written");
        e.owner.store(owner_word(kLive, me), std::memory_order_release);
        return &e;
    }
    return nullptr;
}

void StatusBoard::release(ChildStats* e, LeaveReason reason) {
    if (!e) return;
    test_pause::at("release");
    std::uint64_t w = e->owner.load(std::memory_order_acquire);
    if (state_of(w) != kLive || pid_of(w) != static_cast<int>(::getpid())) return;
    e->owner.compare_exchange_strong(w, free_word(reason), std::memory_order_acq_rel);
}

void StatusBoard::count_leave(LeaveReason reason) {
    leaves_[static_cast<std::size_t>(reason) % kLeaveReasons].fetch_add(1, std::memory_order_relaxed);
}

BoardSnapshot StatusBoard::snapshot(std::int64_t now_unix_ms) {
    BoardSnapshot out;
    out.taken_unix_ms = now_unix_ms;
    AppSnapshot apps[kMaxApps];
    for (std::uint32_t id = 0; id < kMaxApps; ++id) {
        apps[id].id = id;
        apps[id].name = app_name(id);
    }
    for (int i = 0; i < entries_; ++i) {
        ChildStats& e = *entry(i);
        ChildSnapshot c;
        bool steady = false;
        std::uint64_t w = 0;
        for (int attempt = 0; attempt < kSeqlockReadAttempts && !steady; ++attempt) {
            w = e.owner.load(std::memory_order_acquire);
            c = ChildSnapshot{};
            if (state_of(w) == kLive) read_owner(e, w, c);
            std::atomic_thread_fence(std::memory_order_acquire);
            steady = e.owner.load(std::memory_order_relaxed) == w;
        }
        // Every entry's counters count, whoever holds it (they only grow).
        read_counters(e.counters, out.totals);
        for (std::size_t id = 0; id < kMaxApps; ++id) {
            apps[id].requests += e.apps[id].requests.load(std::memory_order_relaxed);
            apps[id].app_4xx += e.apps[id].app_4xx.load(std::memory_order_relaxed);
            apps[id].app_5xx += e.apps[id].app_5xx.load(std::memory_order_relaxed);
            apps[id].exceptions += e.apps[id].exceptions.load(std::memory_order_relaxed);
            apps[id].timeouts += e.apps[id].timeouts.load(std::memory_order_relaxed);
            apps[id].app_time_ns += e.apps[id].app_time_ns.load(std::memory_order_relaxed);
            for (std::size_t b = 0; b < kHistogramSize; ++b)
                apps[id].buckets[b] += e.apps[id].app_time_buckets[b].load(std::memory_order_relaxed);
        }
        if (state_of(w) == kFree || reclaim_if_gone(e, w) || !steady || state_of(w) != kLive) continue;
        // Its current requests, kept only if the entry stayed this owner's
        // meanwhile (a new owner resets the slots).
        const std::size_t first_request = out.requests.size();
        std::uint64_t torn = 0;
        const RequestSlot* slots = slots_of(&e);
        for (int k = 0; k < slots_; ++k) {
            RequestSnapshot r;
            const SlotRead got = slot_read(slots[k], r);
            if (got == SlotRead::torn) ++torn;
            if (got != SlotRead::busy) continue;
            r.pid = c.pid;
            ++c.in_state[static_cast<std::size_t>(r.state)];
            out.requests.push_back(std::move(r));
        }
        double app_rates[kMaxApps];
        for (std::size_t id = 0; id < kMaxApps; ++id)
            app_rates[id] = static_cast<double>(e.app_rate_milli[id].load(std::memory_order_relaxed)) / 1000.0;
        std::atomic_thread_fence(std::memory_order_acquire);
        if (e.owner.load(std::memory_order_relaxed) != w) {
            out.requests.resize(first_request);
            continue;
        }
        out.requests_torn += torn;
        for (std::size_t id = 0; id < kMaxApps; ++id) apps[id].rate += app_rates[id];
        out.newest_generation = std::max(out.newest_generation, c.generation);
        out.totals.rate += c.rate;
        out.totals.in_app += c.in_app;
        out.totals.waiting += c.waiting;
        out.totals.rss_bytes += c.rss_bytes;
        out.totals.python_threads += c.python_threads;
        out.totals.slot_wait_max_ns = std::max(out.totals.slot_wait_max_ns, c.slot_wait_max_ns);
        out.children.push_back(std::move(c));
    }
    out.children_started = children_started_.load();
    for (std::size_t i = 0; i < kLeaveReasons; ++i) out.leaves[i] = leaves_[i].load();
    std::sort(out.children.begin(), out.children.end(),
              [](const ChildSnapshot& a, const ChildSnapshot& b) { return a.pid < b.pid; });
    std::stable_sort(out.requests.begin(), out.requests.end(), [](const RequestSnapshot& a, const RequestSnapshot& b) {
        return a.started_unix_ms < b.started_unix_ms;
    });
    for (auto& r : out.requests) {
        if (r.app >= kMaxApps) continue;
        r.app_name = apps[r.app].name;
        if (r.state == RequestState::waiting_for_slot)
            ++apps[r.app].waiting;
        else
            ++apps[r.app].in_app;
    }
    // Rows of one name (named by two children at once) add up.
    for (auto& a : apps) {
        if (a.name.empty() && a.id != kOtherApps) continue;
        if (a.name.empty() && a.requests == 0 && a.in_app == 0 && a.waiting == 0) continue;
        auto same = std::find_if(out.apps.begin(), out.apps.end(),
                                 [&](const AppSnapshot& b) { return !a.name.empty() && b.name == a.name; });
        if (same == out.apps.end()) {
            out.apps.push_back(a);
            continue;
        }
        same->requests += a.requests;
        same->app_4xx += a.app_4xx;
        same->app_5xx += a.app_5xx;
        same->exceptions += a.exceptions;
        same->timeouts += a.timeouts;
        same->app_time_ns += a.app_time_ns;
        for (std::size_t b = 0; b < kHistogramSize; ++b) same->buckets[b] += a.buckets[b];
        same->in_app += a.in_app;
        same->waiting += a.waiting;
        same->rate += a.rate;
    }
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

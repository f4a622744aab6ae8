#include "child/child_requests.h"

#include <chrono>

namespace pympm {

namespace {

// Request threads of one process a child can list (beyond: not listed).
constexpr int kMaxLeases = 4096;
// Which of this process's slots a thread holds. Trivially destructible: a
// thread may end after the runtime is gone.
std::atomic<bool> g_leased[kMaxLeases];

// A thread's slot, given back when the thread ends (httpd's threads live
// as long as their child; mod_http2's workers may come and go).
struct Lease {
    int index = -1;
    ~Lease() {
        if (index >= 0) g_leased[index].store(false, std::memory_order_release);
    }
};
thread_local Lease t_lease;

int lease(int count) {
    if (t_lease.index >= 0) return t_lease.index < count ? t_lease.index : -1;
    for (int i = 0; i < count && i < kMaxLeases; ++i) {
        bool free = false;
        if (!g_leased[i].load(std::memory_order_relaxed) &&
            g_leased[i].compare_exchange_strong(free, true, std::memory_order_acquire))
            return t_lease.index = i;
    }
    return -1;
}

} // namespace

void ChildRequests::attach(StatusBoard* board, ChildStats* entry, const std::vector<std::string>& apps) {
    if (!board || !entry) return;
    app_ids_.clear();
    for (const auto& name : apps) app_ids_.push_back(board->app_id(name));
    slots_ = board->slots_of(entry);
    slot_count_ = board->slots_per_child();
    entry_.store(entry, std::memory_order_release);
}

RequestSlot* ChildRequests::begin(int app_index, const SlotText& what, bool waiting) noexcept {
    ChildStats* e = entry_.load(std::memory_order_acquire);
    if (!e) return nullptr;
    const int i = lease(slot_count_);
    if (i < 0) {
        e->unlisted.fetch_add(1, std::memory_order_relaxed);
        return nullptr;
    }
    const auto now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    const std::uint32_t app =
        app_index >= 0 && static_cast<std::size_t>(app_index) < app_ids_.size() ? app_ids_[app_index] : kOtherApps;
    slot_begin(slots_[i], waiting ? RequestState::waiting_for_slot : RequestState::in_app, app, now_ms, what);
    return &slots_[i];
}

void ChildRequests::end(RequestSlot* slot, int app_index, const Outcome* outcome) noexcept {
    ChildStats* e = entry_.load(std::memory_order_acquire);
    if (!e) return; // the entry may be another child's by now
    if (slot) slot_end(*slot);
    if (!outcome) return;
    const int status = outcome->status;
    const std::uint32_t app =
        app_index >= 0 && static_cast<std::size_t>(app_index) < app_ids_.size() ? app_ids_[app_index] : kOtherApps;
    AppCounters& c = e->apps[app];
    c.requests.fetch_add(1, std::memory_order_relaxed);
    if (status >= 400 && status < 500)
        c.app_4xx.fetch_add(1, std::memory_order_relaxed);
    else if (status >= 500)
        c.app_5xx.fetch_add(1, std::memory_order_relaxed);
    if (outcome->raised) c.exceptions.fetch_add(1, std::memory_order_relaxed);
    if (outcome->timed_out) c.timeouts.fetch_add(1, std::memory_order_relaxed);
    c.app_time_ns.fetch_add(static_cast<std::uint64_t>(outcome->app_time.count()), std::memory_order_relaxed);
    c.app_time_buckets[app_time_bucket(std::chrono::duration<double>(outcome->app_time).count())].fetch_add(
        1, std::memory_order_relaxed);
}

} // namespace pympm

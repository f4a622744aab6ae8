// What one child shows of its current requests on the status board: each
// request thread leases one of the child's request slots for its life and
// writes its outermost request there (status/request_slots.h), and each
// request is counted under its app. Cheap on the request path: no lock, a
// clock read, and some thirty relaxed stores into memory the thread alone
// writes.
#pragma once

#include "status/status_board.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace pympm {

class ChildRequests {
public:
    // At child start, once its entry is claimed: `apps` are the names of
    // its apps by index ("/mount=target").
    void attach(StatusBoard* board, ChildStats* entry, const std::vector<std::string>& apps);
    // Before the entry is released: requests still running stop writing.
    void detach() noexcept { entry_.store(nullptr, std::memory_order_release); }

    // Whether requests are listed (the child is on the board).
    bool listing() const noexcept { return entry_.load(std::memory_order_relaxed) != nullptr; }
    // An outermost request arrives on this thread: its slot (null: none
    // free, or no board), listed from now on.
    RequestSlot* begin(int app_index, const SlotText& what, bool waiting) noexcept;
    // What a request that reached its app came to.
    struct Outcome {
        int status = 0;
        bool raised = false;
        bool timed_out = false; // it ran past PyRequestTimeout
        std::chrono::nanoseconds app_time{0};
    };
    // It ends; counted under its app if it reached it (`outcome`).
    void end(RequestSlot* slot, int app_index, const Outcome* outcome) noexcept;

private:
    std::atomic<ChildStats*> entry_{nullptr};
    RequestSlot* slots_ = nullptr;
    int slot_count_ = 0;
    std::vector<std::uint32_t> app_ids_; // by app index
};

} // namespace pympm

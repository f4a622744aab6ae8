// Lists an outermost request on the status board for its life
// (child/child_requests.h); a no-op for a nested request (null requests).
#pragma once

#include "child/child_requests.h"
#include "request/request_io.h"

namespace pympm {

class RequestListing {
public:
    RequestListing(ChildRequests* requests, int app_index, RequestIO& io, bool waiting) noexcept
        : requests_(requests && requests->listing() ? requests : nullptr), app_(app_index) {
        if (!requests_) return;
        RequestSummary s;
        io.summary(s);
        slot_ = requests_->begin(app_index, SlotText{s.method, s.path, s.client, s.vhost}, waiting);
        if (slot_) request_activity::current() = slot_;
    }
    ~RequestListing() {
        if (!requests_) return;
        if (slot_) request_activity::current() = nullptr;
        requests_->end(slot_, app_, counted_ ? &outcome_ : nullptr);
    }
    RequestListing(const RequestListing&) = delete;
    RequestListing& operator=(const RequestListing&) = delete;

    // It got its PyThreads slot: in the app from now on.
    void admitted() noexcept {
        if (slot_) slot_set_state(*slot_, RequestState::in_app);
    }
    // It reached the app, which answered `status`.
    void outcome(const ChildRequests::Outcome& o) noexcept {
        counted_ = true;
        outcome_ = o;
    }

private:
    ChildRequests* requests_;
    RequestSlot* slot_ = nullptr;
    int app_;
    bool counted_ = false;
    ChildRequests::Outcome outcome_;
};

} // namespace pympm

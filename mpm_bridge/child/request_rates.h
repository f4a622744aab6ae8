// Requests per second of one child, in all and per app, over a sliding
// window of the last ten seconds: sampled once a second by the child's
// watchdog thread (the only caller) from its counters on the board, and
// published there for the status page; and every kHistoryStepSeconds a
// point of the child's chart (its rate over the step, and the most requests
// in the app at one sample). Process-local samples: nothing on the request
// path.
#pragma once

#include "status/status_board.h"

#include <chrono>
#include <cstdint>

namespace pympm {

class RequestRates {
public:
    void sample(ChildStats& e, std::chrono::steady_clock::time_point now);

private:
    static constexpr int kSamples = 11; // ten seconds apart at the ends
    struct Sample {
        std::chrono::steady_clock::time_point at;
        std::uint64_t requests = 0;
        std::uint64_t apps[kMaxApps] = {};
    };
    void chart(ChildStats& e, std::chrono::steady_clock::time_point now, std::uint64_t requests);

    Sample ring_[kSamples];
    int taken_ = 0; // samples so far
    // The chart's step under way.
    bool step_open_ = false;
    std::chrono::steady_clock::time_point step_at_;
    std::uint64_t step_requests_ = 0;
    std::uint64_t step_peak_ = 0;
};

} // namespace pympm

// Runs short Python jobs for threads that must never block on the GIL (the
// request watchdog): a job runs on a thread of its own, and the caller
// waits for it only as long as it chooses. An app thread can hold the GIL
// for good inside C code; the watchdog must still act.
#pragma once

#include "base/lock_order.h"

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace pympm {

class GilRunner {
public:
    GilRunner() = default;
    ~GilRunner();
    GilRunner(const GilRunner&) = delete;
    GilRunner& operator=(const GilRunner&) = delete;

    // Runs `job` with the GIL on the runner thread; true if it finished
    // within `wait` (otherwise it still runs later: it must own its data).
    bool run(std::function<void()> job, std::chrono::milliseconds wait);
    // Ends the runner thread once its queue is empty. Call without the GIL.
    void stop();

private:
    struct Job {
        std::function<void()> fn;
        bool done = false;
    };
    void loop();

    LeafMutex mutex_;
    LeafCondition cv_;
    std::deque<std::shared_ptr<Job>> queue_;
    bool stopping_ = false;
    std::thread thread_;
};

} // namespace pympm

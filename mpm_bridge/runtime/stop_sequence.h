// The Python side of a child's stop (SPEC.md, "Lifecycle of an
// interpreter", step 4): signalling pympm.stopping while requests finish,
// steps 1-4 (pympm._shutdown), and the watchdog that ends the child when a
// step does not finish in time. ChildRuntime::notify_stopping and
// ChildRuntime::shutdown drive them.
#pragma once

#include "base/log.h"
#include "base/lock_order.h"
#include "python/interpreter.h"

#include <chrono>
#include <string>
#include <thread>

namespace pympm {

// Ends the process if a step of the stop sequence does not finish in time.
// An app thread can take the GIL for good (one long C call): then no Python
// runs any more and the child would hang on it, for ever on a graceful
// restart (httpd does not escalate those) and until SIGKILL on a stop.
class StopWatchdog {
public:
    StopWatchdog(std::chrono::milliseconds limit, LogSink& log, std::string what);
    ~StopWatchdog();
    StopWatchdog(const StopWatchdog&) = delete;
    StopWatchdog& operator=(const StopWatchdog&) = delete;

private:
    LeafMutex mutex_;
    LeafCondition cv_;
    bool done_ = false;
    std::thread thread_; // last: starts once the members above exist
};

// PyShutdownTimeout + this is what a stop step may take before the watchdog
// ends the child: within the spec's "timeout + 1 s", with room for logging
// stacks and atexit.
inline constexpr std::chrono::milliseconds kStopGrace{750};

// Starts the stopper: a thread (every signal blocked, as httpd's own
// threads) that takes the GIL and sets pympm.stopping, running the on_stop
// callbacks, so that neither httpd nor a running request waits for them.
std::thread start_stopper(const PympmModule& py, LogSink& log);

// Steps 1-4 of the stop sequence (pympm._shutdown), GIL held. False, with
// the names of the threads still running, if Python must not be finalised.
// Every Python temporary dies inside this function, before any
// finalisation.
bool run_stop_steps(const PympmModule& py, double timeout_s, LogSink& log, std::string& stuck_names);

} // namespace pympm

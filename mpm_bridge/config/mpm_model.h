// What the running MPM provides, read by the module with ap_mpm_query and
// handed to the core as plain values.
#pragma once

#include <string>

namespace pympm {

struct MpmModel {
    std::string name;          // "prefork", "worker", "event"
    bool threaded = false;     // AP_MPMQ_IS_THREADED != AP_MPMQ_NOT_SUPPORTED
    int threads_per_child = 1; // AP_MPMQ_MAX_THREADS (1 under prefork)
    int max_daemons = 1;       // AP_MPMQ_MAX_DAEMONS
    // mod_http2 serves h2/h2c: requests also arrive on its worker threads,
    // beyond the MPM's ThreadsPerChild.
    bool http2 = false;
};

} // namespace pympm

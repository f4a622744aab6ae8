#include "child/child_metrics.h"

#include "status/test_pause.h"

#include <cstdlib>
#include <fcntl.h>
#include <unistd.h>

namespace pympm {

void ChildMetrics::wait_ends(bool waited, std::chrono::nanoseconds took) {
    ChildStats* s = stats();
    if (!s) return;
    s->waiting.fetch_sub(1, std::memory_order_relaxed);
    if (!waited) return;
    const auto ns = static_cast<std::uint64_t>(took.count());
    s->counters.slot_waits.fetch_add(1, std::memory_order_relaxed);
    s->counters.slot_wait_ns.fetch_add(ns, std::memory_order_relaxed);
    std::uint64_t max = s->slot_wait_max_ns.load(std::memory_order_relaxed);
    while (ns > max && !s->slot_wait_max_ns.compare_exchange_weak(max, ns, std::memory_order_relaxed)) {}
}

void ChildMetrics::app_ends(std::chrono::nanoseconds took, int status, bool raised) {
    ChildStats* s = stats();
    if (!s) return;
    StatusCounters& c = s->counters;
    const double seconds = std::chrono::duration<double>(took).count();
    c.requests.fetch_add(1, std::memory_order_relaxed);
    test_pause::at("update");
    c.app_time_ns.fetch_add(static_cast<std::uint64_t>(took.count()), std::memory_order_relaxed);
    c.app_time_buckets[app_time_bucket(seconds)].fetch_add(1, std::memory_order_relaxed);
    if (status >= 400 && status < 500)
        c.app_4xx.fetch_add(1, std::memory_order_relaxed);
    else if (status >= 500)
        c.app_5xx.fetch_add(1, std::memory_order_relaxed);
    if (raised) c.exceptions.fetch_add(1, std::memory_order_relaxed);
    s->in_app.fetch_sub(1, std::memory_order_relaxed);
}

void ChildMetrics::set_limits(int request_timeout_s, std::uint64_t request_limit, std::uint64_t max_memory_bytes) {
    ChildStats* s = stats();
    if (!s) return;
    s->request_timeout_s.store(request_timeout_s, std::memory_order_relaxed);
    s->request_limit.store(request_limit, std::memory_order_relaxed);
    s->max_memory_bytes.store(max_memory_bytes, std::memory_order_relaxed);
}

void ChildMetrics::tick(std::uint64_t served) {
    ChildStats* s = stats();
    if (!s) return;
    s->served.store(served, std::memory_order_relaxed);
    rates_.sample(*s, std::chrono::steady_clock::now());
}

std::uint64_t resident_bytes() {
    // One descriptor for the life of the process: pread costs one syscall.
    static const int fd = ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    static const long page = ::sysconf(_SC_PAGESIZE);
    if (fd < 0) return 0;
    char buf[128];
    const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) return 0;
    buf[n] = '\0';
    char* p = buf;
    std::strtoull(p, &p, 10); // size
    const unsigned long long pages = std::strtoull(p, nullptr, 10);
    return static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page > 0 ? page : 4096);
}

} // namespace pympm

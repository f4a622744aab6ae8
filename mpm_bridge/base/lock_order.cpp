#include "base/lock_order.h"

#if PYMPM_LOCK_CHECKS

#include <execinfo.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

// Present in every sanitizer runtime; null (weak) in a plain debug build,
// where backtrace_symbols_fd() names the frames instead.
extern "C" void __sanitizer_symbolize_pc(void* pc, const char* fmt, char* out_buf, std::size_t out_buf_size)
    __attribute__((weak));

namespace pympm::lock_order {

namespace {

constexpr int kFrames = 40;
constexpr int kRecorded = 8; // leaves with their stacks; deeper nesting is counted only

struct Held {
    const void* mutex;
    void* frames[kFrames];
    int depth;
};

struct ThreadLocks {
    Held held[kRecorded];
    int count = 0;
};
thread_local ThreadLocks t_locks;

void put(const std::string& s) {
    const char* p = s.data();
    std::size_t left = s.size();
    while (left > 0) {
        const ssize_t n = ::write(STDERR_FILENO, p, left);
        if (n <= 0) return;
        p += n;
        left -= static_cast<std::size_t>(n);
    }
}

void put_stack(void* const* frames, int depth) {
    // Frame 0 is the recorder itself.
    for (int i = 1; i < depth; ++i) {
        if (__sanitizer_symbolize_pc) {
            char line[512];
            // The return address minus one: the call, not the next line.
            __sanitizer_symbolize_pc(static_cast<char*>(frames[i]) - 1, "%p in %f %L", line, sizeof line);
            put("    #" + std::to_string(i) + " " + line + "\n");
        } else {
            put("    #" + std::to_string(i) + " ");
            backtrace_symbols_fd(const_cast<void* const*>(frames + i), 1, STDERR_FILENO);
        }
    }
}

} // namespace

void leaf_locked(const void* m) noexcept {
    ThreadLocks& t = t_locks;
    if (t.count < kRecorded) {
        Held& h = t.held[t.count];
        h.mutex = m;
        h.depth = backtrace(h.frames, kFrames);
    }
    ++t.count;
}

void leaf_unlocked(const void* m) noexcept {
    ThreadLocks& t = t_locks;
    // Usually the last one locked; any order is allowed.
    const int recorded = t.count < kRecorded ? t.count : kRecorded;
    for (int i = recorded - 1; i >= 0; --i) {
        if (t.held[i].mutex != m) continue;
        for (int j = i; j + 1 < recorded; ++j) t.held[j] = t.held[j + 1];
        break;
    }
    if (t.count > 0) --t.count;
}

int leaves_held() noexcept { return t_locks.count; }

void violation(const char* problem, const char* where) noexcept {
    // One report: other threads that fail a check meanwhile wait for the
    // abort.
    static std::atomic<bool> reporting{false};
    if (reporting.exchange(true))
        for (;;) ::pause();
    try {
        put(std::string("mod_pympm lock check failed (pid ") + std::to_string(::getpid()) + ", tid " +
            std::to_string(::gettid()) + "): " + problem + " at " + where +
            "; the lock order is PyThreads slot -> GIL -> I/O lock -> leaf mutexes "
            "(docs/architecture.md, \"Threads and locks\")\n");
        void* frames[kFrames];
        const int depth = backtrace(frames, kFrames);
        put("  this thread, now:\n");
        put_stack(frames, depth);
        const ThreadLocks& t = t_locks;
        const int recorded = t.count < kRecorded ? t.count : kRecorded;
        for (int i = 0; i < recorded; ++i) {
            char id[32];
            std::snprintf(id, sizeof id, "%p", t.held[i].mutex);
            put(std::string("  leaf mutex ") + id + " held, locked at:\n");
            put_stack(t.held[i].frames, t.held[i].depth);
        }
    } catch (...) {}
    std::abort();
}

void gil_wanted(const char* how) noexcept {
    if (t_locks.count > 0) violation("the GIL is taken while a leaf mutex is held", how);
}

void python_wanted(const char* where) noexcept {
    if (t_locks.count > 0) violation("Python runs while a leaf mutex is held", where);
}

void outer_lock_wanted(const char* what) noexcept {
    if (t_locks.count > 0) violation("waiting for a lock taken without the GIL while a leaf mutex is held", what);
}

} // namespace pympm::lock_order

#endif

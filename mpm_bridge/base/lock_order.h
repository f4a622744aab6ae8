// The lock order of a child (docs/architecture.md, "Threads and locks"):
//
//     PyThreads slot -> GIL -> I/O lock (and the import lock) -> leaf mutexes
//
// A leaf mutex guards a few C++ fields for a few instructions. While one is
// held, the thread neither takes the GIL nor runs Python (a thread that
// holds the GIL may lock a leaf; one that holds a leaf never waits for the
// GIL). LeafMutex is the type of every such mutex, LeafCondition its
// condition variable.
//
// With PYMPM_LOCK_CHECKS (debug and sanitizer builds) a LeafMutex records a
// backtrace when it is locked, and taking the GIL or calling into Python
// (the GIL guards, PYMPM_ASSERT_GIL sites, python_entry) while this thread
// holds one aborts with both stacks. Otherwise LeafMutex is a std::mutex.
// It knows no Python (python/gil.h calls the checks), so that every folder
// may use it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#if !defined(PYMPM_LOCK_CHECKS)
#if defined(PYMPM_SANITIZE_BUILD) || !defined(NDEBUG)
#define PYMPM_LOCK_CHECKS 1
#else
#define PYMPM_LOCK_CHECKS 0
#endif
#endif

namespace pympm {

namespace lock_order {

#if PYMPM_LOCK_CHECKS
// This thread locked / unlocks the leaf mutex `m`.
void leaf_locked(const void* m) noexcept;
void leaf_unlocked(const void* m) noexcept;
// Leaf mutexes this thread holds now.
int leaves_held() noexcept;
// This thread is about to take the GIL (`how`: what takes it) or to run
// code that needs the GIL (`where`): aborts, with both stacks, if it holds
// a leaf mutex.
void gil_wanted(const char* how) noexcept;
void python_wanted(const char* where) noexcept;
// This thread is about to wait for a lock that is waited for without the
// GIL (the I/O lock, the import lock): a leaf mutex must not be held then.
void outer_lock_wanted(const char* what) noexcept;
// Writes `problem`, this thread's stack and where it locked its leaf
// mutexes to stderr (httpd's error log), then aborts.
[[noreturn]] void violation(const char* problem, const char* where) noexcept;
#else
inline int leaves_held() noexcept { return 0; }
inline void gil_wanted(const char*) noexcept {}
inline void python_wanted(const char*) noexcept {}
inline void outer_lock_wanted(const char*) noexcept {}
#endif

} // namespace lock_order

class LeafCondition;

// A mutex at the end of the lock order (see above). BasicLockable, so
// std::lock_guard and std::unique_lock take it.
class LeafMutex {
public:
    LeafMutex() = default;
    LeafMutex(const LeafMutex&) = delete;
    LeafMutex& operator=(const LeafMutex&) = delete;

#if PYMPM_LOCK_CHECKS
    void lock() {
        m_.lock();
        lock_order::leaf_locked(this);
    }
    bool try_lock() {
        if (!m_.try_lock()) return false;
        lock_order::leaf_locked(this);
        return true;
    }
    void unlock() {
        lock_order::leaf_unlocked(this);
        m_.unlock();
    }
#else
    void lock() { m_.lock(); }
    bool try_lock() { return m_.try_lock(); }
    void unlock() { m_.unlock(); }
#endif

private:
    friend class LeafCondition;
    std::mutex m_;
};

// std::condition_variable for a LeafMutex (no condition_variable_any
// overhead). While it waits, the mutex still counts as held by this thread:
// a waiting thread takes no GIL anyway.
class LeafCondition {
public:
    using Lock = std::unique_lock<LeafMutex>;

    void notify_one() noexcept { cv_.notify_one(); }
    void notify_all() noexcept { cv_.notify_all(); }

    void wait(Lock& lock) {
        Native n(lock);
        cv_.wait(n.inner);
    }
    template <class Pred>
    void wait(Lock& lock, Pred pred) {
        Native n(lock);
        cv_.wait(n.inner, pred);
    }
    template <class ClockT, class Duration>
    std::cv_status wait_until(Lock& lock, const std::chrono::time_point<ClockT, Duration>& t) {
        Native n(lock);
        return cv_.wait_until(n.inner, t);
    }
    template <class ClockT, class Duration, class Pred>
    bool wait_until(Lock& lock, const std::chrono::time_point<ClockT, Duration>& t, Pred pred) {
        Native n(lock);
        return cv_.wait_until(n.inner, t, pred);
    }
    template <class Rep, class Period, class Pred>
    bool wait_for(Lock& lock, const std::chrono::duration<Rep, Period>& d, Pred pred) {
        Native n(lock);
        return cv_.wait_for(n.inner, d, pred);
    }

private:
    // The std::mutex under a locked LeafMutex, for the wait; handed back
    // locked (the wait re-locks it).
    struct Native {
        explicit Native(Lock& lock) : inner(lock.mutex()->m_, std::adopt_lock) {}
        ~Native() { inner.release(); }
        Native(const Native&) = delete;
        Native& operator=(const Native&) = delete;
        std::unique_lock<std::mutex> inner;
    };
    std::condition_variable cv_;
};

} // namespace pympm

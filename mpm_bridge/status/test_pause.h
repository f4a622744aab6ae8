// Test-only pause points: lets a test stop a child at a named step of its
// work on the status board and kill it there (README, "Tests"). Set
//
//     PYMPM_TEST_PAUSE_AT=POINT[@TOKEN]
//
// in httpd's environment: the first child to reach POINT that removes the
// file TOKEN stops itself with SIGSTOP (without TOKEN, every child reaching
// POINT does). Points: claim:taken (entry taken, nothing written),
// claim:written (written, not yet live), claim:live (live, claim returned),
// update (a request half counted), release (a leaving child, entry still
// live). Unset, a point costs one relaxed load.
#pragma once

#include <atomic>

namespace pympm::test_pause {

namespace detail {
inline std::atomic<bool> g_armed{false};
void reach(const char* point) noexcept;
} // namespace detail

// From the value of PYMPM_TEST_PAUSE_AT (null or empty: no point). Once per
// process, before its threads start.
void configure(const char* spec) noexcept;

inline void at(const char* point) noexcept {
    if (detail::g_armed.load(std::memory_order_relaxed)) detail::reach(point);
}

} // namespace pympm::test_pause

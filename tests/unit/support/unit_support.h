// Small helpers shared by the unit-test files (the e2e files have theirs in
// tests/support/test_support.h, which pulls in the httpd harness).
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <thread>

namespace pympm_test {

inline bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

// Polls `cond` every millisecond until it holds or `timeout` passes.
inline bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!cond()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

} // namespace pympm_test

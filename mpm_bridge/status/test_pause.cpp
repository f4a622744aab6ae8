#include "status/test_pause.h"

#include <csignal>
#include <cstdio>
#include <cstring>
#include <unistd.h>

namespace pympm::test_pause {

namespace {

// Plain arrays: reach() may run in a signal handler (a prefork child told
// to stop leaves the board from httpd's handler).
char g_point[64];
char g_token[4096];

} // namespace

void configure(const char* spec) noexcept {
    detail::g_armed.store(false);
    g_point[0] = g_token[0] = '\0';
    if (!spec || !*spec) return;
    const char* at = std::strchr(spec, '@');
    const std::size_t n = at ? static_cast<std::size_t>(at - spec) : std::strlen(spec);
    if (n == 0 || n >= sizeof g_point || (at && std::strlen(at + 1) >= sizeof g_token)) return;
    std::memcpy(g_point, spec, n);
    g_point[n] = '\0';
    if (at) std::snprintf(g_token, sizeof g_token, "%s", at + 1);
    detail::g_armed.store(true);
}

void detail::reach(const char* point) noexcept {
    if (std::strcmp(point, g_point) != 0) return;
    // One child per token: whoever removes it.
    if (g_token[0] && ::unlink(g_token) != 0) return;
    ::raise(SIGSTOP);
}

} // namespace pympm::test_pause

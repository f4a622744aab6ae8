// The directives' values as the core sees them (no httpd types): one
// ChildSettings per child, built from the main server's config.
#pragma once

#include "config/app_target.h"
#include "config/environment_file.h"

#include <string>
#include <vector>

namespace pympm {

struct Mount {
    std::string url_prefix; // "/" or "/app" (no trailing slash except for "/")
    AppTarget target;
};

// PyAsyncioLoop: the event loop ASGI apps run on.
enum class AsyncioLoop { automatic, asyncio, uvloop };
const char* asyncio_loop_name(AsyncioLoop loop); // "auto", "asyncio", "uvloop"

// PyWebSocketMaxMessage, PyWebSocketPing, PyWebSocketCompression.
struct WsSettings {
    unsigned long long max_message = 16ull * 1024 * 1024; // bytes, after inflate
    int ping_s = 20;                                      // 0: no pings
    int ping_timeout_s = 20;
    bool compression = true;
};

struct ChildSettings {
    std::vector<Mount> mounts;
    std::vector<std::string> python_path;              // PyPath, prepended to sys.path in order
    std::string home;                                  // PyHome ("" = the built-for Python)
    bool enable_threads = true;                        // PyEnableThreads
    int py_threads = 0;                                // PyThreads; 0 = auto
    int shutdown_timeout_s = 5;                        // PyShutdownTimeout
    bool utf8_mode = true;                             // PyUTF8Mode (Off: the locale's encoding)
    int request_timeout_s = 0;                         // PyRequestTimeout; 0 = off
    long max_requests = 0;                             // PyMaxRequests N; 0 = off
    long max_requests_jitter = 0;                      //   and its jitter
    long max_memory_mib = 0;                           // PyMaxMemory; 0 = off
    AsyncioLoop asyncio_loop = AsyncioLoop::automatic; // PyAsyncioLoop
    bool asgi_eager_start = true;                      // PyAsgiEagerStart
    EnvironmentList environment;                       // PyEnv, PyEnvFile, in config order
    WsSettings websocket;
};

} // namespace pympm

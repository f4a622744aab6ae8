// Per-server configuration (PyApp mounts per virtual host) and the global
// interpreter settings (PyHome, PyPath, PyEnableThreads, PyThreads,
// PyShutdownTimeout, PyUTF8Mode, PyRequestTimeout, PyMaxRequests,
// PyMaxMemory, PyEnv, PyEnvFile, PyWebSocket*), with their directive handlers.
#pragma once

#include "pympm_module.h"

#include "config/app_target.h"
#include "config/child_settings.h"
#include "config/mount_table.h"

#include <string>
#include <vector>

namespace pympm::httpd {

struct MountEntry {
    std::string prefix;
    AppTarget target;
    int app_index = -1; // into ChildSettings::mounts, assigned in child_init
};

struct ServerConfig {
    std::vector<MountEntry> mounts;
    MountTable table; // prefixes of `mounts`, same order

    // Global settings; only the main server's are used.
    std::vector<std::string> python_path;
    std::string home;
    int enable_threads = -1; // -1 unset (On)
    int py_threads = 0;      // 0 = auto
    int shutdown_timeout_s = 5;
    int utf8_mode = -1; // -1 unset (On)
    int request_timeout_s = 0;
    AsyncioLoop asyncio_loop = AsyncioLoop::automatic;
    int asgi_eager_start = 1;
    long max_requests = 0;
    long max_requests_jitter = 0;
    long max_memory_mib = 0;
    EnvironmentList environment; // PyEnv and PyEnvFile, read at config time
    WsSettings websocket;        // PyWebSocketMaxMessage, PyWebSocketPing, PyWebSocketCompression
};

ServerConfig* server_config(const server_rec* s);

// Everything a child needs, gathered from the main server and all vhosts;
// fills each MountEntry::app_index.
ChildSettings collect_child_settings(server_rec* main_server);

extern const command_rec directives[];

void* create_server_config(apr_pool_t* p, server_rec* s);
void* merge_server_config(apr_pool_t* p, void* base, void* add);

} // namespace pympm::httpd

#include "server_config.h"

#include "config/environment_file.h"
#include "config/python_home.h"

#include <http_core.h>
#include <apr_strings.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <strings.h>
#include <new>
#include <sys/stat.h>
#include <unistd.h>

namespace pympm::httpd {

namespace {

template <class T>
apr_status_t delete_object(void* p) {
    delete static_cast<T*>(p);
    return APR_SUCCESS;
}

// A C++ object whose lifetime is the pool's.
template <class T>
T* pool_new(apr_pool_t* p) {
    T* obj = new T();
    apr_pool_cleanup_register(p, obj, delete_object<T>, apr_pool_cleanup_null);
    return obj;
}

const char* error_text(cmd_parms* cmd, const std::string& message) {
    return apr_psprintf(cmd->pool, "%s: %s", cmd->directive->directive, message.c_str());
}

// Directive handlers run inside httpd's C code: no exception may escape.
template <class F>
const char* guarded(cmd_parms* cmd, F&& f) {
    try {
        return f();
    } catch (const std::exception& e) {
        return error_text(cmd, std::string("internal error: ") + e.what());
    } catch (...) {
        return error_text(cmd, "internal error");
    }
}

const char* global_only(cmd_parms* cmd) {
    // One interpreter per child serves every virtual host, so these settings
    // exist once, in the main server.
    return ap_check_cmd_context(cmd, GLOBAL_ONLY);
}

const char* set_app(cmd_parms* cmd, void*, const char* url, const char* target_text, const char* interface) {
    return guarded(cmd, [&]() -> const char* {
        ServerConfig* conf = server_config(cmd->server);
        std::string prefix, error;
        if (!normalize_mount_prefix(url, prefix, error)) return error_text(cmd, error);
        auto target = parse_app_target(target_text, error);
        if (!target) return error_text(cmd, error);
        if (interface) {
            auto which = parse_app_interface(interface);
            if (!which)
                return error_text(cmd, std::string("'") + interface +
                                           "' is not an interface; write wsgi (the default) or asgi after the target");
            target->interface = *which;
        }
        if (target->kind == AppTarget::Kind::script) {
            struct stat st;
            if (::stat(target->location.c_str(), &st) != 0)
                return error_text(cmd, "the script '" + target->location + "' does not exist (" + std::strerror(errno) +
                                           ")");
            if (!S_ISREG(st.st_mode))
                return error_text(cmd, "the script '" + target->location + "' is not a regular file");
            if (::access(target->location.c_str(), R_OK) != 0)
                return error_text(cmd, "the script '" + target->location + "' is not readable (" +
                                           std::strerror(errno) + ")");
        }
        if (conf->table.find_exact(prefix) >= 0)
            return error_text(cmd, "'" + prefix + "' is already mounted in this server; each URL-path takes one PyApp");
        conf->table.add(prefix);
        conf->mounts.push_back(MountEntry{prefix, std::move(*target), -1});
        return nullptr;
    });
}

const char* set_home(cmd_parms* cmd, void*, const char* dir) {
    if (const char* err = global_only(cmd)) return err;
    return guarded(cmd, [&]() -> const char* {
        std::string error;
        std::string path = dir;
        while (path.size() > 1 && path.back() == '/') path.pop_back();
        if (!check_python_home(path, error)) return error_text(cmd, error);
        server_config(cmd->server)->home = path;
        return nullptr;
    });
}

const char* add_path(cmd_parms* cmd, void*, const char* dir) {
    if (const char* err = global_only(cmd)) return err;
    return guarded(cmd, [&]() -> const char* {
        struct stat st;
        if (dir[0] != '/') return error_text(cmd, std::string("'") + dir + "' must be an absolute path");
        if (::stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
            return error_text(cmd, std::string("'") + dir + "' does not exist or is not a directory");
        server_config(cmd->server)->python_path.emplace_back(dir);
        return nullptr;
    });
}

const char* set_enable_threads(cmd_parms* cmd, void*, int on) {
    if (const char* err = global_only(cmd)) return err;
    server_config(cmd->server)->enable_threads = on ? 1 : 0;
    return nullptr;
}

const char* set_utf8_mode(cmd_parms* cmd, void*, int on) {
    if (const char* err = global_only(cmd)) return err;
    server_config(cmd->server)->utf8_mode = on ? 1 : 0;
    return nullptr;
}

const char* set_asgi_eager_start(cmd_parms* cmd, void*, int on) {
    if (const char* err = global_only(cmd)) return err;
    server_config(cmd->server)->asgi_eager_start = on ? 1 : 0;
    return nullptr;
}

const char* set_asyncio_loop(cmd_parms* cmd, void*, const char* value) {
    if (const char* err = global_only(cmd)) return err;
    AsyncioLoop loop;
    if (!strcasecmp(value, "auto"))
        loop = AsyncioLoop::automatic;
    else if (!strcasecmp(value, "asyncio"))
        loop = AsyncioLoop::asyncio;
    else if (!strcasecmp(value, "uvloop"))
        loop = AsyncioLoop::uvloop;
    else
        return error_text(cmd, std::string("'") + value +
                                   "' is not an event loop; write auto (uvloop when it is installed, else asyncio's), "
                                   "asyncio or uvloop");
    server_config(cmd->server)->asyncio_loop = loop;
    return nullptr;
}

bool parse_int(const char* s, long lo, long hi, long& out) {
    char* end = nullptr;
    errno = 0;
    long v = std::strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) return false;
    out = v;
    return true;
}

const char* set_py_threads(cmd_parms* cmd, void*, const char* value) {
    if (const char* err = global_only(cmd)) return err;
    return guarded(cmd, [&]() -> const char* {
        if (strcasecmp(value, "auto") == 0) {
            server_config(cmd->server)->py_threads = 0;
            return nullptr;
        }
        long n = 0;
        if (!parse_int(value, 1, 100000, n))
            return error_text(cmd, std::string("'") + value +
                                       "' is not a number of threads; write a positive integer or 'auto'");
        server_config(cmd->server)->py_threads = static_cast<int>(n);
        return nullptr;
    });
}

const char* set_shutdown_timeout(cmd_parms* cmd, void*, const char* value) {
    if (const char* err = global_only(cmd)) return err;
    return guarded(cmd, [&]() -> const char* {
        long n = 0;
        if (!parse_int(value, 0, 3600, n))
            return error_text(cmd, std::string("'") + value + "' is not a number of seconds between 0 and 3600");
        server_config(cmd->server)->shutdown_timeout_s = static_cast<int>(n);
        return nullptr;
    });
}

const char* set_request_timeout(cmd_parms* cmd, void*, const char* value) {
    if (const char* err = global_only(cmd)) return err;
    return guarded(cmd, [&]() -> const char* {
        long n = 0;
        if (!parse_int(value, 0, 86400, n))
            return error_text(cmd, std::string("'") + value +
                                       "' is not a number of seconds between 0 (no timeout) and 86400");
        server_config(cmd->server)->request_timeout_s = static_cast<int>(n);
        return nullptr;
    });
}

const char* set_max_requests(cmd_parms* cmd, void*, const char* count, const char* jitter) {
    if (const char* err = global_only(cmd)) return err;
    return guarded(cmd, [&]() -> const char* {
        long n = 0, j = 0;
        if (!parse_int(count, 0, 1000000000L, n))
            return error_text(cmd, std::string("'") + count +
                                       "' is not a number of requests; write a whole number, 0 for no limit");
        if (jitter && !parse_int(jitter, 0, 1000000000L, j))
            return error_text(cmd, std::string("'") + jitter +
                                       "' is not a jitter; write a whole number of requests (the second value "
                                       "spreads the recycling: each child leaves after N + random(0..jitter))");
        if (n == 0 && j > 0) return error_text(cmd, "a jitter needs a limit: write PyMaxRequests N jitter with N > 0");
        ServerConfig* conf = server_config(cmd->server);
        conf->max_requests = n;
        conf->max_requests_jitter = j;
        return nullptr;
    });
}

const char* set_max_memory(cmd_parms* cmd, void*, const char* value) {
    if (const char* err = global_only(cmd)) return err;
    return guarded(cmd, [&]() -> const char* {
        long n = 0;
        if (!parse_int(value, 0, 1048576, n))
            return error_text(cmd, std::string("'") + value +
                                       "' is not a size; write a whole number of MiB (e.g. 512), 0 for no limit");
        server_config(cmd->server)->max_memory_mib = n;
        return nullptr;
    });
}

const char* set_env(cmd_parms* cmd, void*, const char* name, const char* value) {
    if (const char* err = global_only(cmd)) return err;
    return guarded(cmd, [&]() -> const char* {
        if (!valid_environment_name(name))
            return error_text(cmd, std::string("'") + name +
                                       "' is not a variable name (letters, digits and _, not starting with a digit)");
        server_config(cmd->server)->environment.emplace_back(name, value);
        return nullptr;
    });
}

const char* set_ws_max_message(cmd_parms* cmd, void*, const char* value) {
    if (const char* err = global_only(cmd)) return err;
    return guarded(cmd, [&]() -> const char* {
        long n = 0;
        if (!parse_int(value, 1, 1L << 40, n))
            return error_text(cmd, std::string("'") + value + "' is not a size; write a whole number of bytes above 0");
        server_config(cmd->server)->websocket.max_message = static_cast<unsigned long long>(n);
        return nullptr;
    });
}

// Read here, by the root parent, each time httpd reads its configuration
// (a restart or reload re-reads it): the children get the values, never
// the file, so it may be readable by root alone.
const char* set_env_file(cmd_parms* cmd, void*, const char* path) {
    if (const char* err = global_only(cmd)) return err;
    return guarded(cmd, [&]() -> const char* {
        if (path[0] != '/') return error_text(cmd, std::string("'") + path + "' must be an absolute path");
        std::string error;
        if (!read_environment_file(path, server_config(cmd->server)->environment, error)) return error_text(cmd, error);
        return nullptr;
    });
}

const char* set_ws_ping(cmd_parms* cmd, void*, const char* interval, const char* timeout) {
    if (const char* err = global_only(cmd)) return err;
    return guarded(cmd, [&]() -> const char* {
        long i = 0, t = 0;
        if (!parse_int(interval, 0, 86400, i))
            return error_text(cmd, std::string("'") + interval +
                                       "' is not a number of seconds between 0 (no pings) and 86400");
        if (timeout && !parse_int(timeout, 1, 86400, t))
            return error_text(cmd, std::string("'") + timeout + "' is not a number of seconds between 1 and 86400");
        WsSettings& ws = server_config(cmd->server)->websocket;
        ws.ping_s = static_cast<int>(i);
        if (timeout) ws.ping_timeout_s = static_cast<int>(t);
        return nullptr;
    });
}

const char* set_ws_compression(cmd_parms* cmd, void*, int on) {
    if (const char* err = global_only(cmd)) return err;
    server_config(cmd->server)->websocket.compression = on != 0;
    return nullptr;
}

// httpd declares directive handlers as untyped function pointers; the cast
// through void(*)() says the mismatch is deliberate.
template <class F>
cmd_func as_cmd_func(F* f) {
    return reinterpret_cast<cmd_func>(reinterpret_cast<void (*)()>(f));
}

} // namespace

ServerConfig* server_config(const server_rec* s) {
    return static_cast<ServerConfig*>(ap_get_module_config(s->module_config, &pympm_module));
}

void* create_server_config(apr_pool_t* p, server_rec*) {
    try {
        return pool_new<ServerConfig>(p);
    } catch (...) {
        return nullptr;
    }
}

void* merge_server_config(apr_pool_t* p, void* base_v, void* add_v) {
    try {
        auto* base = static_cast<ServerConfig*>(base_v);
        auto* add = static_cast<ServerConfig*>(add_v);
        ServerConfig* merged = pool_new<ServerConfig>(p);
        *merged = *add;
        // A vhost inherits the main server's mounts unless it mounts the same
        // URL-path itself.
        for (const auto& m : base->mounts) {
            if (merged->table.find_exact(m.prefix) >= 0) continue;
            merged->table.add(m.prefix);
            merged->mounts.push_back(m);
        }
        return merged;
    } catch (...) {
        return add_v;
    }
}

ChildSettings collect_child_settings(server_rec* main_server) {
    ChildSettings settings;
    const ServerConfig* main = server_config(main_server);
    settings.python_path = main->python_path;
    settings.home = main->home;
    settings.enable_threads = main->enable_threads != 0;
    settings.py_threads = main->py_threads;
    settings.shutdown_timeout_s = main->shutdown_timeout_s;
    settings.utf8_mode = main->utf8_mode != 0;
    settings.request_timeout_s = main->request_timeout_s;
    settings.max_requests = main->max_requests;
    settings.max_requests_jitter = main->max_requests_jitter;
    settings.max_memory_mib = main->max_memory_mib;
    settings.asyncio_loop = main->asyncio_loop;
    settings.asgi_eager_start = main->asgi_eager_start != 0;
    settings.environment = main->environment;
    settings.websocket = main->websocket;
    for (server_rec* s = main_server; s; s = s->next) {
        for (auto& m : server_config(s)->mounts) {
            const std::string key = m.target.describe();
            int index = -1;
            for (std::size_t i = 0; i < settings.mounts.size(); ++i)
                if (settings.mounts[i].target.describe() == key) index = static_cast<int>(i);
            if (index < 0) {
                settings.mounts.push_back(Mount{m.prefix, m.target});
                index = static_cast<int>(settings.mounts.size() - 1);
            }
            m.app_index = index;
        }
    }
    return settings;
}

extern const command_rec directives[] = {
    AP_INIT_TAKE23("PyApp", as_cmd_func(set_app), nullptr, RSRC_CONF,
                   "PyApp URL-path target [wsgi|asgi]: mount an app (/path/app.py, /path/app.py:callable or "
                   "package.module:callable), WSGI by default"),
    AP_INIT_TAKE1("PyHome", as_cmd_func(set_home), nullptr, RSRC_CONF, "PyHome dir: virtualenv or Python prefix"),
    AP_INIT_ITERATE("PyPath", as_cmd_func(add_path), nullptr, RSRC_CONF,
                    "PyPath dir...: directories prepended to sys.path"),
    AP_INIT_FLAG("PyEnableThreads", as_cmd_func(set_enable_threads), nullptr, RSRC_CONF,
                 "PyEnableThreads On|Off: release the GIL whenever no request runs Python (default On)"),
    AP_INIT_TAKE1("PyThreads", as_cmd_func(set_py_threads), nullptr, RSRC_CONF,
                  "PyThreads N|auto: requests per child running Python at once (default auto)"),
    AP_INIT_TAKE1("PyShutdownTimeout", as_cmd_func(set_shutdown_timeout), nullptr, RSRC_CONF,
                  "PyShutdownTimeout seconds: how long a stopping child waits for app threads (default 5)"),
    AP_INIT_FLAG("PyUTF8Mode", as_cmd_func(set_utf8_mode), nullptr, RSRC_CONF,
                 "PyUTF8Mode On|Off: Python's UTF-8 mode, as python3 has in the C locale (default On); Off "
                 "uses the encoding of the locale in httpd's environment"),
    AP_INIT_TAKE1("PyRequestTimeout", as_cmd_func(set_request_timeout), nullptr, RSRC_CONF,
                  "PyRequestTimeout seconds: end a request that runs the app longer, and recycle the child if it "
                  "is still stuck as long again (default 0: no timeout)"),
    AP_INIT_TAKE12("PyMaxRequests", as_cmd_func(set_max_requests), nullptr, RSRC_CONF,
                   "PyMaxRequests N [jitter]: a child leaves gracefully after N + random(0..jitter) requests "
                   "(default 0: never)"),
    AP_INIT_TAKE1("PyMaxMemory", as_cmd_func(set_max_memory), nullptr, RSRC_CONF,
                  "PyMaxMemory MiB: a child leaves gracefully after a request that ends with its resident memory "
                  "above this (default 0: no limit)"),
    AP_INIT_TAKE1("PyAsyncioLoop", as_cmd_func(set_asyncio_loop), nullptr, RSRC_CONF,
                  "PyAsyncioLoop auto|asyncio|uvloop: the event loop of ASGI apps (default auto: uvloop when it is "
                  "installed, else asyncio's)"),
    AP_INIT_FLAG("PyAsgiEagerStart", as_cmd_func(set_asgi_eager_start), nullptr, RSRC_CONF,
                 "PyAsgiEagerStart On|Off: run an ASGI request's first step at once, making it a scheduled task "
                 "only once it waits (default On)"),
    AP_INIT_TAKE2("PyEnv", as_cmd_func(set_env), nullptr, RSRC_CONF,
                  "PyEnv NAME value: set NAME in each child's environment (os.environ) before any app is imported"),
    AP_INIT_TAKE1("PyEnvFile", as_cmd_func(set_env_file), nullptr, RSRC_CONF,
                  "PyEnvFile /path: NAME=value lines put into each child's environment (os.environ) before any app "
                  "is imported; read by httpd's root parent, so the file may be readable by root alone"),
    AP_INIT_TAKE1("PyWebSocketMaxMessage", as_cmd_func(set_ws_max_message), nullptr, RSRC_CONF,
                  "PyWebSocketMaxMessage bytes: a bigger WebSocket message (after inflate) closes the socket with "
                  "1009 (default 16777216)"),
    AP_INIT_TAKE12("PyWebSocketPing", as_cmd_func(set_ws_ping), nullptr, RSRC_CONF,
                   "PyWebSocketPing interval [timeout]: ping a WebSocket client silent for interval seconds, and "
                   "close with 1011 when nothing comes back within timeout (default 20 20; 0: no pings)"),
    AP_INIT_FLAG("PyWebSocketCompression", as_cmd_func(set_ws_compression), nullptr, RSRC_CONF,
                 "PyWebSocketCompression On|Off: negotiate permessage-deflate when the client offers it (default "
                 "On)"),
    {}};

} // namespace pympm::httpd

// mod_pympm: the module struct and its hooks. Python is started per child in
// child_init, never in the root parent; requests under a PyApp mount are
// claimed in translate_name and served by the handler.
#include "pympm_module.h"

#include "runtime/python_child.h"
#include "config/effective_model.h"
#include "config/environment_file.h"
#include "children_access.h"
#include "health_endpoint.h"
#include "httpd_child_control.h"
#include "httpd_log_sink.h"
#include "httpd_request_io.h"
#include "server_config.h"
#include "status_page.h"
#include "status/test_pause.h"

#include <ap_mmn.h>
#include <ap_mpm.h>
#include <mpm_common.h>
#include <http_core.h>
#include <http_main.h>
#include <http_protocol.h>
#include <http_request.h>
#include <apr_strings.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <strings.h>
#include <memory>
#include <unistd.h>

using namespace pympm;
using namespace pympm::httpd;

namespace {

const char kHandlerName[] = "pympm";

// The child's Python side. A plain pointer, not a static object: nothing
// that owns Python state may be destroyed by the C++ runtime when httpd
// unloads the module (the child pool's cleanup deletes it).
PythonChild* g_runtime = nullptr;
ServerLogSink* g_child_log = nullptr;
HttpdChildControl* g_control = nullptr;

// Set by check_config when the model cannot work; post_config then fails the
// start with the same sentence in the error log.
const char* g_model_error = nullptr;

// What translate_name found, for the handler.
struct RequestMatch {
    const MountEntry* mount;
    std::size_t script_name_len;
};

// mod_http2 serves h2 or h2c for some server: its requests run on the
// module's own worker threads, not the MPM's.
bool http2_enabled(server_rec* main_server) {
    if (!ap_find_linked_module("mod_http2.c")) return false;
    for (server_rec* s = main_server; s; s = s->next) {
        auto* core = static_cast<core_server_config*>(ap_get_core_module_config(s->module_config));
        if (!core || !core->protocols) continue;
        for (int i = 0; i < core->protocols->nelts; ++i) {
            const char* p = APR_ARRAY_IDX(core->protocols, i, const char*);
            if (p && (strcasecmp(p, "h2") == 0 || strcasecmp(p, "h2c") == 0)) return true;
        }
    }
    return false;
}

MpmModel query_mpm(server_rec* main_server) {
    MpmModel m;
    m.http2 = http2_enabled(main_server);
    m.name = ap_show_mpm();
    int v = 0;
    if (ap_mpm_query(AP_MPMQ_IS_THREADED, &v) == APR_SUCCESS) m.threaded = v != AP_MPMQ_NOT_SUPPORTED;
    if (ap_mpm_query(AP_MPMQ_MAX_THREADS, &v) == APR_SUCCESS && v > 0) m.threads_per_child = v;
    if (!m.threaded) m.threads_per_child = 1;
    if (ap_mpm_query(AP_MPMQ_MAX_DAEMONS, &v) == APR_SUCCESS && v > 0) m.max_daemons = v;
    return m;
}

int check_config(apr_pool_t* pconf, apr_pool_t*, apr_pool_t*, server_rec* s) {
    try {
        g_model_error = nullptr;
        ChildSettings settings = collect_child_settings(s);
        EffectiveModel model = compute_effective_model(settings, query_mpm(s));
        if (model.error) {
            g_model_error = apr_psprintf(pconf, PYMPM_APLOGNO(00005) "%s", model.error->c_str());
        } else if (const char* access = children_access_error(pconf, s)) {
            g_model_error = apr_psprintf(pconf, PYMPM_APLOGNO(00410) "%s", access);
        } else {
            return OK;
        }
        ap_log_error(APLOG_MARK, APLOG_CRIT | APLOG_STARTUP, 0, s, "%s", g_model_error);
        // apachectl -t stops here; a real start fails in post_config, once
        // the error log is open, so the reason is in the log too.
        if (ap_state_query(AP_SQ_RUN_MODE) == AP_SQ_RM_CONFIG_TEST) return HTTP_INTERNAL_SERVER_ERROR;
        return OK;
    } catch (...) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
}

int post_config(apr_pool_t* pconf, apr_pool_t*, apr_pool_t*, server_rec* s) {
    if (g_model_error) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "%s", g_model_error);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return setup_status_board(pconf, s);
}

apr_status_t child_exit(void*) {
    if (g_runtime) {
        g_runtime->shutdown();
        // If Python could not be finalised (stuck threads, or a request
        // interrupted on this thread), its references are left alone: the
        // process is about to exit anyway (PythonChild's destructor).
        delete g_runtime;
        g_runtime = nullptr;
    }
    delete g_child_log;
    g_child_log = nullptr;
    if (g_control) g_control->finish_leaving();
    return APR_SUCCESS;
}

// httpd points fd 2 of its processes at the main server's error log (unless
// the log is syslog); fd 1 of a child is whatever httpd was started with
// (/dev/null once it daemonised). A child that runs Python points fd 1 at the
// error log too: sys.stdout.fileno() is 1, and what subprocesses, C
// extensions and os.write(1, ...) print must land in the log, as fd 2's does.
void route_stdout_to_error_log(server_rec* s) {
    if (!s->error_log) return;
    apr_os_file_t fd = -1;
    if (apr_os_file_get(&fd, s->error_log) != APR_SUCCESS || fd < 0 || fd == STDOUT_FILENO) return;
    std::fflush(stdout);
    if (::dup2(fd, STDOUT_FILENO) < 0)
        ap_log_error(
            APLOG_MARK, APLOG_WARNING, errno, s,
            PYMPM_APLOGNO(00130) "could not point descriptor 1 at the error log: what the app writes to it is lost");
}

void child_init(apr_pool_t* pchild, server_rec* s) {
    try {
        ChildSettings settings = collect_child_settings(s);
        if (settings.mounts.empty()) return; // nothing mounted: Python never starts
        // PyEnv and PyEnvFile, before Python starts: os.environ is read from
        // the process's environment, and subprocesses inherit it.
        std::string env_error;
        if (!apply_environment(settings.environment, env_error))
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, PYMPM_APLOGNO(00411) "PyEnv: %s", env_error.c_str());
        route_stdout_to_error_log(s);
        test_pause::configure(std::getenv("PYMPM_TEST_PAUSE_AT")); // tests only (README, "Tests")
        int generation = 0;
        ap_mpm_query(AP_MPMQ_GENERATION, &generation);
        MpmModel mpm = query_mpm(s);
        g_child_log = new ServerLogSink(s);
        g_control = new HttpdChildControl(mpm.threaded && mpm.name != "prefork");
        g_control->track_connections();
        g_runtime = new PythonChild(std::move(settings), std::move(mpm), *g_child_log);
        g_runtime->set_status_board(status_board());
        g_runtime->set_control(g_control);
        apr_pool_cleanup_register(pchild, nullptr, child_exit, apr_pool_cleanup_null);
        g_runtime->start(generation);
    } catch (const std::exception& e) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, PYMPM_APLOGNO(00006) "child_init failed: %s", e.what());
    } catch (...) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, PYMPM_APLOGNO(00006) "child_init failed");
    }
}

#if AP_MODULE_MAGIC_AT_LEAST(20120211, 110)
void child_stopping(apr_pool_t*, int) {
    if (g_runtime) g_runtime->notify_stopping();
}
#endif

int translate_name(request_rec* r) {
    if (!r->uri || r->uri[0] != '/') return DECLINED;
    const ServerConfig* conf = server_config(r->server);
    if (!conf || conf->mounts.empty()) return DECLINED;
    MountMatch m = conf->table.match(r->uri);
    if (m.index < 0) return DECLINED;
    auto* match = static_cast<RequestMatch*>(apr_palloc(r->pool, sizeof(RequestMatch)));
    match->mount = &conf->mounts[static_cast<std::size_t>(m.index)];
    match->script_name_len = m.script_name.size();
    ap_set_module_config(r->request_config, &pympm_module, match);
    r->handler = kHandlerName;
    r->filename = apr_pstrcat(r->pool, "pympm:", match->mount->target.location.c_str(), nullptr);
    return OK;
}

int map_to_storage(request_rec* r) {
    // TRACE is httpd's to answer (TraceEnable), as for any other URL: its
    // own map_to_storage hook echoes the request or refuses it with 405.
    if (r->method_number == M_TRACE) return DECLINED;
    // Our URLs are not files: skip httpd's directory and file walk
    // (<Location> sections still apply).
    return ap_get_module_config(r->request_config, &pympm_module) ? OK : DECLINED;
}

// CGI's PATH_TRANSLATED, as ap_add_cgi_vars finds it: PATH_INFO looked up
// as a URL (re-escaped: the URI was unescaped before it was split). Only
// for a PATH_INFO: the lookup is a whole subrequest (translate, storage,
// access checks), which may run other modules' blocking hooks, so it is made
// here, before the request waits for its slot and takes the GIL. A URL of a
// mount is its script and the path below the mount, as mod_wsgi's lookup
// gives for a WSGIScriptAlias; a module mount has no file, hence none.
const char* path_translated(request_rec* r, const RequestMatch& match) {
    const char* path_info = r->uri + match.script_name_len;
    if (!*path_info) return nullptr;
    request_rec* sub = ap_sub_req_lookup_uri(ap_escape_uri(r->pool, path_info), r, nullptr);
    const char* out = nullptr;
    if (const auto* in_mount =
            static_cast<const RequestMatch*>(ap_get_module_config(sub->request_config, &pympm_module))) {
        if (in_mount->mount->target.kind == AppTarget::Kind::script)
            out = apr_pstrcat(r->pool, in_mount->mount->target.location.c_str(), sub->uri + in_mount->script_name_len,
                              nullptr);
    } else if (sub->filename) {
        out = apr_pstrcat(r->pool, sub->filename, sub->path_info, nullptr);
    }
    ap_destroy_sub_req(sub);
    return out;
}

int handler(request_rec* r) {
    if (!r->handler || std::strcmp(r->handler, kHandlerName) != 0) return DECLINED;
    auto* match = static_cast<RequestMatch*>(ap_get_module_config(r->request_config, &pympm_module));
    if (!match) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      PYMPM_APLOGNO(00007) "SetHandler pympm is not how apps are mounted; use PyApp URL-path target");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (!g_runtime || match->mount->app_index < 0) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PYMPM_APLOGNO(00008) "no Python runtime in this child for %s",
                      r->uri);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    try {
        HttpdRequestIO io(r, *match->mount, match->script_name_len);
        if (match->mount->target.interface == AppTarget::Interface::wsgi)
            io.set_path_translated(path_translated(r, *match));
        int status = g_runtime->handle(match->mount->app_index, io);
        return status == 0 ? OK : status;
    } catch (...) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PYMPM_APLOGNO(00004) "internal error serving %s", r->uri);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
}

int health_handler(request_rec* r) { return serve_health(r, g_runtime); }

void register_hooks(apr_pool_t*) {
    static const char* const after_alias[] = {"mod_alias.c", nullptr};
    ap_hook_check_config(check_config, nullptr, nullptr, APR_HOOK_LAST);
    ap_hook_post_config(post_config, nullptr, nullptr, APR_HOOK_MIDDLE);
    ap_hook_child_init(child_init, nullptr, nullptr, APR_HOOK_MIDDLE);
#if AP_MODULE_MAGIC_AT_LEAST(20120211, 110)
    ap_hook_child_stopping(child_stopping, nullptr, nullptr, APR_HOOK_MIDDLE);
#endif
    // After mod_alias, so an Alias for static files under a mount wins.
    ap_hook_translate_name(translate_name, after_alias, nullptr, APR_HOOK_MIDDLE);
    ap_hook_map_to_storage(map_to_storage, nullptr, nullptr, APR_HOOK_FIRST);
    ap_hook_handler(handler, nullptr, nullptr, APR_HOOK_MIDDLE);
    ap_hook_handler(health_handler, nullptr, nullptr, APR_HOOK_MIDDLE);
    register_leaving_hooks();
    register_status_hooks();
}

} // namespace

extern "C" {
module AP_MODULE_DECLARE_DATA pympm_module = {
    STANDARD20_MODULE_STUFF,
    nullptr,              // per-directory config
    nullptr,              // merge per-directory
    create_server_config, // per-server config
    merge_server_config,  // merge per-server
    directives,
    register_hooks,
#if defined(AP_MODULE_FLAG_NONE)
    AP_MODULE_FLAG_NONE,
#endif
};
}

#include "status_page.h"

#include "base/log.h"
#include "status/status_report.h"

#include <ap_mpm.h>
#include <apr_optional_hooks.h>
#include <apr_shm.h>
#include <apr_strings.h>
#include <http_core.h>
#include <http_main.h>
#include <http_protocol.h>
#include <http_request.h>
#include <mod_status.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>

namespace pympm::httpd {

namespace {

const char kHandlerName[] = "pympm-status";
const char kRetainedKey[] = "mod_pympm status board";

// Kept across graceful restarts in httpd's retained data.
struct RetainedBoard {
    apr_shm_t* shm;
    StatusBoard* board;
};

StatusBoard* g_board = nullptr;

std::int64_t now_unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

void put(request_rec* r, const std::string& text) { ap_rwrite(text.data(), static_cast<int>(text.size()), r); }

int status_handler(request_rec* r) {
    if (!r->handler || std::strcmp(r->handler, kHandlerName) != 0) return DECLINED;
    try {
        // The Allow header of a 405 comes from allowed_methods (GET implies HEAD).
        ap_allow_standard_methods(r, REPLACE_ALLOW, M_GET, -1);
        if (r->method_number != M_GET) return HTTP_METHOD_NOT_ALLOWED;
        if (!g_board) {
            ap_log_rerror(
                APLOG_MARK, APLOG_ERR, 0, r,
                PYMPM_APLOGNO(
                    00066) "the status board is not available (its shared memory could not be set up at start)");
            return HTTP_SERVICE_UNAVAILABLE;
        }
        const BoardSnapshot snap = g_board->snapshot(now_unix_ms());
        std::string format;
        HtmlOptions html;
        if (r->args) {
            char* args = apr_pstrdup(r->pool, r->args);
            for (char *last = nullptr, *kv = apr_strtok(args, "&", &last); kv; kv = apr_strtok(nullptr, "&", &last)) {
                if (std::strncmp(kv, "format=", 7) == 0)
                    format = kv + 7;
                else if (std::strcmp(kv, "json") == 0 || std::strcmp(kv, "prometheus") == 0)
                    format = kv; // ?json, as mod_status's ?auto
                else if (std::strncmp(kv, "refresh=", 8) == 0)
                    // As mod_status: at least 1 s; at most an hour.
                    html.refresh_s = std::clamp(std::atoi(kv + 8), 1, 3600);
            }
        }
        apr_table_setn(r->headers_out, "Cache-Control", "no-store");
        if (format == "json") {
            ap_set_content_type(r, "application/json");
            if (!r->header_only) put(r, render_status_json(snap));
        } else if (format == "prometheus") {
            ap_set_content_type(r, "text/plain; version=0.0.4; charset=utf-8");
            if (!r->header_only) put(r, render_status_prometheus(snap));
        } else if (format.empty() || format == "html") {
            ap_set_content_type(r, "text/html; charset=utf-8");
            if (!r->header_only) put(r, render_status_html(snap, html));
        } else {
            return HTTP_BAD_REQUEST;
        }
        return OK;
    } catch (...) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PYMPM_APLOGNO(00004) "internal error rendering the status page");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
}

int mod_status_section(request_rec* r, int flags) {
    if (!g_board) return DECLINED;
    try {
        const BoardSnapshot snap = g_board->snapshot(now_unix_ms());
        put(r, (flags & AP_STATUS_SHORT) ? render_status_auto(snap) : render_status_section(snap));
        return OK;
    } catch (...) {
        return DECLINED;
    }
}

} // namespace

int setup_status_board(apr_pool_t*, server_rec* s) {
    try {
        // The pre-flight config run of `apachectl -t` needs no board.
        if (ap_state_query(AP_SQ_RUN_MODE) == AP_SQ_RM_CONFIG_TEST) return OK;
        int daemons = 0, threads = 0;
        ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &daemons);
        ap_mpm_query(AP_MPMQ_HARD_LIMIT_THREADS, &threads);
        // Room for a full generation and another still finishing after a
        // graceful restart.
        const int entries = 2 * (daemons > 0 ? daemons : 16) + 8;
        // A request slot per request thread (ThreadLimit), and a few for
        // mod_http2's own workers.
        const int slots = std::clamp(threads, 1, 1024) + 4;
        auto* retained = static_cast<RetainedBoard*>(ap_retained_data_get(kRetainedKey));
        if (!retained) {
            retained = static_cast<RetainedBoard*>(ap_retained_data_create(kRetainedKey, sizeof(RetainedBoard)));
            retained->shm = nullptr;
            retained->board = nullptr;
        }
        // Reused only if laid out by this build (a graceful restart may load
        // another mod_pympm.so).
        if (retained->board &&
            StatusBoard::attach(apr_shm_baseaddr_get(retained->shm), apr_shm_size_get(retained->shm)) ==
                retained->board &&
            retained->board->entries() >= entries && retained->board->slots_per_child() >= slots) {
            g_board = retained->board;
            return OK;
        }
        const std::size_t bytes = StatusBoard::bytes_for(entries, slots);
        apr_shm_t* shm = nullptr;
        // Anonymous: inherited by every child forked from now on; lives as
        // long as the server process.
        apr_status_t rv = apr_shm_create(&shm, bytes, nullptr, s->process->pool);
        if (rv != APR_SUCCESS) {
            ap_log_error(
                APLOG_MARK, APLOG_WARNING, rv, s,
                PYMPM_APLOGNO(
                    00066) "could not set up %lu bytes of shared memory for the status board; pympm-status and "
                           "the counters of pympm.child_info() are not available",
                static_cast<unsigned long>(bytes));
            g_board = nullptr;
            return OK;
        }
        StatusBoard* board = StatusBoard::create(apr_shm_baseaddr_get(shm), apr_shm_size_get(shm), entries, slots);
        if (retained->shm) apr_shm_destroy(retained->shm); // too small for the new limits
        retained->shm = shm;
        retained->board = board;
        g_board = board;
        return OK;
    } catch (...) {
        g_board = nullptr;
        return OK;
    }
}

StatusBoard* status_board() { return g_board; }

void register_status_hooks() {
    ap_hook_handler(status_handler, nullptr, nullptr, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(ap, status_hook, mod_status_section, nullptr, nullptr, APR_HOOK_MIDDLE);
}

} // namespace pympm::httpd

#include "health_endpoint.h"

#include "runtime/python_child.h"
#include "base/log.h"
#include "pympm_module.h"

#include <ap_mpm.h>
#include <apr_strings.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>

#include <cstring>
#include <unistd.h>

namespace pympm::httpd {

int serve_health(request_rec* r, const PythonChild* runtime) {
    if (!r->handler || std::strcmp(r->handler, "pympm-health") != 0) return DECLINED;
    try {
        // The Allow header of a 405 comes from allowed_methods (GET implies HEAD).
        ap_allow_standard_methods(r, REPLACE_ALLOW, M_GET, -1);
        if (r->method_number != M_GET) return HTTP_METHOD_NOT_ALLOWED; // httpd adds Allow: GET, HEAD, ...
        ChildHealth health;
        if (runtime) {
            health = runtime->health();
        } else {
            // child_init did not leave a runtime (see PM00001/PM00006).
            health.state = ChildHealth::State::python_unavailable;
            health.pid = static_cast<long>(::getpid());
            int generation = 0;
            ap_mpm_query(AP_MPMQ_GENERATION, &generation);
            health.generation = generation;
        }
        const std::string body = health.render();
        r->status = health.http_status();
        ap_set_content_type(r, "text/plain; charset=us-ascii");
        apr_table_setn(r->headers_out, "Cache-Control", "no-store");
        ap_set_content_length(r, static_cast<apr_off_t>(body.size()));
        if (!r->header_only) ap_rwrite(body.data(), static_cast<int>(body.size()), r);
        return OK;
    } catch (...) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PYMPM_APLOGNO(00004) "internal error answering a health check");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
}

} // namespace pympm::httpd

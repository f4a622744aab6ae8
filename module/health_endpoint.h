// SetHandler pympm-health: the child's answer to a load balancer's health
// check (200 while its apps are imported and it is not stopping, else 503),
// given without the GIL or a PyThreads slot.
#pragma once

#include <httpd.h>

namespace pympm {
class PythonChild;
}

namespace pympm::httpd {

// A handler hook's body: DECLINED unless r->handler is pympm-health.
// `runtime` is null when the child has no Python runtime.
int serve_health(request_rec* r, const PythonChild* runtime);

} // namespace pympm::httpd

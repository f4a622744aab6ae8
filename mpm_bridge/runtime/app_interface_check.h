// An app mounted with the wrong interface, caught at import: an ASGI app
// mounted as WSGI would otherwise fail each request with a bare TypeError
// (its `send` argument missing) while the child's health stays ok.
#pragma once

#include "python/interpreter.h"

#include <string>

namespace pympm {

// Why `app` (just imported for a WSGI mount) is an ASGI app, or "" (also
// when the check itself fails: the app then runs as it is). GIL held.
std::string asgi_app_mounted_as_wsgi(const PympmModule& py, PyObject* app);

// The PM00412 line for it: the problem and the PyApp line that fixes it.
std::string wsgi_mount_error(const std::string& mount, const std::string& location, const std::string& callable,
                             const std::string& problem);

} // namespace pympm

// An app's failure as plain C++, for a request thread that runs no Python
// (ASGI: classified and formatted on the event loop, carried out by
// RequestCore::error_response on the request thread).
#pragma once

#include <string>

namespace pympm {

struct AppFailure {
    enum class Kind {
        none,
        timeout,          // cancelled by PyRequestTimeout
        disconnect_class, // ClientDisconnected / RequestBodyError
        raised,           // anything else (`traceback` says what)
        unavailable       // the app could not run: the child stops (503)
    } kind = Kind::none;
    std::string what = "raised an exception"; // for the log: "app X <what> for URI"
    std::string type_name, message;           // disconnect_class: "type: message"
    std::string traceback;
};

} // namespace pympm

// What every request of a child shares: the pympm module's objects, the
// effective model's flags, the Python types of the per-request objects and
// the interned environ keys. Owned by ChildRuntime; used with the GIL held.
#pragma once

#include "python_ref.h"
#include "interpreter.h"

#include <string>
#include <string_view>
#include <unordered_map>

namespace pympm {

// Interned str keys for environ, built on first sight of each CGI name, so a
// request costs no key allocation.
class EnvironKeys {
public:
    PyObject* get(std::string_view name); // borrowed; null on memory error
    void clear() { keys_.clear(); }

private:
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    std::unordered_map<std::string, PyRef, Hash, std::equal_to<>> keys_;
};

struct WsgiContext {
    PympmModule py;
    bool release_gil = true;  // PyEnableThreads On
    PyRef environ_template;   // constant wsgi.* entries, copied per request
    PyRef start_response_type;
    PyRef input_type;
    PyRef str_close;          // "close", interned
    PyRef str_fileno;
    PyRef str_read;
    PyRef str_tell;
    PyRef str_https;          // "https" / "http" values
    PyRef str_http;
    PyRef key_url_scheme;
    PyRef key_input;
    EnvironKeys keys;

    // Builds the types and constants. Needs the GIL and a loaded py module.
    bool init(bool multithread, bool multiprocess, std::string& error);
    void clear();
};

} // namespace pympm

// What every WSGI request of a child shares: the Python types of the
// per-request objects, the environ template and the interned environ keys.
// Owned by ChildRuntime; used with the GIL held.
#pragma once

#include "python_ref.h"
#include "interpreter.h"

#include <string>
#include <string_view>
#include <unordered_map>

namespace pympm {

// Interned str keys for environ, built on first sight of each CGI name, so a
// request costs no key allocation. Each key also remembers its last value:
// most (SERVER_*, HTTP_HOST, HTTP_USER_AGENT, ...) repeat from request to
// request, and a repeated value is shared instead of decoded again.
class EnvironKeys {
public:
    struct Entry {
        PyRef key;
        PyRef value;             // the last value while it keeps repeating
        std::string raw;         // its bytes
        unsigned changes = 0;    // times the value differed
    };
    // Null on memory error. Names beyond kMaxKeys (HTTP_* names are the
    // client's choice) get a key that is not kept.
    Entry* get(std::string_view name);
    // New reference: `raw` as str (latin-1, PEP 3333); null on error.
    static PyObject* value(Entry& entry, std::string_view raw);
    void clear() { keys_.clear(); spare_ = Entry{}; }

private:
    static constexpr std::size_t kMaxKeys = 1024;
    static constexpr unsigned kMaxChanges = 16;
    static constexpr std::size_t kMaxValue = 256;
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    std::unordered_map<std::string, Entry, Hash, std::equal_to<>> keys_;
    Entry spare_;
};

struct WsgiContext {
    PyRef environ_template;   // constant wsgi.* entries, copied per request
    PyRef start_response_type;
    PyRef input_type;
    PyRef str_close;          // "close", interned
    PyRef str_fileno;
    PyRef str_read;
    PyRef str_tell;
    PyRef str_write;
    PyRef str_filelike;
    PyRef str_https;          // "https" / "http" values
    PyRef str_http;
    PyRef key_url_scheme;
    PyRef key_input;
    EnvironKeys keys;

    // Builds the types and constants. Needs the GIL and a loaded py module.
    bool init(const PympmModule& py, bool multithread, bool multiprocess, std::string& error);
    void clear();
};

} // namespace pympm

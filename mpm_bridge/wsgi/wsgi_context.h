// What every WSGI request of a child shares: the Python types of the
// per-request objects, the environ template and the interned environ keys.
// Owned by ChildRuntime; used with the GIL held.
#pragma once

#include "request/cgi_environ.h"

#include "python/python_ref.h"
#include "python/interpreter.h"

#include <array>
#include <cstdint>
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
    // How a name becomes the environ's key: as given (a CGI variable), or
    // as a request header's HTTP_* name (cgi_environ.h).
    enum class Names { as_given, http_header };
    explicit EnvironKeys(Names names = Names::as_given) : names_(names) {}

    struct Entry {
        PyRef key;
        PyRef value;          // the last value while it keeps repeating
        std::string raw;      // its bytes
        unsigned changes = 0; // times the value differed
        int fixed = -1;       // a variable named as a CgiKey: its index
    };
    // Null on memory error. Names beyond kMaxKeys (HTTP_* names are the
    // client's choice) get a key that is not kept. A header name CGI does
    // not pass gets an entry without a key.
    Entry* get(std::string_view name);
    // New reference: `raw` as str (latin-1, PEP 3333); null on error.
    static PyObject* value(Entry& entry, std::string_view raw);
    void clear() {
        keys_.clear();
        spare_ = Entry{};
    }

private:
    static constexpr std::size_t kMaxKeys = 1024;
    static constexpr unsigned kMaxChanges = 16;
    static constexpr std::size_t kMaxValue = 256;
    struct Hash {
        using is_transparent = void;
        // FNV-1a: names are short, and looked up for every request.
        std::size_t operator()(std::string_view s) const {
            std::uint64_t h = 14695981039346656037ull;
            for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
            return static_cast<std::size_t>(h);
        }
    };
    Names names_;
    std::unordered_map<std::string, Entry, Hash, std::equal_to<>> keys_;
    Entry spare_;
};

struct WsgiContext {
    // Constant wsgi.* entries, copied per request; sized for a whole environ
    // so that the copy takes the rest without growing.
    PyRef environ_template;
    PyRef start_response_type;
    PyRef input_type;
    PyRef str_close; // "close", interned
    PyRef str_fileno;
    PyRef str_read;
    PyRef str_tell;
    PyRef str_filelike;
    PyRef str_https; // "https" / "http" values
    PyRef str_http;
    PyRef key_url_scheme;
    PyRef key_input;
    EnvironKeys keys;                                         // variables by name
    EnvironKeys header_keys{EnvironKeys::Names::http_header}; // headers as sent
    std::array<EnvironKeys::Entry, kCgiKeyCount> fixed_keys;  // by CgiKey
    // The first request's values of the variables cgi_key_usually_constant
    // names, and its wsgi.url_scheme, are in environ_template: a request
    // with the same value copies it instead of setting it.
    bool template_adopted = false;
    std::array<bool, kCgiKeyCount> template_has{};
    std::array<std::string, kCgiKeyCount> template_raw;
    bool template_https = false;
    // Under the GIL, once: false on a Python error.
    bool adopt_template(const CgiEnviron& cgi, bool https);

    // Builds the types and constants. Needs the GIL and a loaded py module.
    bool init(const PympmModule& py, bool multithread, bool multiprocess, std::string& error);
    void clear();
};

} // namespace pympm

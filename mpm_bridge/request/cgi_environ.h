// The CGI variables of a request, as the module hands them to the WSGI
// environ: the fixed ones by id (no name lookup per request), the request
// headers as sent (their HTTP_* names are made here, once per name and
// child), and the variables httpd and its modules set for the request
// (SetEnv, mod_ssl's SSL_*, mod_rewrite's E=, REDIRECT_*). The same
// variables as httpd's ap_add_common_vars and ap_add_cgi_vars give CGI
// scripts, without building them in an APR table first.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pympm {

// clang-format off
#define PYMPM_CGI_KEYS(X)                                                                                      \
    X(CONTENT_TYPE) X(CONTENT_LENGTH) X(PATH)                                                                  \
    X(LD_LIBRARY_PATH) X(SERVER_SIGNATURE) X(SERVER_SOFTWARE) X(SERVER_NAME) X(SERVER_ADDR) X(SERVER_PORT)     \
    X(REMOTE_HOST) X(REMOTE_ADDR) X(DOCUMENT_ROOT) X(REQUEST_SCHEME) X(CONTEXT_PREFIX)                         \
    X(CONTEXT_DOCUMENT_ROOT) X(SERVER_ADMIN) X(SCRIPT_FILENAME) X(REMOTE_PORT) X(REMOTE_USER)                  \
    X(REDIRECT_REMOTE_USER) X(AUTH_TYPE) X(REMOTE_IDENT) X(REDIRECT_URL) X(REDIRECT_QUERY_STRING)              \
    X(GATEWAY_INTERFACE) X(SERVER_PROTOCOL) X(REQUEST_METHOD) X(QUERY_STRING) X(REQUEST_URI) X(SCRIPT_NAME)    \
    X(PATH_INFO) X(PATH_TRANSLATED)
// clang-format on

// k_NAME: httpd's headers define some of the names as macros (REMOTE_HOST).
enum class CgiKey : std::uint8_t {
#define PYMPM_CGI_KEY_ENUM(name) k_##name,
    PYMPM_CGI_KEYS(PYMPM_CGI_KEY_ENUM)
#undef PYMPM_CGI_KEY_ENUM
};
#define PYMPM_CGI_KEY_COUNT(name) +1
constexpr std::size_t kCgiKeyCount = 0 PYMPM_CGI_KEYS(PYMPM_CGI_KEY_COUNT);
#undef PYMPM_CGI_KEY_COUNT

const char* cgi_key_name(CgiKey key);
// The key named `name`, or -1.
int cgi_key_index(std::string_view name);
// A variable most requests of a child give the same value (the server's
// name, port and software, the mount, the method, ...): the WSGI environ
// template keeps the first request's, and later requests with the same
// value copy it instead of setting it.
bool cgi_key_usually_constant(CgiKey key);

// "HTTP_" + the header's name upper-cased with '-' as '_' (ACCEPT_LANGUAGE);
// empty for a name with any other character than letters, digits and '-',
// which CGI does not pass (an underscore would let "X_A" pose as "X-A").
std::string cgi_header_name(std::string_view header);

struct CgiEnviron {
    struct Named {
        std::string_view name;
        std::string_view value;
        bool header; // a request header as sent, else a variable by its name
    };
    // By CgiKey; a view without data is absent (an empty one is present).
    std::array<std::string_view, kCgiKeyCount> fixed{};
    // In order: variables httpd and its modules set, then request headers.
    // Fixed keys override both, a header overrides a variable of its name.
    // Kept in place up to kInline (no allocation per request).
    void add(std::string_view name, std::string_view value, bool header) {
        if (count_ < kInline)
            inline_[count_++] = Named{name, value, header};
        else
            overflow_.push_back(Named{name, value, header});
    }
    template <typename F>
    void for_each_named(F&& f) const {
        for (std::size_t i = 0; i < count_; ++i) f(inline_[i]);
        for (const auto& n : overflow_) f(n);
    }
    std::size_t named_count() const { return count_ + overflow_.size(); }

    void set(CgiKey key, std::string_view value) { fixed[static_cast<std::size_t>(key)] = value; }
    void set(CgiKey key, const char* value) {
        if (value) set(key, std::string_view(value));
    }
    void unset(CgiKey key) { fixed[static_cast<std::size_t>(key)] = std::string_view(); }
    std::string_view get(CgiKey key) const { return fixed[static_cast<std::size_t>(key)]; }

private:
    static constexpr std::size_t kInline = 48;
    std::array<Named, kInline> inline_{};
    std::size_t count_ = 0;
    std::vector<Named> overflow_;
};

} // namespace pympm

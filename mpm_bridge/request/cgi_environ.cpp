#include "request/cgi_environ.h"

#include <algorithm>

namespace pympm {

const char* cgi_key_name(CgiKey key) {
    static constexpr const char* names[] = {
#define PYMPM_CGI_KEY_NAME(name) #name,
        PYMPM_CGI_KEYS(PYMPM_CGI_KEY_NAME)
#undef PYMPM_CGI_KEY_NAME
    };
    const auto i = static_cast<std::size_t>(key);
    return i < kCgiKeyCount ? names[i] : "";
}

int cgi_key_index(std::string_view name) {
    for (std::size_t i = 0; i < kCgiKeyCount; ++i)
        if (name == cgi_key_name(static_cast<CgiKey>(i))) return static_cast<int>(i);
    return -1;
}

bool cgi_key_usually_constant(CgiKey key) {
    switch (key) {
    case CgiKey::k_PATH:
    case CgiKey::k_LD_LIBRARY_PATH:
    case CgiKey::k_SERVER_SIGNATURE:
    case CgiKey::k_SERVER_SOFTWARE:
    case CgiKey::k_SERVER_NAME:
    case CgiKey::k_SERVER_ADDR:
    case CgiKey::k_SERVER_PORT:
    case CgiKey::k_REMOTE_ADDR: // behind a proxy, the proxy's
    case CgiKey::k_DOCUMENT_ROOT:
    case CgiKey::k_REQUEST_SCHEME:
    case CgiKey::k_CONTEXT_PREFIX:
    case CgiKey::k_CONTEXT_DOCUMENT_ROOT:
    case CgiKey::k_SERVER_ADMIN:
    case CgiKey::k_SCRIPT_FILENAME:
    case CgiKey::k_GATEWAY_INTERFACE:
    case CgiKey::k_SERVER_PROTOCOL:
    case CgiKey::k_REQUEST_METHOD:
    case CgiKey::k_QUERY_STRING:
    case CgiKey::k_SCRIPT_NAME: return true;
    default: return false;
    }
}

std::string cgi_header_name(std::string_view header) {
    static constexpr char kPrefix[] = "HTTP_";
    std::string out(sizeof kPrefix - 1 + header.size(), '_');
    std::copy(kPrefix, kPrefix + sizeof kPrefix - 1, out.begin());
    std::size_t i = sizeof kPrefix - 1;
    for (char c : header) {
        if (c >= 'a' && c <= 'z')
            out[i++] = static_cast<char>(c - 'a' + 'A');
        else if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            out[i++] = c;
        else if (c == '-')
            out[i++] = '_';
        else
            return std::string();
    }
    return out;
}

} // namespace pympm

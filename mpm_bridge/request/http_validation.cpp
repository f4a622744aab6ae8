#include "request/http_validation.h"

#include <array>

namespace pympm {

namespace {
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// RFC 9110 tchar, as a table: header names are checked on every response.
constexpr std::array<bool, 256> make_tchar_table() {
    std::array<bool, 256> t{};
    for (int c = '0'; c <= '9'; ++c) t[static_cast<std::size_t>(c)] = true;
    for (int c = 'a'; c <= 'z'; ++c) t[static_cast<std::size_t>(c)] = true;
    for (int c = 'A'; c <= 'Z'; ++c) t[static_cast<std::size_t>(c)] = true;
    for (char c : {'!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~'})
        t[static_cast<unsigned char>(c)] = true;
    return t;
}
constexpr std::array<bool, 256> kTchar = make_tchar_table();

bool is_tchar(unsigned char c) { return kTchar[c]; }
} // namespace

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

bool is_valid_status_line(std::string_view status, int& code) {
    if (status.size() < 4) return false;
    for (int i = 0; i < 3; ++i)
        if (status[static_cast<std::size_t>(i)] < '0' || status[static_cast<std::size_t>(i)] > '9') return false;
    if (status[0] == '0') return false;
    if (status[3] != ' ') return false;
    for (std::size_t i = 4; i < status.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(status[i]);
        if (c == '\t') continue;
        if (c < 0x20 || c == 0x7f) return false;
    }
    code = (status[0] - '0') * 100 + (status[1] - '0') * 10 + (status[2] - '0');
    return true;
}

bool is_http_token(std::string_view name) {
    if (name.empty()) return false;
    for (char c : name)
        if (!is_tchar(static_cast<unsigned char>(c))) return false;
    return true;
}

bool is_valid_header_value(std::string_view value) {
    for (char ch : value) {
        unsigned char c = static_cast<unsigned char>(ch);
        if (c == '\t') continue;
        if (c < 0x20 || c == 0x7f) return false;
    }
    return true;
}

bool is_hop_by_hop_header(std::string_view name) {
    // By length first: most names are compared with nothing.
    switch (name.size()) {
    case 2: return iequals(name, "te");
    case 7: return iequals(name, "upgrade");
    case 8: return iequals(name, "trailers");
    case 10: return iequals(name, "connection") || iequals(name, "keep-alive");
    case 17: return iequals(name, "transfer-encoding");
    case 18: return iequals(name, "proxy-authenticate");
    case 19: return iequals(name, "proxy-authorization");
    default: return false;
    }
}

} // namespace pympm

#include "http_validation.h"

#include <array>

namespace pympm {

namespace {
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool is_tchar(unsigned char c) {
    if (c >= '0' && c <= '9') return true;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
        return true;
    default:
        return false;
    }
}
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
    static constexpr std::array<std::string_view, 8> hop = {
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
        "te", "trailers", "transfer-encoding", "upgrade"};
    for (auto h : hop)
        if (iequals(name, h)) return true;
    return false;
}

} // namespace pympm

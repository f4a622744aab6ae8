#include "http1_response_parser.h"

#include <strings.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>

namespace pympm_test {

namespace {

constexpr std::size_t kMaxHead = 64 * 1024;

bool is_tchar(unsigned char c) {
    if (c >= '0' && c <= '9') return true;
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

// Field values and reason phrases: visible characters, SP, HTAB, obs-text.
bool is_field_text(std::string_view s) {
    for (unsigned char c : s)
        if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
    return true;
}

std::string trim_ows(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return std::string(s);
}

// Cursor over the stream; every line must end in CRLF.
struct Cursor {
    std::string_view wire;
    std::size_t pos;
    std::string error;

    enum class Line { ok, incomplete, bad };
    Line line(std::string_view& out) {
        auto lf = wire.find('\n', pos);
        if (lf == std::string_view::npos) {
            if (wire.size() - pos > kMaxHead) {
                error = "a line longer than 64 KiB";
                return Line::bad;
            }
            return Line::incomplete;
        }
        if (lf == pos || wire[lf - 1] != '\r') {
            error = "a line ending in a bare LF at offset " + std::to_string(lf);
            return Line::bad;
        }
        out = wire.substr(pos, lf - 1 - pos);
        if (out.find('\r') != std::string_view::npos) {
            error = "a bare CR inside a line at offset " + std::to_string(pos);
            return Line::bad;
        }
        pos = lf + 1;
        return Line::ok;
    }
};

} // namespace

bool WireResponse::closes() const {
    for (const auto& v : headers.get_all("Connection")) {
        std::size_t start = 0;
        while (start <= v.size()) {
            auto comma = v.find(',', start);
            std::string tok = trim_ows(
                std::string_view(v).substr(start, comma == std::string::npos ? std::string::npos : comma - start));
            if (::strcasecmp(tok.c_str(), "close") == 0) return true;
            if (comma == std::string::npos) break;
            start = comma + 1;
        }
    }
    return close_delimited || (version == "HTTP/1.0" && !headers.has("Keep-Alive"));
}

WireParseResult parse_http1_response(std::string_view wire, std::size_t& pos, bool head_request, bool at_eof) {
    WireParseResult result;
    WireResponse& resp = result.response;
    resp.begin = pos;
    Cursor cur{wire, pos, {}};
    auto malformed = [&](std::string why) {
        result.state = WireParse::malformed;
        result.error = std::move(why) + " (response starting at offset " + std::to_string(resp.begin) + ": \"" +
                       c_escape(wire.substr(resp.begin), 160) + "\")";
        return result;
    };
    auto incomplete = [&]() {
        result.state = WireParse::incomplete;
        return result;
    };

    std::string_view line;
    switch (cur.line(line)) {
    case Cursor::Line::incomplete:
        // Even a partial status line must look like one.
        if (wire.substr(pos, 5) != std::string_view("HTTP/").substr(0, std::min<std::size_t>(5, wire.size() - pos)))
            return malformed("not a status line");
        return incomplete();
    case Cursor::Line::bad: return malformed(cur.error);
    case Cursor::Line::ok: break;
    }
    // status-line = HTTP-version SP 3DIGIT SP reason-phrase
    const bool status_ok = line.size() >= 12 &&
                           (line.substr(0, 9) == "HTTP/1.1 " || line.substr(0, 9) == "HTTP/1.0 ") &&
                           (line.size() == 12 || line[12] == ' ');
    if (!status_ok) return malformed("malformed status line \"" + c_escape(line, 100) + "\"");
    resp.version = std::string(line.substr(0, 8));
    std::string_view code = line.substr(9, 3);
    if (code[0] < '1' || code[0] > '5' || code[1] < '0' || code[1] > '9' || code[2] < '0' || code[2] > '9')
        return malformed("status code \"" + c_escape(code) + "\" is not 100-599");
    resp.status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
    resp.reason = line.size() > 13 ? std::string(line.substr(13)) : std::string();
    if (!is_field_text(resp.reason)) return malformed("control characters in the reason phrase");

    for (;;) {
        switch (cur.line(line)) {
        case Cursor::Line::incomplete: return incomplete();
        case Cursor::Line::bad: return malformed(cur.error);
        case Cursor::Line::ok: break;
        }
        if (line.empty()) break;
        if (cur.pos - resp.begin > kMaxHead) return malformed("a response head over 64 KiB");
        if (line[0] == ' ' || line[0] == '\t') return malformed("an obs-folded header line");
        auto colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0)
            return malformed("header line without a name: \"" + c_escape(line, 100) + "\"");
        for (unsigned char c : line.substr(0, colon))
            if (!is_tchar(c)) return malformed("invalid header name \"" + c_escape(line.substr(0, colon), 100) + "\"");
        if (!is_field_text(line.substr(colon + 1)))
            return malformed("control characters in header " + std::string(line.substr(0, colon)));
        resp.headers.add(std::string(line.substr(0, colon)), trim_ows(line.substr(colon + 1)));
    }

    const auto te = resp.headers.get_all("Transfer-Encoding");
    const auto cl = resp.headers.get_all("Content-Length");
    const bool bodiless = head_request || resp.interim() || resp.status == 204 || resp.status == 304;
    if (resp.status == 204 && !cl.empty() && cl.front() != "0")
        return malformed("a 204 response with Content-Length " + cl.front());
    if (!te.empty() && !cl.empty()) return malformed("both Transfer-Encoding and Content-Length");
    if (cl.size() > 1) return malformed("several Content-Length fields");
    if (!bodiless && !te.empty()) {
        if (te.size() != 1 || ::strcasecmp(te.front().c_str(), "chunked") != 0)
            return malformed("Transfer-Encoding \"" + c_escape(te.front(), 60) + "\" is not just chunked");
        resp.chunked = true;
        for (;;) {
            switch (cur.line(line)) {
            case Cursor::Line::incomplete: return incomplete();
            case Cursor::Line::bad: return malformed(cur.error);
            case Cursor::Line::ok: break;
            }
            std::string_view hex = line.substr(0, line.find(';'));
            std::size_t size = 0;
            auto [p, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), size, 16);
            if (hex.empty() || ec != std::errc() || p != hex.data() + hex.size() || hex.size() > 15)
                return malformed("bad chunk size line \"" + c_escape(line, 60) + "\"");
            if (size == 0) {
                for (;;) { // trailer fields, then the blank line
                    switch (cur.line(line)) {
                    case Cursor::Line::incomplete: return incomplete();
                    case Cursor::Line::bad: return malformed(cur.error);
                    case Cursor::Line::ok: break;
                    }
                    if (line.empty()) break;
                    if (line.find(':') == std::string_view::npos || !is_field_text(line))
                        return malformed("bad trailer line \"" + c_escape(line, 60) + "\"");
                }
                break;
            }
            if (wire.size() - cur.pos < size + 2) {
                resp.body.append(wire.substr(cur.pos, std::min(size, wire.size() - cur.pos)));
                return incomplete();
            }
            resp.body.append(wire.substr(cur.pos, size));
            cur.pos += size;
            if (wire.substr(cur.pos, 2) != "\r\n") return malformed("chunk data not followed by CRLF");
            cur.pos += 2;
        }
    } else if (!bodiless && !cl.empty()) {
        std::uint64_t n = 0;
        const std::string& v = cl.front();
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
        if (v.empty() || ec != std::errc() || p != v.data() + v.size())
            return malformed("bad Content-Length \"" + c_escape(v, 40) + "\"");
        if (wire.size() - cur.pos < n) {
            resp.body.assign(wire.substr(cur.pos));
            return incomplete();
        }
        resp.body.assign(wire.substr(cur.pos, static_cast<std::size_t>(n)));
        cur.pos += static_cast<std::size_t>(n);
    } else if (!bodiless) {
        resp.close_delimited = true;
        resp.body.assign(wire.substr(cur.pos));
        if (!at_eof) return incomplete();
        cur.pos = wire.size();
    }
    resp.end = cur.pos;
    pos = cur.pos;
    result.state = WireParse::complete;
    return result;
}

std::string c_escape(std::string_view bytes, std::size_t max) {
    std::string out;
    const std::size_t n = std::min(bytes.size(), max);
    for (std::size_t i = 0; i < n; ++i) {
        const auto c = static_cast<unsigned char>(bytes[i]);
        switch (c) {
        case '\r': out += "\\r"; break;
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        case '\\': out += "\\\\"; break;
        case '"': out += "\\\""; break;
        default:
            if (c < 0x20 || c >= 0x7f) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\x%02x", c);
                out += buf;
                // A hex digit right after \xNN would extend the escape.
                if (i + 1 < n && std::isxdigit(static_cast<unsigned char>(bytes[i + 1]))) out += "\"\"";
            } else {
                out.push_back(static_cast<char>(c));
            }
        }
    }
    if (n < bytes.size()) out += "...(" + std::to_string(bytes.size()) + " bytes)";
    return out;
}

} // namespace pympm_test

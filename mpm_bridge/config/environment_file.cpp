#include "config/environment_file.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pympm {

namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
    return s;
}

// The value after '=': quoted or bare. False if a quote is not closed or
// text follows the closing one.
bool parse_value(std::string_view raw, std::string& value, std::string& why) {
    value.clear();
    if (raw.empty() || (raw.front() != '"' && raw.front() != '\'')) {
        value = std::string(raw);
        return true;
    }
    const char quote = raw.front();
    std::size_t i = 1;
    for (; i < raw.size() && raw[i] != quote; ++i) {
        char c = raw[i];
        if (quote == '"' && c == '\\' && i + 1 < raw.size()) {
            const char next = raw[++i];
            switch (next) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case '"':
            case '\\':
            case '$':
            case '`': c = next; break;
            default:
                // Not an escape: both characters stay, as in a shell.
                value += '\\';
                c = next;
            }
        }
        value += c;
    }
    if (i >= raw.size()) {
        why = std::string("its value opens a ") + (quote == '"' ? "double" : "single") +
              " quote that the line does not close (a value spans one line)";
        return false;
    }
    if (!trim(raw.substr(i + 1)).empty()) {
        why = "text follows the closing quote of its value";
        return false;
    }
    return true;
}

} // namespace

bool valid_environment_name(std::string_view name) {
    if (name.empty()) return false;
    for (std::size_t i = 0; i < name.size(); ++i) {
        const char c = name[i];
        const bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
    }
    return true;
}

bool parse_environment_text(std::string_view text, EnvironmentList& out, std::string& error) {
    std::size_t line_no = 0;
    while (!text.empty() || line_no == 0) {
        ++line_no;
        const std::size_t nl = text.find('\n');
        std::string_view line = trim(text.substr(0, nl));
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        if (line.empty() || line.front() == '#' || line.front() == ';') {
            if (text.empty()) break;
            continue;
        }
        const std::size_t eq = line.find('=');
        const std::string where = "line " + std::to_string(line_no) + ": ";
        if (eq == std::string_view::npos) {
            error = where + "not NAME=value (no '='; a comment starts with # or ;)";
            return false;
        }
        const std::string_view name = trim(line.substr(0, eq));
        if (!valid_environment_name(name)) {
            error = where + "the name before '=' is not a variable name (letters, digits and _, not starting "
                            "with a digit)";
            return false;
        }
        std::string value, why;
        if (!parse_value(trim(line.substr(eq + 1)), value, why)) {
            error = where + std::string(name) + ": " + why;
            return false;
        }
        if (value.find('\0') != std::string::npos) {
            error = where + std::string(name) + ": its value holds a NUL byte";
            return false;
        }
        out.emplace_back(std::string(name), std::move(value));
        if (text.empty()) break;
    }
    return true;
}

bool read_environment_file(const std::string& path, EnvironmentList& out, std::string& error) {
    auto failed = [&](const char* why) {
        error = "cannot read '" + path + "' (" + why + ")";
        return false;
    };
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return failed(std::strerror(errno));
    std::string text;
    struct stat st;
    bool ok = ::fstat(fd, &st) == 0;
    if (ok && !S_ISREG(st.st_mode)) {
        ::close(fd);
        return failed("not a regular file");
    }
    char buf[8192];
    for (ssize_t n; ok && (n = ::read(fd, buf, sizeof buf)) != 0;) {
        if (n < 0) {
            if (errno == EINTR) continue;
            ok = false;
        } else {
            text.append(buf, static_cast<std::size_t>(n));
        }
    }
    const int saved = errno;
    ::close(fd);
    if (!ok) return failed(std::strerror(saved));
    std::string why;
    if (!parse_environment_text(text, out, why)) {
        error = path + ", " + why;
        return false;
    }
    return true;
}

bool apply_environment(const EnvironmentList& vars, std::string& error) {
    for (const auto& [name, value] : vars) {
        if (::setenv(name.c_str(), value.c_str(), 1) != 0) {
            error = "could not set " + name + " (" + std::strerror(errno) + ")";
            return false;
        }
    }
    return true;
}

} // namespace pympm

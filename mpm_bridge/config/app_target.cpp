#include "config/app_target.h"

#include <cctype>
#include <cstring>

namespace pympm {

namespace {

bool is_ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_ident_char(char c) { return is_ident_start(c) || (c >= '0' && c <= '9'); }

// A callable may be an attribute path ("app.wsgi_app"), like gunicorn accepts.
bool is_attribute_path(std::string_view s) { return is_dotted_python_name(s); }

} // namespace

bool is_dotted_python_name(std::string_view name) {
    if (name.empty()) return false;
    bool at_start = true;
    for (char c : name) {
        if (c == '.') {
            if (at_start) return false; // empty component
            at_start = true;
        } else if (at_start) {
            if (!is_ident_start(c)) return false;
            at_start = false;
        } else if (!is_ident_char(c)) {
            return false;
        }
    }
    return !at_start;
}

std::string AppTarget::describe() const {
    return location + ":" + callable + (interface == Interface::asgi ? " (asgi)" : "");
}

std::optional<AppTarget::Interface> parse_app_interface(std::string_view text) {
    auto is = [&](const char* word) {
        if (text.size() != std::strlen(word)) return false;
        for (std::size_t i = 0; i < text.size(); ++i)
            if (std::tolower(static_cast<unsigned char>(text[i])) != word[i]) return false;
        return true;
    };
    if (is("wsgi")) return AppTarget::Interface::wsgi;
    if (is("asgi")) return AppTarget::Interface::asgi;
    return std::nullopt;
}

std::optional<AppTarget> parse_app_target(std::string_view text, std::string& error) {
    if (text.empty()) {
        error = "the app target is empty; write a script path (/srv/app/wsgi.py[:callable]) "
                "or package.module:callable";
        return std::nullopt;
    }
    AppTarget t;
    if (text.front() == '/') {
        t.kind = AppTarget::Kind::script;
        // The callable follows the last ':' only if what follows is a Python
        // name; paths rarely hold ':' but may.
        auto colon = text.rfind(':');
        if (colon != std::string_view::npos) {
            std::string_view callable = text.substr(colon + 1);
            if (callable.empty() || !is_attribute_path(callable)) {
                error = "'" + std::string(text) +
                        "': after ':' comes the name of the WSGI callable "
                        "(for example /srv/app/wsgi.py:application)";
                return std::nullopt;
            }
            t.location = std::string(text.substr(0, colon));
            t.callable = std::string(callable);
        } else {
            t.location = std::string(text);
        }
        return t;
    }
    t.kind = AppTarget::Kind::module;
    auto colon = text.find(':');
    if (colon == std::string_view::npos) {
        error = "'" + std::string(text) +
                "' is neither an absolute script path nor "
                "package.module:callable; write /path/to/app.py or mypackage.wsgi:application";
        return std::nullopt;
    }
    std::string_view module = text.substr(0, colon);
    std::string_view callable = text.substr(colon + 1);
    if (!is_dotted_python_name(module)) {
        error = "'" + std::string(text) + "': '" + std::string(module) +
                "' is not an importable module name; write package.module:callable";
        return std::nullopt;
    }
    if (!is_attribute_path(callable)) {
        error = "'" + std::string(text) + "': '" + std::string(callable) +
                "' is not a Python name; write package.module:callable";
        return std::nullopt;
    }
    t.location = std::string(module);
    t.callable = std::string(callable);
    return t;
}

} // namespace pympm

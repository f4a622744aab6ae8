// The three forms of a PyApp target:
//   /srv/app/wsgi.py            script file, callable "application"
//   /srv/app/wsgi.py:app        script file, named callable
//   package.module:callable     importable module
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pympm {

struct AppTarget {
    enum class Kind { script, module };
    // The calling convention: PEP 3333, or ASGI 3.0.
    enum class Interface { wsgi, asgi };
    Kind kind = Kind::script;
    Interface interface = Interface::wsgi;
    std::string location; // file path (script) or dotted module name (module)
    std::string callable = "application";

    // "path:callable" or "module:callable" (" (asgi)" after an ASGI one), as
    // logged in "child ready".
    std::string describe() const;
};

// "wsgi" or "asgi" (case-insensitive); nullopt otherwise.
std::optional<AppTarget::Interface> parse_app_interface(std::string_view text);

// Parses a target. On failure returns nullopt and sets `error` to a sentence
// saying what is wrong and what to write instead. Does not touch the
// filesystem; the caller checks that a script exists and is readable.
std::optional<AppTarget> parse_app_target(std::string_view text, std::string& error);

// True if `name` is a dotted sequence of Python identifiers (ASCII subset).
bool is_dotted_python_name(std::string_view name);

} // namespace pympm

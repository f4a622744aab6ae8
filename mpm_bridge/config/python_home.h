// PyHome validation, done when the config is read: the directory must exist
// and hold a Python of the X.Y this module was built for (a virtualenv's
// pyvenv.cfg, or a prefix's lib/pythonX.Y).
#pragma once

#include <string>

namespace pympm {

// "3.11": the Python this module embeds.
std::string built_python_version();

// Returns false and sets `error` to a sentence naming both versions (or
// what is missing) when `dir` cannot serve as PyHome.
bool check_python_home(const std::string& dir, std::string& error);

// The X.Y in a pyvenv.cfg text ("version = 3.11.2" or "version_info = ..."),
// or "" if none.
std::string pyvenv_version(const std::string& cfg_text);

} // namespace pympm

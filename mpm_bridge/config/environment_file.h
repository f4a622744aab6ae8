// PyEnv and PyEnvFile: variables put into each child's environment (and so
// into os.environ) before Python starts. The file is read when httpd reads
// its configuration, by the root parent: the children never open it.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pympm {

using EnvironmentList = std::vector<std::pair<std::string, std::string>>;

// A name a shell or os.environ takes: [A-Za-z_][A-Za-z0-9_]*.
bool valid_environment_name(std::string_view name);

// Parses the text of a KEY=VALUE file, as systemd's EnvironmentFile reads
// one: blank lines and lines starting with # or ; are skipped, spaces around
// the name and the value are trimmed, and a value in single quotes is taken
// as it is, in double quotes with \" \\ \n \t \$ \` as escapes. Appends to
// `out`; on a bad line returns false with `error` naming the line (its
// number; never its text, which may hold a secret).
bool parse_environment_text(std::string_view text, EnvironmentList& out, std::string& error);

// Reads and parses `path`; `error` names the file (and the line).
bool read_environment_file(const std::string& path, EnvironmentList& out, std::string& error);

// Sets each variable in this process's environment (setenv: later entries
// win). False, with `error`, if one could not be set.
bool apply_environment(const EnvironmentList& vars, std::string& error);

} // namespace pympm

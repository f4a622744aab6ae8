// The status page in its three formats, from one snapshot of the status
// board: HTML for people, JSON, and the Prometheus text exposition format
// (0.0.4). Pure functions: unit-tested without a server.
#pragma once

#include "status/status_board.h"

#include <string>

namespace pympm {

std::string render_status_html(const BoardSnapshot& s);
std::string render_status_json(const BoardSnapshot& s);
std::string render_status_prometheus(const BoardSnapshot& s);
// The lines mod_status's ?auto gains ("pympm...: value").
std::string render_status_auto(const BoardSnapshot& s);
// The section mod_status's HTML page gains.
std::string render_status_section(const BoardSnapshot& s);

} // namespace pympm

// The status page in its three formats, from one snapshot of the status
// board: HTML for people, JSON, and the Prometheus text exposition format
// (0.0.4). Pure functions: unit-tested without a server.
#pragma once

#include "status/status_board.h"

#include <string>

namespace pympm {

struct HtmlOptions {
    int refresh_s = 0; // ?refresh=N: the page reloads itself every N seconds (0: never)
};

std::string render_status_html(const BoardSnapshot& s, const HtmlOptions& options = {});
std::string render_status_json(const BoardSnapshot& s);
std::string render_status_prometheus(const BoardSnapshot& s);
// Client bytes made safe to show: printable ASCII as is ('\' doubled),
// valid UTF-8 as is; control characters, bytes that are not UTF-8 and the
// characters that reorder or hide text (bidi controls, zero-width ones)
// as \xNN or \u{NNNN}. Still to be escaped for HTML or JSON.
std::string displayable(std::string_view bytes);

// The lines mod_status's ?auto gains ("pympm...: value").
std::string render_status_auto(const BoardSnapshot& s);
// The section mod_status's HTML page gains.
std::string render_status_section(const BoardSnapshot& s);

} // namespace pympm

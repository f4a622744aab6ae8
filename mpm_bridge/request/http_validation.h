// Checks on what a WSGI app hands to start_response, so nothing malformed
// ever reaches the wire (RFC 9110 tokens and field values, PEP 3333 status
// and hop-by-hop rules).
#pragma once

#include <string_view>

namespace pympm {

// "200 OK": three digits (100..999), a space, a reason phrase of visible
// characters, spaces or tabs (may be empty per RFC 9112, but PEP 3333 wants
// one; we accept an empty phrase only after the space).
bool is_valid_status_line(std::string_view status, int& code);
bool is_http_token(std::string_view name);
// Visible characters, spaces, tabs and obs-text; never CR, LF, NUL or other
// controls.
bool is_valid_header_value(std::string_view value);
// Connection-level headers PEP 3333 forbids an app to set.
bool is_hop_by_hop_header(std::string_view name);
bool iequals(std::string_view a, std::string_view b);

} // namespace pympm

// The server-wide status board in shared memory (set up in the parent's
// post_config, kept across graceful restarts so that totals and the children
// of the old generation stay on it), the `SetHandler pympm-status` page, and
// mod_status's pympm section.
#pragma once

#include "pympm_module.h"

#include "status/status_board.h"

namespace pympm::httpd {

// post_config, in the parent: maps the board, once per server start.
int setup_status_board(apr_pool_t* pconf, server_rec* s);
// The board (null when it could not be set up).
StatusBoard* status_board();
// Registers the handler and mod_status's optional hook.
void register_status_hooks();

} // namespace pympm::httpd

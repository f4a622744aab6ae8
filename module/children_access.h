// The configuration as the children will meet it: httpd reads it as root,
// the children run as User/Group. A script, PyPath folder or PyHome those
// cannot read fails `apachectl -t` here instead of every request later.
#pragma once

#include "pympm_module.h"

namespace pympm::httpd {

// Null when the children's user can read every script, PyPath folder and
// PyHome of the configuration (or httpd does not switch users); else the
// message, allocated from `p`.
const char* children_access_error(apr_pool_t* p, server_rec* main_server);

} // namespace pympm::httpd

// Whether the children's User/Group can read a file or enter a folder that
// the configuration names (a script, PyPath, PyHome). httpd reads its
// configuration as root, so `apachectl -t` would pass where the children
// later fail; this judges by owner, group and mode bits, folder by folder.
#pragma once

#include <string>
#include <vector>

#include <sys/types.h>

namespace pympm {

struct Credentials {
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups; // supplementary, as initgroups() gives the children
    std::string user;          // for messages
    std::string group;
};

// `user`'s groups (getgrouplist), `gid` included.
std::vector<gid_t> groups_of(const std::string& user, gid_t gid);

// Empty when `who` can read `path` (and, for a folder, list and enter it)
// and search every folder above it; else why not, naming the path that
// stops them, its owner, group and mode. A path with a POSIX ACL is given
// the benefit of the doubt (its mode bits do not tell). Root can read
// anything. A path that does not exist is not judged here (the directive
// that names it says so).
std::string unreadable_reason(const std::string& path, const Credentials& who);

} // namespace pympm

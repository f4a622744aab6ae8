#include "config/readable_as.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/xattr.h>

namespace pympm {

namespace {

std::string user_name(uid_t uid) {
    const passwd* pw = ::getpwuid(uid);
    return pw ? pw->pw_name : std::to_string(uid);
}

std::string group_name(gid_t gid) {
    const group* gr = ::getgrgid(gid);
    return gr ? gr->gr_name : std::to_string(gid);
}

bool has_acl(const std::string& path) { return ::getxattr(path.c_str(), "system.posix_acl_access", nullptr, 0) >= 0; }

// The permission bits (r=4, w=2, x=1) that apply to `who` on `st`.
unsigned bits_for(const struct stat& st, const Credentials& who) {
    if (st.st_uid == who.uid) return (st.st_mode >> 6) & 7;
    const bool member =
        st.st_gid == who.gid || std::find(who.groups.begin(), who.groups.end(), st.st_gid) != who.groups.end();
    if (member) return (st.st_mode >> 3) & 7;
    return st.st_mode & 7;
}

std::string describe(const std::string& path, const struct stat& st) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return path + " (owner " + user_name(st.st_uid) + ", group " + group_name(st.st_gid) + ", mode " + mode + ")";
}

} // namespace

std::vector<gid_t> groups_of(const std::string& user, gid_t gid) {
    int n = 32;
    std::vector<gid_t> groups(static_cast<std::size_t>(n));
    while (::getgrouplist(user.c_str(), gid, groups.data(), &n) < 0) {
        if (n <= static_cast<int>(groups.size())) n = static_cast<int>(groups.size()) * 2;
        groups.resize(static_cast<std::size_t>(n));
    }
    groups.resize(static_cast<std::size_t>(n));
    return groups;
}

std::string unreadable_reason(const std::string& path, const Credentials& who) {
    if (who.uid == 0) return {};
    char resolved[PATH_MAX];
    if (!::realpath(path.c_str(), resolved)) return {};
    const std::string real = resolved;
    const std::string whom = "user " + who.user + " (group " + who.group + ")";
    // Every folder on the way must be searchable.
    for (std::size_t slash = 0; slash != std::string::npos && slash < real.size(); slash = real.find('/', slash + 1)) {
        const std::string folder = slash == 0 ? "/" : real.substr(0, slash);
        struct stat st;
        if (::stat(folder.c_str(), &st) != 0) return {};
        if (!(bits_for(st, who) & 1) && !has_acl(folder))
            return "the folder " + describe(folder, st) + " cannot be entered by " + whom;
    }
    struct stat st;
    if (::stat(real.c_str(), &st) != 0) return {};
    const unsigned need = S_ISDIR(st.st_mode) ? 5 : 4;
    if ((bits_for(st, who) & need) != need && !has_acl(real))
        return describe(real, st) + " cannot be " + (S_ISDIR(st.st_mode) ? "listed" : "read") + " by " + whom;
    return {};
}

} // namespace pympm

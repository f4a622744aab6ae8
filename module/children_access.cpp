#include "children_access.h"

#include "config/readable_as.h"
#include "server_config.h"

#include <apr_strings.h>
#include <unixd.h>

#include <grp.h>
#include <string>
#include <unistd.h>

namespace pympm::httpd {

namespace {

std::string group_name(gid_t gid) {
    const group* gr = ::getgrgid(gid);
    return gr ? gr->gr_name : std::to_string(gid);
}

} // namespace

const char* children_access_error(apr_pool_t* p, server_rec* main_server) {
    // Only a root parent switches users; otherwise the children are this
    // process, and the directives' own checks (access()) hold for them.
    if (::geteuid() != 0 || ap_unixd_config.user_id == 0) return nullptr;
    Credentials who;
    who.uid = ap_unixd_config.user_id;
    who.gid = ap_unixd_config.group_id;
    who.user = ap_unixd_config.user_name ? ap_unixd_config.user_name : std::to_string(who.uid);
    who.group = group_name(who.gid);
    who.groups = groups_of(who.user, who.gid);
    std::string problem;
    auto check = [&](const std::string& path, const std::string& what) {
        if (!problem.empty()) return;
        const std::string why = unreadable_reason(path, who);
        if (!why.empty())
            problem = what + " cannot be read by httpd's children, which run as User " + who.user + " and Group " +
                      who.group + " (httpd reads its configuration as root): " + why +
                      "; give them read access (e.g. chgrp " + who.group +
                      " and chmod g+rX) or run them as another User";
    };
    const ServerConfig* main = server_config(main_server);
    if (!main->home.empty()) check(main->home, "PyHome " + main->home);
    for (const auto& dir : main->python_path) check(dir, "PyPath " + dir);
    for (server_rec* s = main_server; s; s = s->next)
        for (const auto& m : server_config(s)->mounts)
            if (m.target.kind == AppTarget::Kind::script)
                check(m.target.location, "the script " + m.target.location + " of PyApp " + m.prefix);
    return problem.empty() ? nullptr : apr_pstrdup(p, problem.c_str());
}

} // namespace pympm::httpd

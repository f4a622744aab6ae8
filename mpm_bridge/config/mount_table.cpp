#include "config/mount_table.h"

namespace pympm {

bool normalize_mount_prefix(std::string_view in, std::string& out, std::string& error) {
    if (in.empty() || in.front() != '/') {
        error = "the URL-path '" + std::string(in) + "' must start with '/'";
        return false;
    }
    while (in.size() > 1 && in.back() == '/') in.remove_suffix(1);
    out.assign(in);
    return true;
}

int MountTable::add(std::string prefix) {
    prefixes_.push_back(std::move(prefix));
    return static_cast<int>(prefixes_.size() - 1);
}

int MountTable::find_exact(std::string_view prefix) const {
    for (std::size_t i = 0; i < prefixes_.size(); ++i)
        if (prefixes_[i] == prefix) return static_cast<int>(i);
    return -1;
}

MountMatch MountTable::match(std::string_view path) const {
    MountMatch best;
    std::size_t best_len = 0;
    for (std::size_t i = 0; i < prefixes_.size(); ++i) {
        const std::string& p = prefixes_[i];
        if (p == "/") {
            if (best.index < 0) {
                best.index = static_cast<int>(i);
                best.script_name = std::string_view();
                best.path_info = path;
            }
            continue;
        }
        if (path.size() < p.size() || path.compare(0, p.size(), p) != 0) continue;
        if (path.size() > p.size() && path[p.size()] != '/') continue;
        if (p.size() > best_len || best.index < 0 || prefixes_[static_cast<std::size_t>(best.index)] == "/") {
            best_len = p.size();
            best.index = static_cast<int>(i);
            best.script_name = path.substr(0, p.size());
            best.path_info = path.substr(p.size());
        }
    }
    return best;
}

} // namespace pympm

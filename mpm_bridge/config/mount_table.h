// URL-prefix matching for PyApp mounts: the longest matching prefix wins, and
// a prefix matches only at a path-segment boundary ("/app" serves "/app" and
// "/app/x", never "/apple").
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace pympm {

// Normalises a PyApp URL-path: must start with '/'; trailing slashes are
// dropped except for "/" itself. Returns false if the path is unusable.
bool normalize_mount_prefix(std::string_view in, std::string& out, std::string& error);

struct MountMatch {
    int index = -1;               // into the table, -1 if nothing matched
    std::string_view script_name; // the mount ("" for "/")
    std::string_view path_info;   // the rest of the path
};

class MountTable {
public:
    // Adds a normalised prefix; returns its index. Duplicates are the
    // caller's to reject (see find_exact).
    int add(std::string prefix);
    int find_exact(std::string_view prefix) const;
    MountMatch match(std::string_view path) const;
    std::size_t size() const { return prefixes_.size(); }
    const std::string& prefix(int index) const { return prefixes_[static_cast<std::size_t>(index)]; }

private:
    std::vector<std::string> prefixes_;
};

} // namespace pympm

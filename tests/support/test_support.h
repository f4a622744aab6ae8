// Small helpers shared by the end-to-end test files: JSON answers of the
// test apps, string checks, process states from /proc, and the one-child
// prefork server most error-path tests use (so "the next request is served
// by the same child" holds).
#pragma once

#include "httpd_server.h"

#include <boost/property_tree/json_parser.hpp>
#include <boost/test/unit_test.hpp>
#include <boost/property_tree/ptree.hpp>

#include <sys/types.h>

#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <utility>

namespace pympm_test {

using StringMap = std::map<std::string, std::string>;

// Preconditions (`* boost::unit_test::precondition(...)`) that ask the module
// under test, not the test binary: one e2e binary runs against the plain and
// the sanitized module (PYMPM_SANITIZE), so a compile-time check would lie.
inline boost::test_tools::assertion_result asan_build(boost::unit_test::test_unit_id) {
    boost::test_tools::assertion_result r(sanitizer_enabled("address"));
    r.message() << "needs an ASan build of the module (PYMPM_SANITIZE=address,...)";
    return r;
}

inline boost::test_tools::assertion_result no_asan_build(boost::unit_test::test_unit_id) {
    boost::test_tools::assertion_result r(!sanitizer_enabled("address"));
    r.message() << "not under ASan: its allocator reports and aborts instead of failing under RLIMIT_AS";
    return r;
}

inline boost::property_tree::ptree parse_json(const std::string& text) {
    boost::property_tree::ptree tree;
    std::istringstream in(text);
    boost::property_tree::read_json(in, tree);
    return tree;
}

// A flat JSON object of strings (what the environ apps return).
inline StringMap parse_flat_json(const std::string& text) {
    StringMap out;
    for (auto& [key, child] : parse_json(text)) out[key] = child.get_value<std::string>();
    return out;
}

inline std::string at(const StringMap& m, const std::string& key) {
    auto it = m.find(key);
    return it == m.end() ? std::string("<missing>") : it->second;
}

inline bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

inline bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// State and flags of a process from /proc/<pid>/stat ('?' when it is gone).
inline std::pair<char, unsigned long> process_state(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto rp = stat.rfind(')');
    if (rp == std::string::npos || rp + 2 >= stat.size()) return {'?', 0};
    std::istringstream fields(stat.substr(rp + 2));
    char state = '?';
    long ppid = 0, pgrp = 0, session = 0, tty = 0, tpgid = 0;
    unsigned long flags = 0;
    fields >> state >> ppid >> pgrp >> session >> tty >> tpgid >> flags;
    return {state, flags};
}

// Exists and is not a zombie.
inline bool process_running(pid_t pid) {
    const char state = process_state(pid).first;
    return state != '?' && state != 'Z' && state != 'X';
}

// The kernel is taking the process down (PF_EXITING, PF_DUMPCORE): it is
// writing a core or about to exit.
inline bool process_dying(pid_t pid) { return (process_state(pid).second & (0x4ul | 0x200ul)) != 0; }

inline HttpdOptions prefork_one_child(std::string pympm_config) {
    HttpdOptions o;
    o.mpm = Mpm::prefork;
    o.start_servers = 1;
    o.server_limit = 1;
    o.max_request_workers = 1;
    o.pympm_config = std::move(pympm_config);
    return o;
}

} // namespace pympm_test

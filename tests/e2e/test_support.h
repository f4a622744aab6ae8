// Small helpers shared by the end-to-end test files: JSON answers of the
// test apps, string checks, and the one-child prefork server most error-path
// tests use (so "the next request is served by the same child" holds).
#pragma once

#include "httpd_server.h"

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>

#include <map>
#include <sstream>
#include <string>

namespace pympm_test {

using StringMap = std::map<std::string, std::string>;

inline boost::property_tree::ptree parse_json(const std::string& text) {
    boost::property_tree::ptree tree;
    std::istringstream in(text);
    boost::property_tree::read_json(in, tree);
    return tree;
}

// A flat JSON object of strings (what the environ apps return).
inline StringMap parse_flat_json(const std::string& text) {
    StringMap out;
    for (auto& [key, child] : parse_json(text))
        out[key] = child.get_value<std::string>();
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

// One HTTP/2 stream's response as the tests' clients record it (H2Session,
// and the fuzzer's RawH2Connection).
#pragma once

#include "http_client.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace pympm_test {

// Header fields in order, lower-case names (pseudo-headers included).
using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct H2Stream {
    std::uint32_t id = 0;
    int status = 0;           // :status of the final response, 0 until it arrives
    std::vector<int> interim; // 1xx statuses before it
    HeaderList headers;       // the final response's fields (pseudo-headers included)
    HeaderList trailers;
    std::string body;
    bool end_stream = false; // the server ended the stream
    bool reset = false;      // RST_STREAM from the server
    std::uint32_t reset_code = 0;
    // First value of a field (lower-case name) of the final response, or "".
    std::string header(const std::string& name) const {
        for (const auto& [n, v] : headers)
            if (n == name) return v;
        return {};
    }
};

} // namespace pympm_test

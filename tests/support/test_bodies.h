// Request bodies that make reading code show its mistakes, shared by the
// e2e suites and the unit tier: every byte value, lines of every length
// (some longer than any read buffer), and uneven pieces to send them in.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <vector>

namespace pympm_test {

// Deterministic bytes of every value (NUL, CR, LF, 0xff...), lines of
// varying length, a 150 KB line at each MiB (longer than the core's and
// httpd's read buffers), and no LF at the very end.
inline std::string make_body(std::size_t size, std::uint32_t seed = 12345) {
    std::string s;
    s.reserve(size);
    std::uint32_t x = seed;
    while (s.size() < size) {
        x = x * 1103515245u + 12345u;
        const std::size_t pos = s.size();
        if (pos > 0 && pos % (1u << 20) < 200) {
            s.append(std::min<std::size_t>(150000, size - pos), 'L'); // a long line
            continue;
        }
        s.push_back(static_cast<char>((x >> 16) & 0xff));
    }
    if (!s.empty() && s.back() == '\n') s.back() = 'E';
    return s;
}

// Uneven pieces (HTTP chunks, or what httpd's input filters hand over):
// 1 B, 7 B, a few KiB, 64 KiB, 1 MiB... An empty body is one empty piece
// (chunked with no data: just the last chunk).
inline std::vector<std::string> split_chunks(const std::string& body) {
    static const std::size_t sizes[] = {1, 7, 100, 8191, 65536, 3000, 1u << 20, 17};
    std::vector<std::string> out;
    std::size_t pos = 0, i = 0;
    while (pos < body.size()) {
        const std::size_t n = std::min(sizes[i++ % std::size(sizes)], body.size() - pos);
        out.push_back(body.substr(pos, n));
        pos += n;
    }
    if (out.empty()) out.push_back("");
    return out;
}

} // namespace pympm_test

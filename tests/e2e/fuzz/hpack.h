// HPACK (RFC 7541) for the test HTTP/2 client: an encoder that writes every
// field as a literal without indexing and without Huffman coding (simple and
// always valid), and a full decoder (static and dynamic table, Huffman) for
// what the server sends. Errors in the server's encoding throw HpackError.
#pragma once

#include "h2_stream.h"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pympm_test {

class HpackError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Appends one field, "literal header field without indexing, new name".
void hpack_encode_literal(std::string& out, std::string_view name, std::string_view value);
std::string hpack_encode(const HeaderList& headers);

// An HPACK integer with an N-bit prefix; `first_byte_flags` are the bits
// above the prefix.
void hpack_encode_integer(std::string& out, std::uint64_t value, int prefix_bits, std::uint8_t first_byte_flags);

class HpackDecoder {
public:
    // Decodes one complete header block (HEADERS + CONTINUATION payloads).
    HeaderList decode(std::string_view block);

private:
    std::pair<std::string, std::string> field(std::uint64_t index) const;
    void insert(std::string name, std::string value);
    void evict_to(std::size_t limit);

    std::deque<std::pair<std::string, std::string>> dynamic_; // newest first
    std::size_t dynamic_size_ = 0;
    std::size_t max_size_ = 4096; // SETTINGS_HEADER_TABLE_SIZE we announce (the default)
};

} // namespace pympm_test

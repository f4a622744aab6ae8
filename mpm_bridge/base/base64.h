// Base64 (RFC 4648 §4, with padding) for the WebSocket handshake.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace pympm {

std::string base64_encode(const unsigned char* data, std::size_t len);
// nullopt unless `text` is canonical padded base64 (length a multiple of 4,
// only the alphabet, '=' only at the end, unused bits zero).
std::optional<std::string> base64_decode(std::string_view text);

} // namespace pympm

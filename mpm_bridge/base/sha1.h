// SHA-1 (FIPS 180-4) for Sec-WebSocket-Accept only: not for security.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace pympm {

std::array<std::uint8_t, 20> sha1(std::string_view data);

} // namespace pympm

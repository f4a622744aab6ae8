#include "hpack.h"

#include <algorithm>
#include <unordered_map>

namespace pympm_test {

namespace {

// RFC 7541 Appendix A.
const std::pair<const char*, const char*> kStaticTable[] = {
    {":authority", ""},
    {":method", "GET"},
    {":method", "POST"},
    {":path", "/"},
    {":path", "/index.html"},
    {":scheme", "http"},
    {":scheme", "https"},
    {":status", "200"},
    {":status", "204"},
    {":status", "206"},
    {":status", "304"},
    {":status", "400"},
    {":status", "404"},
    {":status", "500"},
    {"accept-charset", ""},
    {"accept-encoding", "gzip, deflate"},
    {"accept-language", ""},
    {"accept-ranges", ""},
    {"accept", ""},
    {"access-control-allow-origin", ""},
    {"age", ""},
    {"allow", ""},
    {"authorization", ""},
    {"cache-control", ""},
    {"content-disposition", ""},
    {"content-encoding", ""},
    {"content-language", ""},
    {"content-length", ""},
    {"content-location", ""},
    {"content-range", ""},
    {"content-type", ""},
    {"cookie", ""},
    {"date", ""},
    {"etag", ""},
    {"expect", ""},
    {"expires", ""},
    {"from", ""},
    {"host", ""},
    {"if-match", ""},
    {"if-modified-since", ""},
    {"if-none-match", ""},
    {"if-range", ""},
    {"if-unmodified-since", ""},
    {"last-modified", ""},
    {"link", ""},
    {"location", ""},
    {"max-forwards", ""},
    {"proxy-authenticate", ""},
    {"proxy-authorization", ""},
    {"range", ""},
    {"referer", ""},
    {"refresh", ""},
    {"retry-after", ""},
    {"server", ""},
    {"set-cookie", ""},
    {"strict-transport-security", ""},
    {"transfer-encoding", ""},
    {"user-agent", ""},
    {"vary", ""},
    {"via", ""},
    {"www-authenticate", ""},
};
constexpr std::size_t kStaticCount = sizeof kStaticTable / sizeof kStaticTable[0];

// RFC 7541 Appendix B: the code (right-aligned) and its length in bits, by
// symbol; symbol 256 is EOS.
struct HuffmanCode {
    std::uint32_t code;
    std::uint8_t bits;
};
const HuffmanCode kHuffman[257] = {
    {0x1ff8, 13},    {0x7fffd8, 23},   {0xfffffe2, 28}, {0xfffffe3, 28}, {0xfffffe4, 28},  {0xfffffe5, 28},
    {0xfffffe6, 28}, {0xfffffe7, 28},  {0xfffffe8, 28}, {0xffffea, 24},  {0x3ffffffc, 30}, {0xfffffe9, 28},
    {0xfffffea, 28}, {0x3ffffffd, 30}, {0xfffffeb, 28}, {0xfffffec, 28}, {0xfffffed, 28},  {0xfffffee, 28},
    {0xfffffef, 28}, {0xffffff0, 28},  {0xffffff1, 28}, {0xffffff2, 28}, {0x3ffffffe, 30}, {0xffffff3, 28},
    {0xffffff4, 28}, {0xffffff5, 28},  {0xffffff6, 28}, {0xffffff7, 28}, {0xffffff8, 28},  {0xffffff9, 28},
    {0xffffffa, 28}, {0xffffffb, 28},  {0x14, 6},       {0x3f8, 10},     {0x3f9, 10},      {0xffa, 12},
    {0x1ff9, 13},    {0x15, 6},        {0xf8, 8},       {0x7fa, 11},     {0x3fa, 10},      {0x3fb, 10},
    {0xf9, 8},       {0x7fb, 11},      {0xfa, 8},       {0x16, 6},       {0x17, 6},        {0x18, 6},
    {0x0, 5},        {0x1, 5},         {0x2, 5},        {0x19, 6},       {0x1a, 6},        {0x1b, 6},
    {0x1c, 6},       {0x1d, 6},        {0x1e, 6},       {0x1f, 6},       {0x5c, 7},        {0xfb, 8},
    {0x7ffc, 15},    {0x20, 6},        {0xffb, 12},     {0x3fc, 10},     {0x1ffa, 13},     {0x21, 6},
    {0x5d, 7},       {0x5e, 7},        {0x5f, 7},       {0x60, 7},       {0x61, 7},        {0x62, 7},
    {0x63, 7},       {0x64, 7},        {0x65, 7},       {0x66, 7},       {0x67, 7},        {0x68, 7},
    {0x69, 7},       {0x6a, 7},        {0x6b, 7},       {0x6c, 7},       {0x6d, 7},        {0x6e, 7},
    {0x6f, 7},       {0x70, 7},        {0x71, 7},       {0x72, 7},       {0xfc, 8},        {0x73, 7},
    {0xfd, 8},       {0x1ffb, 13},     {0x7fff0, 19},   {0x1ffc, 13},    {0x3ffc, 14},     {0x22, 6},
    {0x7ffd, 15},    {0x3, 5},         {0x23, 6},       {0x4, 5},        {0x24, 6},        {0x5, 5},
    {0x25, 6},       {0x26, 6},        {0x27, 6},       {0x6, 5},        {0x74, 7},        {0x75, 7},
    {0x28, 6},       {0x29, 6},        {0x2a, 6},       {0x7, 5},        {0x2b, 6},        {0x76, 7},
    {0x2c, 6},       {0x8, 5},         {0x9, 5},        {0x2d, 6},       {0x77, 7},        {0x78, 7},
    {0x79, 7},       {0x7a, 7},        {0x7b, 7},       {0x7ffe, 15},    {0x7fc, 11},      {0x3ffd, 14},
    {0x1ffd, 13},    {0xffffffc, 28},  {0xfffe6, 20},   {0x3fffd2, 22},  {0xfffe7, 20},    {0xfffe8, 20},
    {0x3fffd3, 22},  {0x3fffd4, 22},   {0x3fffd5, 22},  {0x7fffd9, 23},  {0x3fffd6, 22},   {0x7fffda, 23},
    {0x7fffdb, 23},  {0x7fffdc, 23},   {0x7fffdd, 23},  {0x7fffde, 23},  {0xffffeb, 24},   {0x7fffdf, 23},
    {0xffffec, 24},  {0xffffed, 24},   {0x3fffd7, 22},  {0x7fffe0, 23},  {0xffffee, 24},   {0x7fffe1, 23},
    {0x7fffe2, 23},  {0x7fffe3, 23},   {0x7fffe4, 23},  {0x1fffdc, 21},  {0x3fffd8, 22},   {0x7fffe5, 23},
    {0x3fffd9, 22},  {0x7fffe6, 23},   {0x7fffe7, 23},  {0xffffef, 24},  {0x3fffda, 22},   {0x1fffdd, 21},
    {0xfffe9, 20},   {0x3fffdb, 22},   {0x3fffdc, 22},  {0x7fffe8, 23},  {0x7fffe9, 23},   {0x1fffde, 21},
    {0x7fffea, 23},  {0x3fffdd, 22},   {0x3fffde, 22},  {0xfffff0, 24},  {0x1fffdf, 21},   {0x3fffdf, 22},
    {0x7fffeb, 23},  {0x7fffec, 23},   {0x1fffe0, 21},  {0x1fffe1, 21},  {0x3fffe0, 22},   {0x1fffe2, 21},
    {0x7fffed, 23},  {0x3fffe1, 22},   {0x7fffee, 23},  {0x7fffef, 23},  {0xfffea, 20},    {0x3fffe2, 22},
    {0x3fffe3, 22},  {0x3fffe4, 22},   {0x7ffff0, 23},  {0x3fffe5, 22},  {0x3fffe6, 22},   {0x7ffff1, 23},
    {0x3ffffe0, 26}, {0x3ffffe1, 26},  {0xfffeb, 20},   {0x7fff1, 19},   {0x3fffe7, 22},   {0x7ffff2, 23},
    {0x3fffe8, 22},  {0x1ffffec, 25},  {0x3ffffe2, 26}, {0x3ffffe3, 26}, {0x3ffffe4, 26},  {0x7ffffde, 27},
    {0x7ffffdf, 27}, {0x3ffffe5, 26},  {0xfffff1, 24},  {0x1ffffed, 25}, {0x7fff2, 19},    {0x1fffe3, 21},
    {0x3ffffe6, 26}, {0x7ffffe0, 27},  {0x7ffffe1, 27}, {0x3ffffe7, 26}, {0x7ffffe2, 27},  {0xfffff2, 24},
    {0x1fffe4, 21},  {0x1fffe5, 21},   {0x3ffffe8, 26}, {0x3ffffe9, 26}, {0xffffffd, 28},  {0x7ffffe3, 27},
    {0x7ffffe4, 27}, {0x7ffffe5, 27},  {0xfffec, 20},   {0xfffff3, 24},  {0xfffed, 20},    {0x1fffe6, 21},
    {0x3fffe9, 22},  {0x1fffe7, 21},   {0x1fffe8, 21},  {0x7ffff3, 23},  {0x3fffea, 22},   {0x3fffeb, 22},
    {0x1ffffee, 25}, {0x1ffffef, 25},  {0xfffff4, 24},  {0xfffff5, 24},  {0x3ffffea, 26},  {0x7ffff4, 23},
    {0x3ffffeb, 26}, {0x7ffffe6, 27},  {0x3ffffec, 26}, {0x3ffffed, 26}, {0x7ffffe7, 27},  {0x7ffffe8, 27},
    {0x7ffffe9, 27}, {0x7ffffea, 27},  {0x7ffffeb, 27}, {0xffffffe, 28}, {0x7ffffec, 27},  {0x7ffffed, 27},
    {0x7ffffee, 27}, {0x7ffffef, 27},  {0x7fffff0, 27}, {0x3ffffee, 26}, {0x3fffffff, 30},
};

std::uint64_t decode_integer(std::string_view in, std::size_t& pos, int prefix_bits) {
    if (pos >= in.size()) throw HpackError("truncated integer");
    const std::uint64_t max_prefix = (1u << prefix_bits) - 1;
    std::uint64_t value = static_cast<std::uint8_t>(in[pos++]) & max_prefix;
    if (value < max_prefix) return value;
    for (int shift = 0;; shift += 7) {
        if (pos >= in.size()) throw HpackError("truncated integer");
        if (shift > 56) throw HpackError("integer overflow");
        const auto b = static_cast<std::uint8_t>(in[pos++]);
        value += static_cast<std::uint64_t>(b & 0x7f) << shift;
        if (!(b & 0x80)) return value;
    }
}

// (bits << 32 | code) -> symbol, for every code of kHuffman.
const std::unordered_map<std::uint64_t, int>& huffman_symbols() {
    static const std::unordered_map<std::uint64_t, int> table = [] {
        std::unordered_map<std::uint64_t, int> t;
        for (int sym = 0; sym < 257; ++sym)
            t.emplace(static_cast<std::uint64_t>(kHuffman[sym].bits) << 32 | kHuffman[sym].code, sym);
        return t;
    }();
    return table;
}

std::string decode_huffman(std::string_view in) {
    const auto& symbols = huffman_symbols();
    std::string out;
    std::uint64_t acc = 0; // bits not yet decoded, right-aligned
    int nbits = 0;
    for (char ch : in) {
        acc = (acc << 8) | static_cast<std::uint8_t>(ch);
        nbits += 8;
        // Codes are 5 to 30 bits long and prefix-free: the first match is the symbol.
        for (bool matched = true; matched;) {
            matched = false;
            for (int len = 5; len <= std::min(nbits, 30) && !matched; ++len) {
                const std::uint64_t code = (acc >> (nbits - len)) & ((1ull << len) - 1);
                auto it = symbols.find(static_cast<std::uint64_t>(len) << 32 | code);
                if (it == symbols.end()) continue;
                if (it->second == 256) throw HpackError("EOS symbol in a Huffman string");
                out.push_back(static_cast<char>(it->second));
                nbits -= len;
                acc &= (1ull << nbits) - 1;
                matched = true;
            }
            if (!matched && nbits >= 30) throw HpackError("no Huffman code matches");
        }
    }
    // Padding: fewer than 8 bits, all ones (a prefix of EOS).
    if (nbits >= 8 || acc != (1ull << nbits) - 1) throw HpackError("bad Huffman padding");
    return out;
}

std::string decode_string(std::string_view in, std::size_t& pos) {
    if (pos >= in.size()) throw HpackError("truncated string");
    const bool huffman = static_cast<std::uint8_t>(in[pos]) & 0x80;
    const std::uint64_t len = decode_integer(in, pos, 7);
    if (len > in.size() - pos) throw HpackError("string longer than the header block");
    std::string_view raw = in.substr(pos, static_cast<std::size_t>(len));
    pos += static_cast<std::size_t>(len);
    return huffman ? decode_huffman(raw) : std::string(raw);
}

} // namespace

void hpack_encode_integer(std::string& out, std::uint64_t value, int prefix_bits, std::uint8_t first_byte_flags) {
    const std::uint64_t max_prefix = (1u << prefix_bits) - 1;
    if (value < max_prefix) {
        out.push_back(static_cast<char>(first_byte_flags | value));
        return;
    }
    out.push_back(static_cast<char>(first_byte_flags | max_prefix));
    value -= max_prefix;
    while (value >= 128) {
        out.push_back(static_cast<char>((value & 0x7f) | 0x80));
        value >>= 7;
    }
    out.push_back(static_cast<char>(value));
}

void hpack_encode_literal(std::string& out, std::string_view name, std::string_view value) {
    out.push_back('\0'); // literal without indexing, new name
    hpack_encode_integer(out, name.size(), 7, 0);
    out.append(name);
    hpack_encode_integer(out, value.size(), 7, 0);
    out.append(value);
}

std::string hpack_encode(const HeaderList& headers) {
    std::string out;
    for (const auto& [n, v] : headers) hpack_encode_literal(out, n, v);
    return out;
}

std::pair<std::string, std::string> HpackDecoder::field(std::uint64_t index) const {
    if (index == 0) throw HpackError("index 0");
    if (index <= kStaticCount) return {kStaticTable[index - 1].first, kStaticTable[index - 1].second};
    const std::uint64_t d = index - kStaticCount - 1;
    if (d >= dynamic_.size()) throw HpackError("index " + std::to_string(index) + " beyond the tables");
    return dynamic_[static_cast<std::size_t>(d)];
}

void HpackDecoder::evict_to(std::size_t limit) {
    while (dynamic_size_ > limit && !dynamic_.empty()) {
        dynamic_size_ -= dynamic_.back().first.size() + dynamic_.back().second.size() + 32;
        dynamic_.pop_back();
    }
}

void HpackDecoder::insert(std::string name, std::string value) {
    const std::size_t size = name.size() + value.size() + 32;
    evict_to(size > max_size_ ? 0 : max_size_ - size);
    if (size > max_size_) return; // an entry larger than the table empties it
    dynamic_.emplace_front(std::move(name), std::move(value));
    dynamic_size_ += size;
}

HeaderList HpackDecoder::decode(std::string_view block) {
    HeaderList out;
    std::size_t pos = 0;
    while (pos < block.size()) {
        const auto b = static_cast<std::uint8_t>(block[pos]);
        if (b & 0x80) { // indexed field
            out.push_back(field(decode_integer(block, pos, 7)));
        } else if ((b & 0xc0) == 0x40) { // literal with incremental indexing
            const std::uint64_t index = decode_integer(block, pos, 6);
            std::string name = index ? field(index).first : decode_string(block, pos);
            std::string value = decode_string(block, pos);
            out.emplace_back(name, value);
            insert(std::move(name), std::move(value));
        } else if ((b & 0xe0) == 0x20) { // dynamic table size update
            const std::uint64_t size = decode_integer(block, pos, 5);
            if (size > 4096) throw HpackError("table size update above SETTINGS_HEADER_TABLE_SIZE");
            max_size_ = static_cast<std::size_t>(size);
            evict_to(max_size_);
        } else { // literal without indexing (0000) or never indexed (0001)
            const std::uint64_t index = decode_integer(block, pos, 4);
            std::string name = index ? field(index).first : decode_string(block, pos);
            out.emplace_back(std::move(name), decode_string(block, pos));
        }
    }
    return out;
}

} // namespace pympm_test

#include "status/request_slots.h"

#include "status/test_pause.h"

#include <algorithm>
#include <cstring>

namespace pympm {

namespace {

constexpr std::size_t kFieldBytes[kSlotFields] = {kSlotMethodBytes, kSlotPathBytes, kSlotClientBytes, kSlotVhostBytes};
constexpr std::size_t kFieldWord[kSlotFields] = {0, kSlotMethodBytes / 8, (kSlotMethodBytes + kSlotPathBytes) / 8,
                                                 (kSlotMethodBytes + kSlotPathBytes + kSlotClientBytes) / 8};

// Stores `v` (cut to the field) in its words, NUL-terminated when shorter;
// only the words it needs. True if it was cut.
bool store_field(RequestSlot& s, SlotField f, std::string_view v) {
    const std::size_t cap = kFieldBytes[f];
    const std::size_t n = std::min(v.size(), cap);
    std::uint64_t words[kSlotPathBytes / 8];
    const std::size_t used = std::min(cap / 8, n / 8 + 1);
    words[used - 1] = 0; // the NUL, and no stale bytes after it
    if (n) std::memcpy(words, v.data(), n);
    for (std::size_t i = 0; i < used; ++i) s.text[kFieldWord[f] + i].store(words[i], std::memory_order_relaxed);
    return v.size() > cap;
}

std::string load_field(const RequestSlot& s, SlotField f) {
    char bytes[kSlotPathBytes];
    const std::size_t words = kFieldBytes[f] / 8;
    for (std::size_t i = 0; i < words; ++i) {
        const std::uint64_t w = s.text[kFieldWord[f] + i].load(std::memory_order_relaxed);
        std::memcpy(bytes + i * 8, &w, 8);
        if (std::memchr(bytes + i * 8, 0, 8)) break;
    }
    const void* nul = std::memchr(bytes, 0, kFieldBytes[f]);
    return std::string(bytes, nul ? static_cast<const char*>(nul) - bytes : kFieldBytes[f]);
}

} // namespace

const char* request_state_key(RequestState s) {
    switch (s) {
    case RequestState::idle: return "idle";
    case RequestState::waiting_for_slot: return "waiting_for_slot";
    case RequestState::in_app: return "in_app";
    case RequestState::reading_body: return "reading_body";
    case RequestState::writing_response: return "writing_response";
    case RequestState::websocket_open: return "websocket_open";
    }
    return "idle";
}

const char* request_state_text(RequestState s) {
    switch (s) {
    case RequestState::idle: return "idle";
    case RequestState::waiting_for_slot: return "waiting for a PyThreads slot";
    case RequestState::in_app: return "in the app";
    case RequestState::reading_body: return "reading the request body";
    case RequestState::writing_response: return "writing the response";
    case RequestState::websocket_open: return "WebSocket open";
    }
    return "idle";
}

void slot_begin(RequestSlot& s, RequestState state, std::uint32_t app, std::int64_t now_unix_ms,
                const SlotText& what) noexcept {
    const std::uint32_t seq = s.seq.load(std::memory_order_relaxed);
    s.seq.store(seq + 1, std::memory_order_relaxed);
    // A reader that sees any store below then sees `seq` changed.
    std::atomic_thread_fence(std::memory_order_release);
    s.state.store(static_cast<std::uint32_t>(state), std::memory_order_relaxed);
    s.started_unix_ms.store(now_unix_ms, std::memory_order_relaxed);
    s.app.store(app, std::memory_order_relaxed);
    std::uint32_t cut = 0;
    cut |= store_field(s, kFieldMethod, what.method) ? 1u << kFieldMethod : 0;
    test_pause::at("slot:writing");
    cut |= store_field(s, kFieldPath, what.path) ? 1u << kFieldPath : 0;
    cut |= store_field(s, kFieldClient, what.client) ? 1u << kFieldClient : 0;
    cut |= store_field(s, kFieldVhost, what.vhost) ? 1u << kFieldVhost : 0;
    s.truncated.store(cut, std::memory_order_relaxed);
    s.seq.store(seq + 2, std::memory_order_release);
}

void slot_end(RequestSlot& s) noexcept {
    const std::uint32_t seq = s.seq.load(std::memory_order_relaxed);
    s.seq.store(seq + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    s.state.store(0, std::memory_order_relaxed);
    s.seq.store(seq + 2, std::memory_order_release);
}

void slot_reset(RequestSlot& s) noexcept {
    // Never back to an earlier value: a reader holding one must not match.
    const std::uint32_t seq = s.seq.load(std::memory_order_relaxed);
    s.seq.store((seq | 1) + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    s.state.store(0, std::memory_order_relaxed);
}

SlotRead slot_read(const RequestSlot& s, RequestSnapshot& out) {
    for (int attempt = 0; attempt < kSeqlockReadAttempts; ++attempt) {
        const std::uint32_t before = s.seq.load(std::memory_order_acquire);
        if (before & 1) continue;
        const auto state = s.state.load(std::memory_order_relaxed);
        if (state == 0 || state >= kRequestStates) {
            std::atomic_thread_fence(std::memory_order_acquire);
            if (s.seq.load(std::memory_order_relaxed) == before) return SlotRead::idle;
            continue;
        }
        out.state = static_cast<RequestState>(state);
        out.started_unix_ms = s.started_unix_ms.load(std::memory_order_relaxed);
        out.app = s.app.load(std::memory_order_relaxed);
        out.truncated = s.truncated.load(std::memory_order_relaxed);
        out.method = load_field(s, kFieldMethod);
        out.path = load_field(s, kFieldPath);
        out.client = load_field(s, kFieldClient);
        out.vhost = load_field(s, kFieldVhost);
        std::atomic_thread_fence(std::memory_order_acquire);
        if (s.seq.load(std::memory_order_relaxed) == before) return SlotRead::busy;
    }
    return SlotRead::torn;
}

} // namespace pympm

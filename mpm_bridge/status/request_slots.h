// The current requests on the status board: each request thread of a child
// owns one slot in its child's part of the board and is the only writer of
// it. A slot is a seqlock: its owner makes `seq` odd, writes, and makes it
// even again; a reader copies the slot and keeps the copy only if `seq` was
// the same even value before and after. No lock, so a child stopped or
// killed in the middle of writing leaves an odd `seq` that readers skip
// (after a few tries) instead of waiting on; the next owner of the entry
// moves `seq` on to an even value. The state alone (in the app, reading
// the body, ...) is one atomic word, changed without the seqlock.
//
// The text is client bytes (method, path) and names (client address,
// vhost), truncated, stored as they are: whoever shows them escapes them.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace pympm {

enum class RequestState : std::uint32_t {
    idle = 0, // no request on this slot
    waiting_for_slot = 1,
    in_app = 2,
    reading_body = 3,
    writing_response = 4,
    websocket_open = 5, // an accepted WebSocket: its thread runs the socket (no slot, no GIL)
};
constexpr std::size_t kRequestStates = 6;
// "waiting_for_slot", "in_app", ... (JSON, Prometheus-free).
const char* request_state_key(RequestState s);
// What the state means, for people.
const char* request_state_text(RequestState s);

// Bytes kept of each field (longer ones are cut and flagged truncated).
inline constexpr std::size_t kSlotMethodBytes = 16;
inline constexpr std::size_t kSlotPathBytes = 128;
inline constexpr std::size_t kSlotClientBytes = 48;
inline constexpr std::size_t kSlotVhostBytes = 64;
// Reads of a board word or slot that changed hands meanwhile (its sequence
// moved) before the reader leaves it out: the status page never waits on a
// writer.
inline constexpr int kSeqlockReadAttempts = 8;
enum SlotField : std::uint32_t { kFieldMethod, kFieldPath, kFieldClient, kFieldVhost, kSlotFields };

struct RequestSlot {
    std::atomic<std::uint32_t> seq{0}; // odd while its owner writes
    std::atomic<std::uint32_t> state{0};
    std::atomic<std::int64_t> started_unix_ms{0};
    std::atomic<std::uint32_t> app{0};       // the board's app id (StatusBoard::app_id)
    std::atomic<std::uint32_t> truncated{0}; // bit (1 << SlotField) per field cut short
    std::atomic<std::uint64_t> text[(kSlotMethodBytes + kSlotPathBytes + kSlotClientBytes + kSlotVhostBytes) / 8]{};
};

// What a request shows, as the request thread hands it over (views valid
// for the call).
struct SlotText {
    std::string_view method, path, client, vhost;
};

// A consistent copy of a busy slot.
struct RequestSnapshot {
    int pid = 0;
    std::uint32_t app = 0;
    std::string app_name; // filled by the board's snapshot
    RequestState state = RequestState::idle;
    std::int64_t started_unix_ms = 0;
    std::string method, path, client, vhost; // raw bytes, not escaped
    std::uint32_t truncated = 0;
};

// The owner: a request begins on its slot, changes state, ends.
void slot_begin(RequestSlot& s, RequestState state, std::uint32_t app, std::int64_t now_unix_ms,
                const SlotText& what) noexcept;
inline void slot_set_state(RequestSlot& s, RequestState state) noexcept {
    s.state.store(static_cast<std::uint32_t>(state), std::memory_order_relaxed);
}
void slot_end(RequestSlot& s) noexcept;
// A new owner of the slot's entry: idle, and `seq` even and moved on (an
// earlier owner may have died in the middle of a write).
void slot_reset(RequestSlot& s) noexcept;

enum class SlotRead { idle, busy, torn };
// Reads the slot without waiting: `busy` with `out` filled (all but pid),
// `idle`, or `torn` when its owner was writing on every try.
SlotRead slot_read(const RequestSlot& s, RequestSnapshot& out);

// The current request of this thread, for the I/O layer to say what it is
// doing (null between requests, on threads without a slot, and in nested
// requests' own bookkeeping: they share the outer request's slot).
namespace request_activity {
inline thread_local RequestSlot* t_current = nullptr;
inline RequestSlot*& current() noexcept { return t_current; }
// While an I/O call of the current request runs: its state, then back.
class Scope {
public:
    explicit Scope(RequestState during) noexcept : slot_(current()) {
        if (slot_) slot_set_state(*slot_, during);
    }
    ~Scope() {
        if (slot_) slot_set_state(*slot_, RequestState::in_app);
    }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

private:
    RequestSlot* slot_;
};
} // namespace request_activity

} // namespace pympm

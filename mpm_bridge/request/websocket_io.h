// The connection of an accepted WebSocket, as the session sees it (no httpd
// types): the module implements it over the request's connection
// (module/httpd_websocket_io.h), the unit tests with a script. Every call but
// wake() is made by the request thread, without the GIL; wake() from any
// thread (the loop's send, the registry at stop).
#pragma once

#include "request/request_io.h"

#include <chrono>
#include <cstddef>
#include <initializer_list>
#include <string_view>

namespace pympm {

class WebSocketIO {
public:
    virtual ~WebSocketIO() = default;

    // The handshake's answer: 101 with Upgrade/Connection and `headers`
    // (Sec-WebSocket-Accept first, then the negotiated and the app's), and
    // the connection switched to the WebSocket. Throws ClientGone.
    virtual void accept(const HeaderList& headers) = 0;

    // The handshake is refused with 426: the answer says which version this
    // server speaks (Sec-WebSocket-Version: 13).
    virtual void refuse_version() = 0;

    enum class Ready { input, woken, timeout };
    // Waits for a wake(), `timeout`, or with `input` for the client; only
    // after read_some() gave 0 (bytes httpd already read do not show on the
    // socket). May return early (prefork looks at child_stopping() each
    // second).
    virtual Ready wait(std::chrono::milliseconds timeout, bool input) = 0;
    // Up to `len` bytes without blocking; 0: nothing now. Throws ClientGone
    // at EOF or on an error.
    virtual std::size_t read_some(char* buf, std::size_t len) = 0;
    // Writes and flushes `parts`, blocking at most httpd's Timeout. Throws
    // ClientGone.
    virtual void write(std::initializer_list<std::string_view> parts) = 0;
    // Makes a wait() return (at once if none is running: it is remembered).
    virtual void wake() noexcept = 0;
    // The child is stopping (prefork runs no hook in a busy child on a
    // graceful restart: its state is polled).
    virtual bool child_stopping() const = 0;
    // HTTP/2 (RFC 8441): the stream carries the WebSocket.
    virtual bool http2() const { return false; }
};

} // namespace pympm

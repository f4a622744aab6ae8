// The interned strings of WebSocket scopes and messages (ASGI WebSocket
// 2.4), and the messages every session hands out unchanged. One per child,
// owned by ChildRuntime next to its AsgiContext; built on the first
// WebSocket; used with the GIL held.
#pragma once

#include "python/python_ref.h"

namespace pympm {

struct WsNames {
    PyRef k_subprotocols, k_extensions, k_subprotocol, k_code, k_reason, k_text, k_bytes;
    PyRef v_websocket, v_ws, v_wss, v_connect, v_accept, v_receive, v_send, v_close, v_disconnect, v_http_start,
        v_http_body;
    PyRef asgi_version;    // {"version": "3.0", "spec_version": "2.4"}
    PyRef extensions;      // {"websocket.http.response": {}}
    PyRef connect_message; // {"type": "websocket.connect"}
    PyRef channel_type;    // the native channel (websocket_session.h)

    bool ready() const { return static_cast<bool>(connect_message); }
    // GIL held; false with a Python exception set.
    bool build();
    void clear() { *this = WsNames{}; }
};

} // namespace pympm

#include "websocket/ws_names.h"

#include "websocket/ws_loop.h"

namespace pympm {

namespace {
PyRef interned(const char* s) { return PyRef::steal(PyUnicode_InternFromString(s)); }
} // namespace

bool WsNames::build() {
    if (ready()) return true;
    WsNames n;
    n.k_subprotocols = interned("subprotocols");
    n.k_extensions = interned("extensions");
    n.k_subprotocol = interned("subprotocol");
    n.k_code = interned("code");
    n.k_reason = interned("reason");
    n.k_text = interned("text");
    n.k_bytes = interned("bytes");
    n.v_websocket = interned("websocket");
    n.v_ws = interned("ws");
    n.v_wss = interned("wss");
    n.v_connect = interned("websocket.connect");
    n.v_accept = interned("websocket.accept");
    n.v_receive = interned("websocket.receive");
    n.v_send = interned("websocket.send");
    n.v_close = interned("websocket.close");
    n.v_disconnect = interned("websocket.disconnect");
    n.v_http_start = interned("websocket.http.response.start");
    n.v_http_body = interned("websocket.http.response.body");
    n.asgi_version = PyRef::steal(Py_BuildValue("{s:s,s:s}", "version", "3.0", "spec_version", "2.4"));
    n.extensions = PyRef::steal(Py_BuildValue("{s:{}}", "websocket.http.response"));
    n.connect_message = PyRef::steal(Py_BuildValue("{s:s}", "type", "websocket.connect"));
    n.channel_type = make_ws_channel_type();
    for (const PyRef* r : {&n.k_subprotocols,  &n.k_extensions, &n.k_subprotocol, &n.k_code,       &n.k_reason,
                           &n.k_text,          &n.k_bytes,      &n.v_websocket,   &n.v_ws,         &n.v_wss,
                           &n.v_connect,       &n.v_accept,     &n.v_receive,     &n.v_send,       &n.v_close,
                           &n.v_disconnect,    &n.v_http_start, &n.v_http_body,   &n.asgi_version, &n.extensions,
                           &n.connect_message, &n.channel_type})
        if (!*r) return false;
    *this = std::move(n);
    return true;
}

} // namespace pympm

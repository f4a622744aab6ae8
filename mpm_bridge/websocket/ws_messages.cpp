#include "websocket/ws_messages.h"

#include "asgi/asgi_messages.h"
#include "request/http_validation.h"
#include "websocket/ws_codec.h"

#include <algorithm>

namespace pympm {

namespace {

bool utf8_of(PyObject* o, std::string& out) {
    Py_ssize_t n = 0;
    const char* s = PyUnicode_AsUTF8AndSize(o, &n); // strict: a lone surrogate raises
    if (!s) return false;
    out.assign(s, static_cast<std::size_t>(n));
    return true;
}

// message[key], None counting as absent; false with an exception set.
bool lookup(PyObject* message, const PyRef& key, PyObject*& out) {
    out = PyDict_GetItemWithError(message, key.get());
    if (!out && PyErr_Occurred()) return false;
    if (out == Py_None) out = nullptr;
    return true;
}

} // namespace

std::optional<WsSendType> ws_send_type(const AsgiNames& asgi, const WsNames& names, PyObject* message) {
    if (!PyDict_Check(message)) {
        PyErr_Format(PyExc_TypeError, "an ASGI message must be a dict, not %.100s", Py_TYPE(message)->tp_name);
        return std::nullopt;
    }
    PyObject* type = PyDict_GetItemWithError(message, asgi.k_type.get());
    if (!type) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "an ASGI message needs a 'type'");
        return std::nullopt;
    }
    if (PyUnicode_Check(type)) {
        const std::pair<const PyRef*, WsSendType> known[] = {{&names.v_send, WsSendType::send},
                                                             {&names.v_accept, WsSendType::accept},
                                                             {&names.v_close, WsSendType::close},
                                                             {&names.v_http_start, WsSendType::http_start},
                                                             {&names.v_http_body, WsSendType::http_body}};
        for (const auto& [name, which] : known)
            if (PyUnicode_Compare(type, name->get()) == 0) return which;
    }
    PyErr_Format(PyExc_ValueError, "unknown ASGI message type %R for a WebSocket", type);
    return std::nullopt;
}

bool parse_accept(const AsgiNames& asgi, const WsNames& names, PyObject* message,
                  const std::vector<std::string>& offered, WsAccept& out) {
    PyObject* sub = nullptr;
    if (!lookup(message, names.k_subprotocol, sub)) return false;
    if (sub) {
        if (!PyUnicode_Check(sub)) {
            PyErr_Format(PyExc_TypeError, "websocket.accept's subprotocol must be a str, not %.100s",
                         Py_TYPE(sub)->tp_name);
            return false;
        }
        std::string s;
        if (!utf8_of(sub, s)) return false;
        if (std::find(offered.begin(), offered.end(), s) == offered.end()) {
            // The client would fail the connection (RFC 6455 §4.1): say so
            // where the app can see it.
            PyErr_Format(PyExc_RuntimeError, "websocket.accept's subprotocol %R is not one the client offered", sub);
            return false;
        }
        out.subprotocol = std::move(s);
    }
    PyObject* headers = nullptr;
    if (!lookup(message, asgi.k_headers, headers)) return false;
    if (!headers) return true;
    return for_each_asgi_header(
        headers, "each websocket.accept header must be a pair", "websocket.accept header",
        [&](std::string name, std::string value, PyObject* pair) {
            if (!is_http_token(name) || !is_valid_header_value(value)) {
                PyErr_Format(PyExc_ValueError, "websocket.accept header %R is not a valid HTTP header", pair);
                return false;
            }
            // The handshake's own headers are the server's (the ASGI spec:
            // the subprotocol goes in 'subprotocol').
            for (const char* own : {"sec-websocket-protocol", "sec-websocket-accept", "sec-websocket-extensions",
                                    "upgrade", "connection", "content-length", "transfer-encoding"})
                if (iequals(name, own)) {
                    PyErr_Format(PyExc_ValueError, "websocket.accept may not set the %s header", own);
                    return false;
                }
            out.headers.emplace_back(std::move(name), std::move(value));
            return true;
        });
}

bool parse_send(const WsNames& names, PyObject* message, WsData& out) {
    PyObject *bytes = nullptr, *text = nullptr;
    if (!lookup(message, names.k_bytes, bytes) || !lookup(message, names.k_text, text)) return false;
    if ((bytes != nullptr) == (text != nullptr)) {
        PyErr_SetString(PyExc_ValueError, "websocket.send needs exactly one of 'bytes' and 'text'");
        return false;
    }
    if (text) {
        if (!PyUnicode_Check(text)) {
            PyErr_Format(PyExc_TypeError, "websocket.send's text must be a str, not %.100s", Py_TYPE(text)->tp_name);
            return false;
        }
        out.text = true;
        return utf8_of(text, out.data);
    }
    out.text = false;
    return asgi_bytes_of(bytes, out.data, "websocket.send's bytes");
}

bool parse_close(const WsNames& names, PyObject* message, WsClose& out) {
    PyObject *code = nullptr, *reason = nullptr;
    if (!lookup(message, names.k_code, code) || !lookup(message, names.k_reason, reason)) return false;
    if (code) {
        if (!PyLong_Check(code)) {
            PyErr_Format(PyExc_TypeError, "websocket.close's code must be an int, not %.100s", Py_TYPE(code)->tp_name);
            return false;
        }
        const long c = PyLong_AsLong(code);
        if (c == -1 && PyErr_Occurred()) return false;
        if (c < 0 || c > 65535 || !ws_close_code_is_valid(static_cast<std::uint16_t>(c))) {
            PyErr_Format(PyExc_ValueError, "websocket.close's code %ld is not one an endpoint may send", c);
            return false;
        }
        out.code = static_cast<int>(c);
    }
    if (reason) {
        if (!PyUnicode_Check(reason)) {
            PyErr_Format(PyExc_TypeError, "websocket.close's reason must be a str, not %.100s",
                         Py_TYPE(reason)->tp_name);
            return false;
        }
        if (!utf8_of(reason, out.reason)) return false;
        if (out.reason.size() > 123) {
            PyErr_SetString(PyExc_ValueError, "websocket.close's reason must be at most 123 bytes of UTF-8");
            return false;
        }
    }
    return true;
}

} // namespace pympm

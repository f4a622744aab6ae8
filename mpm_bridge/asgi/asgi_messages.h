// What an ASGI app sends for an HTTP request (ASGI HTTP 2.3), checked and
// turned into C++ values before anything reaches the request thread: the
// message's type, http.response.start's status and headers (through the
// checks every response head passes, request/response_head.h), and
// http.response.body's bytes and more_body. A message that breaks a rule
// raises in the app: each function returns false (nullopt) with a Python
// exception set whose text says what is wrong. GIL held; no I/O.
#pragma once

#include "asgi/asgi_context.h"
#include "request/request_io.h"

#include <cstdint>
#include <optional>
#include <string>

namespace pympm {

enum class AsgiSendType { response_start, response_body };

// A dict with a 'type' this server takes for an HTTP request, or nullopt.
std::optional<AsgiSendType> asgi_send_type(const AsgiNames& names, PyObject* message);

// A bytes-like object's bytes; else a TypeError naming `what`.
bool asgi_bytes_of(PyObject* o, std::string& out, const char* what);

// Each [name, value] pair of an ASGI 'headers' iterable (HTTP responses,
// websocket.accept), as bytes, handed to take(name, value), which returns
// false with an exception set to stop. `not_a_pair` is the TypeError text
// for an item that is no sequence, `label` names one in the ValueError for
// a sequence that is not a pair. False with an exception set on any failure.
template <class Take>
bool for_each_asgi_header(PyObject* headers, const char* not_a_pair, const char* label, Take&& take) {
    PyRef iter = PyRef::steal(PyObject_GetIter(headers));
    if (!iter) return false;
    while (PyRef pair = PyRef::steal(PyIter_Next(iter.get()))) {
        PyRef fast = PyRef::steal(PySequence_Fast(pair.get(), not_a_pair));
        if (!fast) return false;
        if (PySequence_Fast_GET_SIZE(fast.get()) != 2) {
            PyErr_Format(PyExc_ValueError, "%s %R must be a [name, value] pair", label, pair.get());
            return false;
        }
        std::string name, value;
        if (!asgi_bytes_of(PySequence_Fast_GET_ITEM(fast.get(), 0), name, "a header name") ||
            !asgi_bytes_of(PySequence_Fast_GET_ITEM(fast.get(), 1), value, "a header value") ||
            !take(std::move(name), std::move(value), pair.get()))
            return false;
    }
    return !PyErr_Occurred();
}

struct AsgiResponseStart {
    ResponseHead head;
    std::optional<std::uint64_t> content_length; // declared by a header
};
bool parse_response_start(const AsgiNames& names, PyObject* message, AsgiResponseStart& out);

struct AsgiResponseBody {
    PyRef body; // bytes (b'' when absent)
    bool more_body = false;
};
bool parse_response_body(const AsgiNames& names, PyObject* message, AsgiResponseBody& out);

} // namespace pympm

// The request body, as every interface reads it: WSGI's wsgi.input methods
// and ASGI's http.request events. Reads block on httpd without the GIL
// (PyEnableThreads On) and with the request's slot lendable; the read-ahead
// buffer never holds more than one read ahead of the app; a body of unknown
// length costs time linear in its size. A failed read (the client went
// away, httpd refused the body) returns what arrived first, then raises
// pympm.ClientDisconnected or pympm.RequestBodyError.
//
// Called with the GIL and the request's I/O lock held (RequestCore::IoLock).
#pragma once

#include "python/python_ref.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace pympm {

class RequestCore;

class RequestBody {
public:
    explicit RequestBody(RequestCore& core);
    RequestBody(const RequestBody&) = delete;
    RequestBody& operator=(const RequestBody&) = delete;

    // wsgi.input's methods; new references, or null with a Python error.
    PyObject* read(Py_ssize_t size);
    PyObject* readline(Py_ssize_t limit);
    PyObject* readlines(Py_ssize_t hint);
    // What arrives next, up to `max` bytes (at least one unless the body
    // ended): an empty bytes object at its end.
    PyObject* read_some(std::size_t max);
    // Without Python (an ASGI request thread): appends what arrives next,
    // up to `max` bytes, to `out`; at the body's end nothing. False once a
    // read failed (logged; input_gone() or error_status() says why). I/O
    // lock held.
    bool read_raw(std::string& out, std::size_t max);
    // Every byte was read (nothing buffered, the end seen).
    bool ended() const { return in_eof_ && inbuf_.size == inpos_; }

    // The client went away while sending the body.
    bool input_gone() const { return input_gone_; }
    // 413/400 when httpd refused the body, else 0.
    int error_status() const { return body_error_status_; }

private:
    bool fill(std::size_t want); // false + Python error on failure
    PyObject* raise_read_error();
    void log_read_error();
    // Without the GIL: reads into buf[0, len) until `want` bytes or the end
    // of the body; false (read_error_ set) if the read failed.
    bool read_into(char* buf, std::size_t len, std::size_t want, std::size_t& got);
    PyObject* read_buffered(Py_ssize_t size);
    PyObject* read_direct(Py_ssize_t size, std::size_t target);

    RequestCore& core_;
    // The read-ahead buffer grows without zero-filling: it is always
    // written by a read before it is looked at.
    struct InBuffer {
        std::unique_ptr<char[]> data;
        std::size_t size = 0;
        std::size_t cap = 0;
        void reserve(std::size_t n);
    };
    InBuffer inbuf_;
    std::size_t inpos_ = 0;
    std::uint64_t body_read_ = 0;              // bytes read_body() has delivered
    std::optional<std::uint64_t> body_length_; // declared Content-Length
    bool in_eof_ = false;
    bool input_gone_ = false;
    int body_error_status_ = 0;
    std::string read_error_;
};

} // namespace pympm

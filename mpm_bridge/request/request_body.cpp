#include "request/request_body.h"

#include "request/request_core.h"
#include "admission/request_admission.h"

#include <algorithm>
#include <cstring>

namespace pympm {

namespace {
constexpr std::size_t kReadChunk = 64 * 1024;
} // namespace

RequestBody::RequestBody(RequestCore& core) : core_(core), body_length_(core.io.body_length()) {}

PyObject* RequestBody::raise_read_error() {
    PyObject* type =
        body_error_status_ ? core_.ctx.py.request_body_error.get() : core_.ctx.py.client_disconnected.get();
    PyErr_SetString(type, read_error_.c_str());
    return nullptr;
}

void RequestBody::InBuffer::reserve(std::size_t n) {
    if (n <= cap) return;
    auto grown = std::make_unique_for_overwrite<char[]>(n);
    if (size > 0) std::memcpy(grown.get(), data.get(), size);
    data = std::move(grown);
    cap = n;
}

bool RequestBody::read_into(char* buf, std::size_t len, std::size_t want, std::size_t& got) {
    try {
        while (!in_eof_ && got < want && got < len) {
            std::size_t n = core_.io.read_body(buf + got, len - got);
            if (n == 0) in_eof_ = true;
            got += n;
            body_read_ += n;
        }
        return true;
    } catch (const BadRequestBody& e) {
        body_error_status_ = e.status;
        read_error_ = e.what();
    } catch (const ClientGone& e) {
        input_gone_ = true;
        read_error_ = std::string("the client went away while sending the request body: ") + e.what();
    }
    return false;
}

void RequestBody::log_read_error() {
    core_.log(LogLevel::info, std::string(PYMPM_APLOGNO(00027)) + "reading the body of " + std::string(core_.io.uri()) +
                                  " failed: " + read_error_);
}

// Reads until the buffer holds `want` unread bytes or the body ends.
bool RequestBody::fill(std::size_t want) {
    if (inbuf_.size - inpos_ >= want) return true;
    if (!read_error_.empty()) {
        raise_read_error();
        return false;
    }
    if (in_eof_) return true;
    // Drop what was consumed, so the buffer never holds more than one read
    // ahead of the app however it reads (read(n) loops, readline).
    if (inpos_ > 0) {
        std::memmove(inbuf_.data.get(), inbuf_.data.get() + inpos_, inbuf_.size - inpos_);
        inbuf_.size -= inpos_;
        inpos_ = 0;
    }
    bool ok = true;
    {
        BlockingSection unlocked(core_.ctx.release_gil);
        while (ok && !in_eof_ && inbuf_.size < want) {
            // Doubling keeps a long line (readline) linear in its length.
            if (inbuf_.size == inbuf_.cap) inbuf_.reserve(std::max(inbuf_.size + kReadChunk, inbuf_.cap * 2));
            ok = read_into(inbuf_.data.get(), inbuf_.cap, inbuf_.size + 1, inbuf_.size);
        }
    }
    if (!ok) {
        log_read_error();
        raise_read_error();
    }
    return ok;
}

PyObject* RequestBody::read(Py_ssize_t size) {
    PYMPM_ASSERT_GIL();
    const std::size_t avail = inbuf_.size - inpos_;
    if (read_error_.empty() && !in_eof_ && (size < 0 || static_cast<std::size_t>(size) > avail)) {
        // Read straight into the bytes object that read() returns: as much
        // as the declared length says is left, else (chunked) as much as
        // asked for or until the end of the body.
        std::uint64_t target = size < 0 ? UINT64_MAX : static_cast<std::uint64_t>(size);
        if (body_length_) {
            const std::uint64_t rest = *body_length_ > body_read_ ? *body_length_ - body_read_ : 0;
            target = std::min<std::uint64_t>(target, avail + rest);
        }
        target = std::min<std::uint64_t>(target, static_cast<std::uint64_t>(PY_SSIZE_T_MAX));
        if (target > avail) return read_direct(size, static_cast<std::size_t>(target));
    }
    return read_buffered(size);
}

PyObject* RequestBody::read_direct(Py_ssize_t size, std::size_t target) {
    // A client may declare a length it never sends: the first allocation is
    // bounded, later ones follow what arrives, doubling (so that a body of
    // unknown length costs time linear in its size).
    constexpr std::size_t kFirstAlloc = 16 * 1024 * 1024;
    std::size_t got = inbuf_.size - inpos_;
    std::size_t cap = std::min(target, body_length_ ? kFirstAlloc : std::max(kReadChunk, 2 * got));
    PyObject* out = PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(cap));
    if (!out) return nullptr;
    if (got > 0) std::memcpy(PyBytes_AS_STRING(out), inbuf_.data.get() + inpos_, got);
    inbuf_.size = inpos_ = 0;
    bool ok = true;
    for (;;) {
        {
            // `out` is not visible to any other thread yet.
            BlockingSection unlocked(core_.ctx.release_gil);
            ok = read_into(PyBytes_AS_STRING(out), cap, cap, got);
        }
        if (!ok || in_eof_ || got >= target) break;
        cap = cap > target / 2 ? target : cap * 2;
        if (_PyBytes_Resize(&out, static_cast<Py_ssize_t>(cap)) != 0) return nullptr;
    }
    if (!ok) {
        log_read_error();
        // What arrived before the failure is returned first; the error is
        // raised by the next read.
        if (got == 0) {
            Py_DECREF(out);
            return raise_read_error();
        }
    }
    if (got != cap && _PyBytes_Resize(&out, static_cast<Py_ssize_t>(got)) != 0) return nullptr;
    if (ok && !in_eof_ && (size < 0 || static_cast<std::size_t>(size) > got)) {
        // More was asked for than the Content-Length promised: an input
        // filter may have changed the body's length, or read() wants the
        // end of the body to be seen. The buffered path finds out; what we
        // have is returned now and an error raised on the next read.
        if (!fill(1)) {
            PyErr_Clear();
        } else if (inbuf_.size > inpos_) {
            PyRef more = PyRef::steal(read_buffered(size < 0 ? -1 : size - static_cast<Py_ssize_t>(got)));
            if (!more) {
                PyErr_Clear();
            } else if (const Py_ssize_t n = PyBytes_GET_SIZE(more.get()); n > 0) {
                if (_PyBytes_Resize(&out, static_cast<Py_ssize_t>(got) + n) != 0) return nullptr;
                std::memcpy(PyBytes_AS_STRING(out) + got, PyBytes_AS_STRING(more.get()), static_cast<std::size_t>(n));
            }
        }
    }
    return out;
}

PyObject* RequestBody::read_some(std::size_t max) {
    PYMPM_ASSERT_GIL();
    if (max == 0) max = kReadChunk;
    if (inbuf_.size == inpos_) {
        // Nothing buffered: one read straight into the bytes object.
        if (!read_error_.empty()) return raise_read_error();
        PyObject* out = PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(max));
        if (!out) return nullptr;
        std::size_t got = 0;
        bool ok;
        {
            BlockingSection unlocked(core_.ctx.release_gil);
            ok = read_into(PyBytes_AS_STRING(out), max, 1, got);
        }
        if (!ok && got == 0) {
            Py_DECREF(out);
            log_read_error();
            return raise_read_error();
        }
        if (got != max && _PyBytes_Resize(&out, static_cast<Py_ssize_t>(got)) != 0) return nullptr;
        return out;
    }
    const std::size_t n = std::min(max, inbuf_.size - inpos_);
    PyObject* out = PyBytes_FromStringAndSize(inbuf_.data.get() + inpos_, static_cast<Py_ssize_t>(n));
    if (out) inpos_ += n;
    return out;
}

bool RequestBody::read_raw(std::string& out, std::size_t max) {
    if (max == 0) max = kReadChunk;
    if (inbuf_.size != inpos_) {
        const std::size_t n = std::min(max, inbuf_.size - inpos_);
        out.append(inbuf_.data.get() + inpos_, n);
        inpos_ += n;
        return true;
    }
    if (!read_error_.empty()) return false;
    const std::size_t base = out.size();
    out.resize(base + max);
    std::size_t got = 0;
    bool ok;
    {
        BlockingSection unlocked(core_.ctx.release_gil);
        ok = read_into(out.data() + base, max, 1, got);
    }
    out.resize(base + got);
    if (!ok && got == 0) {
        log_read_error();
        return false;
    }
    // What arrived before a failure is delivered first; the next read fails.
    return true;
}

PyObject* RequestBody::read_buffered(Py_ssize_t size) {
    if (!fill(size < 0 ? SIZE_MAX / 2 : static_cast<std::size_t>(size))) {
        // What arrived before the failure is returned first; the error is
        // raised by the next read.
        if (inbuf_.size == inpos_) return nullptr;
        PyErr_Clear();
    }
    std::size_t avail = inbuf_.size - inpos_;
    std::size_t n = size < 0 ? avail : std::min(avail, static_cast<std::size_t>(size));
    PyObject* out = PyBytes_FromStringAndSize(inbuf_.data.get() + inpos_, static_cast<Py_ssize_t>(n));
    if (out) inpos_ += n;
    return out;
}

PyObject* RequestBody::readline(Py_ssize_t limit) {
    PYMPM_ASSERT_GIL();
    if (limit == 0) return PyBytes_FromStringAndSize(nullptr, 0);
    std::size_t scanned = 0;
    for (;;) {
        std::string_view avail(inbuf_.data.get() + inpos_, inbuf_.size - inpos_);
        std::size_t cap = limit < 0 ? avail.size() : std::min(avail.size(), static_cast<std::size_t>(limit));
        std::size_t nl = avail.substr(0, cap).find('\n', scanned);
        std::size_t n = 0;
        if (nl != std::string_view::npos)
            n = nl + 1;
        else if (limit >= 0 && avail.size() >= static_cast<std::size_t>(limit))
            n = static_cast<std::size_t>(limit);
        else if (in_eof_)
            n = avail.size();
        if (n > 0 || (in_eof_ && avail.empty())) {
            PyObject* out = PyBytes_FromStringAndSize(avail.data(), static_cast<Py_ssize_t>(n));
            if (out) inpos_ += n;
            return out;
        }
        scanned = avail.size();
        if (!fill(avail.size() + 8192)) {
            // fill() may have moved the buffer: `avail` is stale.
            const std::size_t left = inbuf_.size - inpos_;
            if (left == 0) return nullptr;
            PyErr_Clear(); // the partial line now, the error next time
            const std::size_t take = limit < 0 ? left : std::min(left, static_cast<std::size_t>(limit));
            PyObject* out = PyBytes_FromStringAndSize(inbuf_.data.get() + inpos_, static_cast<Py_ssize_t>(take));
            if (out) inpos_ += take;
            return out;
        }
    }
}

PyObject* RequestBody::readlines(Py_ssize_t hint) {
    PYMPM_ASSERT_GIL();
    PyRef lines = PyRef::steal(PyList_New(0));
    if (!lines) return nullptr;
    Py_ssize_t total = 0;
    for (;;) {
        PyRef line = PyRef::steal(readline(-1));
        if (!line) {
            if (PyList_GET_SIZE(lines.get()) == 0) return nullptr;
            PyErr_Clear(); // the lines so far now, the error next time
            break;
        }
        if (PyBytes_GET_SIZE(line.get()) == 0) break;
        if (PyList_Append(lines.get(), line.get()) != 0) return nullptr;
        total += PyBytes_GET_SIZE(line.get());
        if (hint > 0 && total >= hint) break;
    }
    return lines.release();
}

} // namespace pympm

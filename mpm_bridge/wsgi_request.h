// One WSGI request (PEP 3333): builds environ, calls the app with
// start_response, sends the response iterable, and always calls close().
// Runs with the GIL held; releases it around every blocking call when the
// context says so.
//
// App threads may call start_response's write() and wsgi.input's methods
// too. Everything that uses httpd's request, or the input buffer, without
// the GIL is serialised by one lock per request (IoLock), and the request
// does not end while such a call is still running on another thread.
#pragma once

#include "request_io.h"
#include "wsgi_context.h"

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace pympm {

class WsgiRequest {
public:
    WsgiRequest(WsgiContext& ctx, RequestIO& io, const std::string& app_name);
    ~WsgiRequest();
    WsgiRequest(const WsgiRequest&) = delete;
    WsgiRequest& operator=(const WsgiRequest&) = delete;

    // Returns 0 when a response was sent (or the client went away), else the
    // HTTP status httpd should answer with (500, 413, ...).
    int run(PyObject* app);
    // After run(): the status the client got from the app (0 if none), and
    // whether the app raised (client disconnects aside).
    int response_status() const { return head_set_ ? head_.status : 0; }
    bool app_raised() const { return app_raised_; }

    // Called by the Python-facing objects (wsgi_types.cpp), GIL held,
    // between call_started() and call_finished().
    PyObject* start_response(PyObject* args, PyObject* kwargs);
    PyObject* write(PyObject* data);
    PyObject* read(Py_ssize_t size);
    PyObject* readline(Py_ssize_t limit);
    PyObject* readlines(Py_ssize_t hint);
    void call_started() { ++calls_; }
    void call_finished();

private:
    // Serialises the use of io_ and the input buffer between threads. Taken
    // with the GIL held; waits for it without the GIL.
    class IoLock {
    public:
        // app_call: write() or a wsgi.input method; internal: re-entrant
        // for the thread that holds the lock already.
        enum class Entry { app_call, internal };
        IoLock(WsgiRequest& req, Entry entry);
        ~IoLock();
        IoLock(const IoLock&) = delete;
        IoLock& operator=(const IoLock&) = delete;
        // False (a Python exception set) when this thread already holds it:
        // a nested request's app touched the outer request's objects.
        explicit operator bool() const { return locked_; }

    private:
        WsgiRequest& req_;
        bool locked_ = false;
        bool owns_ = false;
    };
    void log(LogLevel level, const std::string& message);

    // At the end of run(): the Python objects are detached and calls still
    // running on other threads finish first.
    void end_calls();
    PyObject* read_locked(Py_ssize_t size);
    PyObject* readline_locked(Py_ssize_t limit);
    bool no_body() const { return head_.status == 204 || head_.status == 304; }

    PyRef build_environ();
    bool send_head_if_needed();
    // Sends one body chunk; false if the response must stop (client gone,
    // or an error: a Python exception is set or the cause was logged).
    bool send_chunk(PyObject* item, RequestIO::Send mode);
    bool send_bytes(const char* data, std::size_t len, RequestIO::Send mode);
    // Each returns the handler status (0 once a response went out).
    std::optional<int> try_send_file(PyObject* result);
    int send_sequence(PyObject* seq);
    int send_iterable(PyObject* result);
    int finish_response();
    // After an error (pending Python exception or already logged): logs it,
    // aborts the connection if bytes were sent, returns the status.
    int error_response(const char* what);
    bool disconnect_error_pending() const;
    void abort_response();
    bool length_complete() const { return declared_length_ && sent_ >= *declared_length_; }
    void log_excess();
    void log_client_gone(const char* doing, const char* why);
    int fail(const char* what);         // logs the pending Python exception
    int fail_message(const std::string& message);
    void call_close(PyObject* result);
    void log_lines(LogLevel level, const std::string& head, const std::string& body);
    // Input helpers (GIL held on entry; released while reading).
    bool fill(std::size_t want);         // false + Python error on failure
    PyObject* raise_read_error();
    void log_read_error();
    // Without the GIL: reads into buf[0, len) until `want` bytes or the end
    // of the body; false (read_error_ set) if the read failed.
    bool read_into(char* buf, std::size_t len, std::size_t want, std::size_t& got);
    PyObject* read_buffered(Py_ssize_t size);
    PyObject* read_direct(Py_ssize_t size, std::size_t target);

    WsgiContext& ctx_;
    RequestIO& io_;
    const std::string& app_name_;
    PyRef start_response_obj_;
    PyRef input_obj_;

    std::mutex io_mutex_;
    std::atomic<std::thread::id> io_owner_{};
    std::atomic<int> calls_{0};
    std::mutex calls_mutex_;
    std::condition_variable calls_done_;

    // Response state.
    bool head_set_ = false;
    ResponseHead head_;
    std::optional<std::uint64_t> declared_length_;
    std::uint64_t sent_ = 0;
    bool length_error_logged_ = false;
    bool client_gone_ = false; // a write to the client failed
    bool input_gone_ = false;  // the client went away while sending the body
    bool aborted_ = false;
    int body_error_status_ = 0; // 413/400 from reading the body
    bool app_raised_ = false;

    // Input state. The read-ahead buffer grows without zero-filling: it is
    // always written by a read before it is looked at.
    struct InBuffer {
        std::unique_ptr<char[]> data;
        std::size_t size = 0;
        std::size_t cap = 0;
        void reserve(std::size_t n);
    };
    InBuffer inbuf_;
    std::size_t inpos_ = 0;
    std::uint64_t body_read_ = 0; // bytes read_body() has delivered
    std::optional<std::uint64_t> body_length_; // declared Content-Length
    bool in_eof_ = false;
    std::string read_error_;
};

// Creates the Python types for start_response and wsgi.input.
bool make_wsgi_types(PyRef& start_response_type, PyRef& input_type, std::string& error);
// Wraps a request in the per-request Python objects.
PyObject* new_start_response(PyObject* type, WsgiRequest* req);
PyObject* new_input(PyObject* type, WsgiRequest* req);
// Detaches the objects from a finished request (calls after it raise).
void detach_request_object(PyObject* obj);

} // namespace pympm

#include "request_fuzz_runner.h"

#include "raw_h2_connection.h"
#include "http1_response_parser.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <functional>
#include <memory>

namespace pympm_test::fuzz {

namespace {

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// The checks every final response gets, HTTP/1 or 2. `label` names the request.
void check_final(const Expect& e, int status, const std::string& token, const std::string& body,
                 const std::string& content_encoding, const std::string& label, std::vector<std::string>& problems) {
    const std::string where = label + " (status " + std::to_string(status) + ")";
    if (!token.empty() && token != e.token)
        problems.push_back("DESYNC: " + where + " carries the token " + token + " of another request, not " + e.token);
    else if (token.empty() && e.token_required)
        problems.push_back(where + " is not the app's answer: no X-Fuzz-Token " + e.token);
    if (!e.statuses.empty() && std::find(e.statuses.begin(), e.statuses.end(), status) == e.statuses.end()) {
        std::string want;
        for (int s : e.statuses) want += (want.empty() ? "" : "/") + std::to_string(s);
        problems.push_back(where + ": expected status " + want);
    }
    if (status >= 500 && status != 501 && status != 505 && !e.server_error_ok && e.statuses.empty())
        problems.push_back(where + ": a server error for a request that should not make the server fail");
    if (e.head && !body.empty())
        problems.push_back(where + ": a body of " + std::to_string(body.size()) + " bytes for HEAD");
    const bool gzipped = lower(content_encoding) == "gzip";
    if (e.may_gzip && gzipped && !e.head && status == 200 && (body.size() < 2 || body.compare(0, 2, "\x1f\x8b") != 0))
        problems.push_back(where + ": Content-Encoding gzip but not a gzip body");
    if (gzipped && !e.may_gzip) problems.push_back(where + ": gzip-encoded although the client did not ask for it");
    if (e.body && !e.head && !(e.may_gzip && gzipped) && body != *e.body) {
        std::size_t diff = 0;
        while (diff < body.size() && diff < e.body->size() && body[diff] == (*e.body)[diff]) ++diff;
        problems.push_back(where + ": body of " + std::to_string(body.size()) + " bytes, expected " +
                           std::to_string(e.body->size()) + "; first difference at byte " + std::to_string(diff) +
                           ": got \"" + c_escape(body.substr(diff), 80) + "\", expected \"" +
                           c_escape(e.body->substr(std::min(diff, e.body->size())), 80) + "\"");
    }
}

// ------------------------------------------------------------------ HTTP/1

struct Received {
    std::string data;
    bool closed = false; // EOF or reset
    bool timed_out = false;
};

// Reads until the server closes, the deadline passes, or `enough(data)`.
void read_until(int fd, Received& r, Clock::time_point deadline,
                const std::function<bool(const std::string&)>& enough = {}) {
    char buf[65536];
    while (!(enough && enough(r.data))) {
        if (!wait_readable(fd, deadline)) {
            r.timed_out = true;
            return;
        }
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n > 0) {
            r.data.append(buf, static_cast<std::size_t>(n));
        } else if (n == 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) {
            r.closed = true;
            return;
        }
    }
}

void reset_on_close(int fd) {
    linger l{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

// Parses everything the server sent as the responses to the case's
// requests, in order, and judges it.
void judge_h1(const H1Case& k, const Received& r, bool stopped_reading, Outcome& out) {
    auto& problems = out.problems;
    std::size_t pos = 0;
    std::size_t answered = 0;
    bool ended = false;     // the server said it closes, or cut a response short
    bool announced = false; // the last answer said the connection ends after it
    bool cut_short = false; // a response that may be truncated was
    for (std::size_t i = 0; i < k.expects.size() && !ended; ++i) {
        const Expect& e = k.expects[i];
        const std::string label = "response " + std::to_string(i + 1) + " of " + std::to_string(k.expects.size());
        if (e.raw_allowed) { // HTTP/0.9: whatever it is, then the end
            pos = r.data.size();
            ended = true;
            break;
        }
        for (;;) {
            if (pos == r.data.size() && (r.closed || stopped_reading)) {
                out.closed_unanswered = r.closed && !stopped_reading;
                ended = true;
                break;
            }
            WireParseResult p = parse_http1_response(r.data, pos, e.head, r.closed);
            if (p.state == WireParse::malformed) {
                problems.push_back("GARBAGE: " + label + " is not HTTP: " + p.error);
                return;
            }
            if (p.state == WireParse::incomplete) {
                if (stopped_reading) return; // we left in the middle on purpose
                if (r.timed_out) {
                    out.hang = true;
                    problems.push_back("HANG: " + label + " incomplete when the deadline passed (" +
                                       std::to_string(r.data.size() - pos) + " bytes of it: \"" +
                                       c_escape(std::string_view(r.data).substr(pos), 200) + "\")");
                    return;
                }
                cut_short = e.may_truncate;
                if (!e.may_truncate)
                    problems.push_back("TRUNCATED: " + label + " cut short by the end of the connection (status " +
                                       std::to_string(p.response.status) + ", " +
                                       std::to_string(p.response.body.size()) + " body bytes: \"" +
                                       c_escape(std::string_view(r.data).substr(pos), 200) + "\")");
                pos = r.data.size();
                ended = true;
                break;
            }
            const WireResponse& resp = p.response;
            if (resp.interim()) {
                if (!(resp.status == 100 && e.continue_allowed))
                    problems.push_back("INTERIM: an unexpected " + std::to_string(resp.status) + " " + resp.reason +
                                       " before " + label);
                continue;
            }
            ++answered;
            check_final(e, resp.status, resp.headers.get("X-Fuzz-Token"), resp.body,
                        resp.headers.get("Content-Encoding"), label, problems);
            announced = resp.closes();
            if (announced) ended = true;
            break;
        }
    }
    // Whatever follows must be HTTP too (httpd answering the garbage a
    // hostile request left on the connection), and not anybody's answer.
    while (pos < r.data.size()) {
        WireParseResult p = parse_http1_response(r.data, pos, false, r.closed);
        if (p.state == WireParse::malformed) {
            problems.push_back("GARBAGE after the last response: " + p.error);
            break;
        }
        if (p.state == WireParse::incomplete) {
            if (!stopped_reading && !r.closed) break; // judged as a hang below
            if (!stopped_reading)
                problems.push_back("TRUNCATED: an extra response cut short: \"" +
                                   c_escape(std::string_view(r.data).substr(pos), 200) + "\"");
            break;
        }
        if (k.all_must_answer)
            problems.push_back("EXTRA: a response (status " + std::to_string(p.response.status) +
                               ") after the answers to all " + std::to_string(k.expects.size()) + " requests");
        const std::string tok = p.response.headers.get("X-Fuzz-Token");
        if (!tok.empty()) problems.push_back("DESYNC: an extra response carries the token " + tok);
    }
    if (k.all_must_answer && answered < k.expects.size() && !stopped_reading && !announced && !cut_short) {
        out.closed_unanswered = true;
        problems.push_back("UNANSWERED: only " + std::to_string(answered) + " of " + std::to_string(k.expects.size()) +
                           " well-formed requests answered before the connection ended");
    }
    if (r.timed_out && !stopped_reading && !out.hang) {
        out.hang = true;
        problems.push_back("HANG: the connection was neither answered nor closed within the deadline (" +
                           std::to_string(r.data.size()) + " bytes received; we had closed our side)");
    }
}

// True once `data` holds the head of an answer: 100 Continue or a final one.
bool has_answer_head(const std::string& data) { return data.find("\r\n\r\n") != std::string::npos; }

Outcome run_h1(const H1Case& k, std::uint16_t port, std::chrono::milliseconds timeout) {
    Outcome out;
    out.requests = k.expects.size();
    const auto deadline = Clock::now() + timeout;
    int fd = -1;
    try {
        fd = connect_loopback(port, deadline);
    } catch (const HttpError& e) {
        out.hang = true;
        out.problems.push_back(std::string("HANG: cannot connect: ") + e.what());
        return out;
    }
    out.local_port = local_port_of(fd);
    auto send = [&](std::string_view bytes) {
        out.sent.append(bytes);
        try {
            send_on(fd, bytes, deadline);
            return true;
        } catch (const HttpError&) {
            return false; // the server closed or reset: what it answered is read below
        }
    };
    Received r;
    bool stopped_reading = false;
    switch (k.client) {
    case H1Case::Client::vanish:
        out.client_left = true;
        send(std::string_view(k.bytes).substr(0, k.send_before_close));
        if (k.reset_on_close) reset_on_close(fd);
        ::close(fd);
        return out;
    case H1Case::Client::read_part_then_close:
        send(k.bytes);
        read_until(fd, r, deadline, [&](const std::string& d) {
            if (d.size() >= k.read_before_close) return true;
            // A response shorter than that on a kept-alive connection: all of it is enough.
            std::size_t pos = 0;
            return parse_http1_response(d, pos, k.expects.front().head, false).state == WireParse::complete;
        });
        stopped_reading = !r.closed && !r.timed_out;
        out.client_left = stopped_reading;
        if (k.reset_on_close) reset_on_close(fd);
        break;
    case H1Case::Client::expect_continue: {
        send(std::string_view(k.bytes).substr(0, k.head_size));
        Received first;
        read_until(fd, first, std::min(deadline, Clock::now() + std::chrono::milliseconds(250)), has_answer_head);
        r.data = first.data;
        r.closed = first.closed;
        // Only a 100 (or silence) asks for the body; a final answer refuses it.
        const bool go_on = !first.closed && (!has_answer_head(first.data) || first.data.rfind("HTTP/1.1 100", 0) == 0);
        if (go_on) send(std::string_view(k.bytes).substr(k.head_size));
        ::shutdown(fd, SHUT_WR);
        if (!r.closed) read_until(fd, r, deadline);
        break;
    }
    case H1Case::Client::half_close_and_read:
        send(k.bytes);
        ::shutdown(fd, SHUT_WR);
        read_until(fd, r, deadline);
        break;
    }
    ::close(fd);
    out.received = r.data;
    judge_h1(k, r, stopped_reading, out);
    return out;
}

// ------------------------------------------------------------------ HTTP/2

void judge_stream(const RawH2Connection& conn, std::uint32_t id, const H2Call& call, bool strict,
                  const std::string& label, std::vector<std::string>& problems) {
    const H2Stream& s = conn.stream(id);
    const Expect& e = call.expect;
    for (int st : s.interim)
        if (!(st == 100 && e.continue_allowed))
            problems.push_back("INTERIM: an unexpected " + std::to_string(st) + " on " + label);
    // RST_STREAM(NO_ERROR) after a complete response is how a server tells
    // the client to stop sending a body it does not need (RFC 9113 8.1):
    // mod_http2 does it when the app answered without reading it all.
    if (s.reset && !(s.reset_code == 0 && s.end_stream)) {
        if (strict && !e.may_truncate)
            problems.push_back("RESET: " + label + " reset by the server (error code " + std::to_string(s.reset_code) +
                               ")");
        return;
    }
    if (!s.end_stream) {
        if (strict && !e.may_truncate)
            problems.push_back("UNANSWERED: " + label + " did not end before the connection did (" +
                               (conn.goaway() ? "GOAWAY with error " + std::to_string(conn.goaway_code()) +
                                                    ", last stream " + std::to_string(conn.goaway_last_stream())
                                              : std::string("closed without GOAWAY")) +
                               ")");
        return;
    }
    if (s.status == 0) {
        problems.push_back("GARBAGE: " + label + " ended without a final response");
        return;
    }
    const std::string cl = s.header("content-length");
    if (!cl.empty() && !e.head && cl != std::to_string(s.body.size()))
        problems.push_back("FRAMING: " + label + " declares content-length " + cl + " but has " +
                           std::to_string(s.body.size()) + " bytes");
    check_final(e, s.status, s.header("x-fuzz-token"), s.body, s.header("content-encoding"), label, problems);
}

Outcome run_h2(const H2Case& k, std::uint16_t port, std::chrono::milliseconds timeout) {
    Outcome out;
    out.requests = k.calls.size();
    const auto deadline = Clock::now() + timeout;
    std::unique_ptr<RawH2Connection> conn;
    try {
        conn = std::make_unique<RawH2Connection>(port, deadline);
    } catch (const HttpError& e) {
        out.hang = Clock::now() >= deadline;
        out.problems.push_back(std::string(out.hang ? "HANG: " : "") + "h2c connection setup failed: " + e.what());
        return out;
    }
    out.local_port = conn->local_port();
    auto open_call = [&](const H2Call& call) {
        HeaderList headers = call.headers;
        headers.emplace_back("x-fuzz-token", call.expect.token);
        return conn->open(call.method, call.path, headers, call.body.empty());
    };
    auto label = [&](std::size_t i) {
        return "stream " + std::to_string(i + 1) + " of " + std::to_string(k.calls.size()) + " (" + k.calls[i].method +
               " " + k.calls[i].path + ")";
    };
    auto hang = [&](const std::string& what) {
        out.hang = true;
        out.problems.push_back("HANG: " + what + " within the deadline");
    };
    try {
        switch (k.kind) {
        case Mutation::h2_normal:
        case Mutation::h2_concurrent: {
            std::vector<std::uint32_t> ids;
            for (const auto& call : k.calls) ids.push_back(open_call(call));
            for (std::size_t i = 0; i < ids.size(); ++i)
                if (!k.calls[i].body.empty()) conn->send_data(ids[i], k.calls[i].body, true, deadline);
            if (!conn->wait_finished(ids, deadline)) hang("not every stream ended");
            for (std::size_t i = 0; i < ids.size(); ++i)
                judge_stream(*conn, ids[i], k.calls[i], true, label(i), out.problems);
            if (!out.hang && !conn->ping(deadline))
                out.problems.push_back(std::string("the connection did not answer PING after the requests (") +
                                       (conn->goaway() ? "GOAWAY with error " + std::to_string(conn->goaway_code())
                                                       : std::string(conn->closed() ? "closed" : "no answer")) +
                                       ")");
            break;
        }
        default: {
            // A hostile step on the first call (or raw bytes), then a plain request.
            const H2Call& plain = k.calls.back();
            if (k.kind == Mutation::h2_bad_frame) {
                conn->send_raw(k.hostile_bytes);
                conn->skip_stream_ids_to(static_cast<std::uint32_t>(k.hostile_stream) + 2);
            } else {
                const H2Call& first = k.calls.front();
                HeaderList headers = first.headers;
                headers.emplace_back("x-fuzz-token", first.expect.token);
                const std::uint32_t id = conn->open(first.method, first.path, headers, first.body.empty());
                if (k.kind == Mutation::h2_data_beyond_length) {
                    conn->send_data(id, first.body, true, deadline);
                } else if (k.kind == Mutation::h2_rst_mid_body) {
                    conn->send_data(id, std::string_view(first.body).substr(0, k.partial), false, deadline);
                    conn->send_rst(id, h2::CANCEL);
                } else { // rst_mid_response
                    conn->pump_until([&] { return conn->stream(id).body.size() >= k.partial || conn->finished(id); },
                                     deadline);
                    if (!conn->finished(id)) conn->send_rst(id, h2::CANCEL);
                }
                if (k.kind == Mutation::h2_data_beyond_length && !conn->wait_finished({id}, deadline))
                    hang("the stream with too much DATA did not end");
                judge_stream(*conn, id, first, false, label(0), out.problems);
            }
            if (out.hang) break;
            const std::uint32_t id = open_call(plain);
            if (!conn->wait_finished({id}, deadline)) {
                hang("the request after the hostile step got neither an answer nor a reset or GOAWAY");
                break;
            }
            // The server may have ended the connection because of the hostile step.
            const bool ended = conn->goaway() || conn->closed();
            judge_stream(*conn, id, plain, !ended, label(k.calls.size() - 1), out.problems);
            break;
        }
        }
    } catch (const HttpError& e) {
        out.problems.push_back(std::string("client error: ") + e.what());
        if (Clock::now() >= deadline) out.hang = true;
    }
    for (const auto& v : conn->violations()) out.problems.push_back("PROTOCOL: the server sent " + v);
    // Closed without GOAWAY, streams still open: what a dying child does.
    if (conn->closed() && !conn->goaway())
        for (std::uint32_t id = 1; id < conn->next_stream_id(); id += 2)
            if (!conn->stream(id).end_stream && !conn->stream(id).reset) out.closed_unanswered = true;
    out.sent = conn->sent();
    return out;
}

} // namespace

Mutation kind_of(const Case& c) {
    return std::visit([](const auto& k) { return k.kind; }, c);
}

const std::string& what_of(const Case& c) {
    return std::visit([](const auto& k) -> const std::string& { return k.what; }, c);
}

Outcome run_case(const Case& c, std::uint16_t port, std::chrono::milliseconds deadline) {
    if (const auto* h1 = std::get_if<H1Case>(&c)) return run_h1(*h1, port, deadline);
    return run_h2(std::get<H2Case>(c), port, deadline);
}

std::string reproducer(const Case& c, const Outcome& o, std::size_t max_bytes) {
    std::string how;
    if (const auto* k = std::get_if<H1Case>(&c)) {
        switch (k->client) {
        case H1Case::Client::half_close_and_read: how = "write all, shut down the write side, read until EOF"; break;
        case H1Case::Client::vanish:
            how = "write the first " + std::to_string(k->send_before_close) + " bytes, then close" +
                  (k->reset_on_close ? " with RST (SO_LINGER 0)" : "");
            break;
        case H1Case::Client::read_part_then_close:
            how = "write all, read " + std::to_string(k->read_before_close) + " bytes, close" +
                  (k->reset_on_close ? " with RST (SO_LINGER 0)" : "");
            break;
        case H1Case::Client::expect_continue:
            how = "write the first " + std::to_string(k->head_size) +
                  " bytes (the head), wait up to 0.25 s for 100 Continue, write the rest unless a final answer came, "
                  "shut down the write side, read until EOF";
            break;
        }
        return "HTTP/1.1 client: " + how + "; bytes (" + std::to_string(k->bytes.size()) + "):\n        \"" +
               c_escape(k->bytes, max_bytes) + "\"";
    }
    return "h2c prior knowledge; every byte the client wrote (" + std::to_string(o.sent.size()) + "):\n        \"" +
           c_escape(o.sent, max_bytes) + "\"";
}

} // namespace pympm_test::fuzz

// The request fuzzer's cases (see test_request_fuzz.cpp): the kinds of
// mutation, what one case puts on the wire and what must come back for each
// request in it, and the seeded generators of every kind. Generating is
// pure: the same seed gives the same bytes, so a failure is reproduced by
// its seed (and the case's bytes, which the runner prints).
#pragma once

#include "hpack.h"

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <variant>
#include <vector>

namespace pympm_test::fuzz {

enum class Mutation {
    baseline,              // well-formed requests to every kind of route
    chunk_bad_size,        // chunk-size lines that are not hex, signed, padded, overflowing
    chunk_framing,         // missing CRLFs, data longer than its size, bare LFs, extension and trailer garbage
    chunk_huge,            // chunk sizes of gigabytes and more, then the client stops
    chunk_truncated,       // a chunked body that stops anywhere before its last chunk
    body_short,            // fewer bytes than Content-Length, then the client stops
    body_long,             // more bytes than Content-Length: the rest is read as the next request
    cl_te_conflict,        // Content-Length with Transfer-Encoding, odd codings, odd or repeated lengths
    vanish_mid_body,       // the client closes (FIN or RST) in the middle of its body
    vanish_mid_response,   // the client reads part of the response, then closes
    pipeline,              // several requests in one write, after streamed and file responses
    expect_continue,       // Expect: 100-continue, waited for or not; a refused body; unknown expectations
    huge_headers,          // long fields and request lines, many and repeated fields
    odd_method,            // TRACE, CONNECT, WebDAV, lowercase, invalid and long methods
    path_tricks,           // %2F, dot segments (plain and encoded), NUL and high bytes, long queries
    header_bytes,          // NUL, CTLs, high bytes, obs-fold, bad names and bare-LF requests
    http10,                // HTTP/1.0 (close-delimited streaming, keep-alive), 0.9 and odd versions
    absolute_form,         // absolute-form, authority-form and asterisk targets
    error_document,        // 404, 500, 413 and 400 answered by ErrorDocument pages inside the app
    subrequest_filter,     // mod_include subrequests into the app, mod_deflate over it
    rewrite,               // mod_rewrite rules into the mount
    hostile_response,      // the app sends 1xx/204/304 statuses, short, huge or long Content-Lengths
    h2_normal,             // HTTP/2 (h2c prior knowledge) requests to every kind of route
    h2_data_beyond_length, // DATA past the request's content-length
    h2_rst_mid_body,       // RST_STREAM while the app reads the body
    h2_rst_mid_response,   // RST_STREAM while the app streams its response
    h2_concurrent,         // many streams to the app at once
    h2_bad_frame,          // frames and header blocks that break the protocol
};
const char* name(Mutation m);
std::optional<Mutation> mutation_named(const std::string& name);
const std::vector<Mutation>& all_mutations();
bool is_h2(Mutation m);
// How many cases of the kind make one round.
int cases_per_round(Mutation m);

// What must come back for one request.
struct Expect {
    std::string token;           // sent as X-Fuzz-Token; a response carrying a token must carry this one
    bool token_required = false; // the app (or an error page in the app) answers: the token must be there
    bool head = false;           // HEAD: no body
    std::vector<int> statuses;   // acceptable final statuses; empty: any
    std::optional<std::string> body;
    bool may_gzip = false;         // Accept-Encoding: gzip sent: mod_deflate may compress `body`
    bool may_truncate = false;     // cut short on purpose (app route, or the client leaves)
    bool continue_allowed = false; // "Expect: 100-continue" was sent
    bool server_error_ok = false;  // a route that fails on purpose (5xx is right)
    bool raw_allowed = false;      // an HTTP/0.9 request: the answer is a bare body
};

// One HTTP/1.x connection.
struct H1Case {
    enum class Client {
        half_close_and_read,  // write everything, shut down our side, read until the server closes
        vanish,               // write `send_before_close` bytes, close without reading
        read_part_then_close, // write everything, read `read_before_close` bytes, close
        expect_continue,      // write the head, wait briefly for 100 or a final answer, then the body
    };
    Mutation kind{};
    std::string what;            // what was done to the request, in words
    std::string bytes;           // everything we write, in order
    std::vector<Expect> expects; // one per request in `bytes`, in order
    // Every request is well-formed: each gets its response, unless one of
    // them says it closes the connection.
    bool all_must_answer = false;
    Client client = Client::half_close_and_read;
    std::size_t send_before_close = 0;
    std::size_t read_before_close = 0;
    std::size_t head_size = 0; // expect_continue: bytes of the head; the rest is the body
    bool reset_on_close = false;
};

// One request of an HTTP/2 case.
struct H2Call {
    std::string method;
    std::string path;
    HeaderList headers; // lower-case names; x-fuzz-token is added
    std::string body;   // sent as DATA when not empty
    Expect expect;
};

// One HTTP/2 connection; what is done depends on the kind (see the runner).
struct H2Case {
    Mutation kind{};
    std::string what;
    std::vector<H2Call> calls;   // opened at once; the last is a plain request after any hostile step
    std::size_t partial = 0;     // rst_mid_body: body bytes before RST; rst_mid_response: response bytes
    std::string declared_length; // data_beyond_length: the content-length header
    std::string hostile_bytes;   // bad_frame: raw bytes written before the plain request
    int hostile_stream = 0;      // bad_frame: stream ids the hostile bytes open (skipped by the client)
};

using Case = std::variant<H1Case, H2Case>;

// What generators need to know about the server under test.
struct World {
    std::uint16_t port = 0;
    std::string file;         // the content of the data file the app sends with wsgi.file_wrapper
    std::string token_prefix; // tokens are <prefix><counter>, alphanumeric
    bool asgi = false;        // the app is fuzz_asgi_app.py (its /echo also has style=stream)
    unsigned long next_token = 0;
    std::string token() { return token_prefix + std::to_string(next_token++); }
};

// `count` cases of kind `m`.
std::vector<Case> make_cases(Mutation m, int count, World& world, std::mt19937& rng);

} // namespace pympm_test::fuzz

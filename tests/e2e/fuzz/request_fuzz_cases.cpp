#include "request_fuzz_cases.h"

#include "request_fuzz_routes.h"

#include "raw_h2_connection.h"
#include "http1_response_parser.h"

#include <algorithm>
#include <cstdio>

namespace pympm_test::fuzz {

namespace {

// ------------------------------------------------------------- the catalogue

struct KindInfo {
    Mutation kind;
    const char* name;
    int per_round;
};

const std::vector<KindInfo>& kinds() {
    static const std::vector<KindInfo> k = {
        {Mutation::baseline, "baseline", 40},
        {Mutation::chunk_bad_size, "chunk_bad_size", 24},
        {Mutation::chunk_framing, "chunk_framing", 24},
        {Mutation::chunk_huge, "chunk_huge", 10},
        {Mutation::chunk_truncated, "chunk_truncated", 20},
        {Mutation::body_short, "body_short", 20},
        {Mutation::body_long, "body_long", 20},
        {Mutation::cl_te_conflict, "cl_te_conflict", 24},
        {Mutation::vanish_mid_body, "vanish_mid_body", 20},
        {Mutation::vanish_mid_response, "vanish_mid_response", 20},
        {Mutation::pipeline, "pipeline", 40},
        {Mutation::expect_continue, "expect_continue", 20},
        {Mutation::huge_headers, "huge_headers", 16},
        {Mutation::odd_method, "odd_method", 24},
        {Mutation::path_tricks, "path_tricks", 40},
        {Mutation::header_bytes, "header_bytes", 24},
        {Mutation::http10, "http10", 20},
        {Mutation::absolute_form, "absolute_form", 16},
        {Mutation::error_document, "error_document", 30},
        {Mutation::subrequest_filter, "subrequest_filter", 30},
        {Mutation::rewrite, "rewrite", 20},
        {Mutation::hostile_response, "hostile_response", 30},
        {Mutation::h2_normal, "h2_normal", 30},
        {Mutation::h2_data_beyond_length, "h2_data_beyond_length", 10},
        {Mutation::h2_rst_mid_body, "h2_rst_mid_body", 10},
        {Mutation::h2_rst_mid_response, "h2_rst_mid_response", 10},
        {Mutation::h2_concurrent, "h2_concurrent", 6},
        {Mutation::h2_bad_frame, "h2_bad_frame", 30},
    };
    return k;
}

// ----------------------------------------------------------- HTTP/1 wire

std::string chunked_body(Rng& rng, const std::string& body) {
    std::string out;
    std::size_t pos = 0;
    while (pos < body.size()) {
        const std::size_t n = std::min<std::size_t>(body.size() - pos, static_cast<std::size_t>(uniform(rng, 1, 9000)));
        char hex[32];
        std::snprintf(hex, sizeof hex, "%zx\r\n", n);
        out += hex + body.substr(pos, n) + "\r\n";
        pos += n;
    }
    return out + "0\r\n\r\n";
}

// The head of a call (through the blank line), with the framing headers its body needs.
std::string h1_head(const Call& c, bool keep_alive, const std::string& version = "HTTP/1.1") {
    std::string out = c.method + " " + c.target + " " + version + "\r\nHost: 127.0.0.1\r\n";
    out += "X-Fuzz-Token: " + c.expect.token + "\r\n";
    for (const auto& [n, v] : c.headers) out += n + ": " + v + "\r\n";
    if (c.chunked)
        out += "Transfer-Encoding: chunked\r\n";
    else if (!c.body.empty() || c.method == "POST" || c.method == "PUT")
        out += "Content-Length: " + std::to_string(c.body.size()) + "\r\n";
    out += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
    return out + "\r\n";
}

std::string h1_request(Rng& rng, const Call& c, bool keep_alive) {
    return h1_head(c, keep_alive) + (c.chunked ? chunked_body(rng, c.body) : c.body);
}

H1Case h1_case(Mutation kind, std::string what) {
    H1Case k;
    k.kind = kind;
    k.what = std::move(what);
    return k;
}

// One well-formed call, sent as is.
H1Case single(Mutation kind, Rng& rng, const Call& c, const std::string& what) {
    H1Case k = h1_case(kind, what + ": " + c.method + " " + c.target);
    const bool keep_alive = chance(rng, 0.5);
    k.bytes = h1_request(rng, c, keep_alive);
    k.expects = {c.expect};
    k.all_must_answer = true;
    return k;
}

// A request httpd may refuse before it knows the method must not be a
// HEAD: whether its error page has a body would be ambiguous.
void not_head(Call& c) {
    if (c.method != "HEAD") return;
    c.method = "GET";
    c.expect.head = false;
}

// Appends a well-formed request after a hostile one (in the same write): if
// it is answered, its response must be the next one, with its token.
void maybe_follow(H1Case& k, Rng& rng, World& w, double p = 0.5) {
    if (!chance(rng, p)) return;
    Call next = ok_call(w, "GET", "/app/cl", "0123456789");
    k.bytes += h1_request(rng, next, false);
    next.expect.token_required = false; // the hostile request may have ended the connection
    next.expect.statuses.clear();
    next.expect.body.reset();
    k.expects.push_back(next.expect);
    k.what += " + a pipelined GET /app/cl";
}

// A hostile request: any well-formed answer (or a clean close) will do, but
// a response carrying its token is the app's and comes first.
Expect hostile_expect(World& w) {
    Expect e;
    e.token = w.token();
    return e;
}

std::string echo_target(Rng& rng, const World& w, bool streamed_ok = true) {
    static const std::vector<std::string> mounts = {"/app", "/app", "/rw", "/gz", "/small", "/inc"};
    return pick(rng, mounts) + "/echo?style=" + pick(rng, echo_styles(w, streamed_ok));
}

std::string post_head(const std::string& target, const std::string& token, const std::string& framing) {
    return "POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Fuzz-Token: " + token + "\r\n" + framing +
           "Connection: keep-alive\r\n\r\n";
}

// ------------------------------------------------------------ the mutations

H1Case make_baseline(Rng& rng, World& w) { return single(Mutation::baseline, rng, good_call(rng, w), "well-formed"); }

H1Case make_chunk_bad_size(Rng& rng, World& w) {
    static const std::vector<std::string> sizes = {
        "zz",
        "-1",
        "0x5",
        " 5",
        "5 5",
        "+5",
        "",
        "ffffffffffffffffffff",
        "1_0",
        "5\t",
        "\x00"
        "5",
        "5\x00",
        "0005",
        "5 ",
        "G",
        "\xff",
        "-0",
        "5;",
        ";5",
        "00000000000000000000000005",
    };
    Expect e = hostile_expect(w);
    const std::string size = pick(rng, sizes);
    H1Case k = h1_case(Mutation::chunk_bad_size, "chunk-size line \"" + size + "\"");
    std::string body = post_head(echo_target(rng, w), e.token, "Transfer-Encoding: chunked\r\n");
    if (chance(rng, 0.5)) body += "3\r\nabc\r\n";
    body += size + "\r\nhello\r\n0\r\n\r\n";
    k.bytes = body;
    k.expects = {e};
    maybe_follow(k, rng, w);
    return k;
}

H1Case make_chunk_framing(Rng& rng, World& w) {
    struct Variant {
        const char* what;
        std::string chunks;
    };
    const std::vector<Variant> variants = {
        {"no CRLF after the chunk data", "5\r\nhello0\r\n\r\n"},
        {"chunk data longer than its size", "3\r\nhello\r\n0\r\n\r\n"},
        {"chunk data shorter than its size", "8\r\nhello\r\n0\r\n\r\n"},
        {"bare LF line endings", "5\nhello\n0\n\n"},
        {"a chunk extension", "5;name=value\r\nhello\r\n0\r\n\r\n"},
        {"a quoted chunk extension", "5;a=\"x;y\\\"z\"\r\nhello\r\n0\r\n\r\n"},
        {"a 5000-byte chunk extension", "5;" + std::string(5000, 'x') + "\r\nhello\r\n0\r\n\r\n"},
        {"control bytes in a chunk extension", "5;\x01\x7f\r\nhello\r\n0\r\n\r\n"},
        {"space before the extension", "5 ;ext\r\nhello\r\n0\r\n\r\n"},
        {"trailer fields", "5\r\nhello\r\n0\r\nX-Trailer: yes\r\n\r\n"},
        {"a trailer line without a colon", "5\r\nhello\r\n0\r\nnot a field\r\n\r\n"},
        {"a 9000-byte trailer", "5\r\nhello\r\n0\r\nX-Big: " + std::string(9000, 't') + "\r\n\r\n"},
        {"a forbidden trailer (Content-Length)", "5\r\nhello\r\n0\r\nContent-Length: 99\r\n\r\n"},
        {"CR without LF after the size", "5\rhello\r\n0\r\n\r\n"},
        {"no blank line after the last chunk", "5\r\nhello\r\n0\r\n"},
        {"a zero-size chunk in the middle", "5\r\nhello\r\n0\r\n\r\n5\r\nworld\r\n0\r\n\r\n"},
        {"1000 one-byte chunks",
         [] {
             std::string s;
             for (int i = 0; i < 1000; ++i) s += "1\r\nx\r\n";
             return s + "0\r\n\r\n";
         }()},
    };
    const Variant& v = pick(rng, variants);
    Expect e = hostile_expect(w);
    H1Case k = h1_case(Mutation::chunk_framing, v.what);
    k.bytes = post_head(echo_target(rng, w), e.token, "Transfer-Encoding: chunked\r\n") + v.chunks;
    k.expects = {e};
    maybe_follow(k, rng, w);
    return k;
}

H1Case make_chunk_huge(Rng& rng, World& w) {
    static const std::vector<std::string> sizes = {"7fffffffffffffff", "ffffffffffffffff", "10000000000000000",
                                                   "100000000",        "7fffffff",         "80000000",
                                                   "fffffffffff"};
    const std::string size = pick(rng, sizes);
    Expect e = hostile_expect(w);
    H1Case k = h1_case(Mutation::chunk_huge, "chunk size 0x" + size + ", a few bytes, then the client stops");
    k.bytes = post_head(echo_target(rng, w), e.token, "Transfer-Encoding: chunked\r\n") + size + "\r\n" +
              random_body(rng, static_cast<std::size_t>(uniform(rng, 0, 3000)));
    k.expects = {e};
    return k;
}

H1Case make_chunk_truncated(Rng& rng, World& w) {
    Expect e = hostile_expect(w);
    const std::string full = chunked_body(rng, random_body(rng, static_cast<std::size_t>(uniform(rng, 1, 30000))));
    const std::size_t cut = static_cast<std::size_t>(uniform(rng, 0, static_cast<int>(full.size()) - 3));
    H1Case k = h1_case(Mutation::chunk_truncated, "chunked body cut after " + std::to_string(cut) + " of " +
                                                      std::to_string(full.size()) + " bytes, then the client stops");
    k.bytes = post_head(echo_target(rng, w), e.token, "Transfer-Encoding: chunked\r\n") + full.substr(0, cut);
    k.expects = {e};
    return k;
}

H1Case make_body_short(Rng& rng, World& w) {
    Expect e = hostile_expect(w);
    const std::size_t declared = static_cast<std::size_t>(pick(rng, std::vector<int>{1, 10, 1000, 1024, 5000, 100000}));
    const std::size_t sent = static_cast<std::size_t>(uniform(rng, 0, static_cast<int>(declared) - 1));
    H1Case k = h1_case(Mutation::body_short, "Content-Length " + std::to_string(declared) + ", " +
                                                 std::to_string(sent) + " bytes sent, then the client stops");
    k.bytes = post_head(echo_target(rng, w), e.token, "Content-Length: " + std::to_string(declared) + "\r\n") +
              random_body(rng, sent);
    k.expects = {e};
    return k;
}

H1Case make_body_long(Rng& rng, World& w) {
    static const std::vector<std::string> targets = {"/app/echo?style=read",
                                                     "/app/echo?style=cl",
                                                     "/app/echo?style=readline",
                                                     "/app/ignore",
                                                     "/small/echo",
                                                     "/rw/echo",
                                                     "/inc/echo"};
    const std::string target = pick(rng, targets);
    const std::size_t declared = static_cast<std::size_t>(uniform(rng, 0, 900));
    const std::string body = random_body(rng, declared);
    Expect e;
    e.token = w.token();
    e.token_required = true;
    e.statuses = {200};
    e.body = target == "/app/ignore" ? std::string("body not read\n") : body;
    H1Case k = h1_case(Mutation::body_long, "");
    k.bytes = post_head(target, e.token, "Content-Length: " + std::to_string(declared) + "\r\n") + body;
    k.expects = {e};
    if (chance(rng, 0.5)) {
        // The excess is a whole request: a pipeline in disguise.
        Call next = good_call(rng, w);
        k.bytes += h1_request(rng, next, false);
        k.expects.push_back(next.expect);
        k.all_must_answer = true;
        k.what = "a request after exactly Content-Length " + std::to_string(declared) + " bytes: " + next.method + " " +
                 next.target;
    } else {
        static const std::vector<std::string> tails = {"XYZ",
                                                       "\r\n",
                                                       "\r\n\r\n",
                                                       "garbage\r\n\r\n",
                                                       "GET /app/text HTTP/1.1\r\n",
                                                       std::string(3000, 'x'),
                                                       "\x00\x01\x02",
                                                       "0\r\n\r\n"};
        const std::string tail = pick(rng, tails);
        k.bytes += tail;
        k.what = "Content-Length " + std::to_string(declared) + " then \"" + tail.substr(0, 30) + "\" more";
    }
    k.what += " (" + target + ")";
    return k;
}

H1Case make_cl_te_conflict(Rng& rng, World& w) {
    struct Variant {
        const char* what;
        std::string framing;
        std::string body;
    };
    const std::string smuggled = "GET /app/cl HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Fuzz-Token: smuggled\r\n\r\n";
    const std::vector<Variant> variants = {
        {"Content-Length and Transfer-Encoding: chunked", "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",
         "5\r\nhello\r\n0\r\n\r\n"},
        {"Transfer-Encoding: chunked before Content-Length", "Transfer-Encoding: chunked\r\nContent-Length: 40\r\n",
         "5\r\nhello\r\n0\r\n\r\n"},
        {"CL.TE smuggling shape",
         "Content-Length: " + std::to_string(5 + smuggled.size()) + "\r\nTransfer-Encoding: chunked\r\n",
         "0\r\n\r\n" + smuggled},
        {"Transfer-Encoding: gzip, chunked", "Transfer-Encoding: gzip, chunked\r\n", "5\r\nhello\r\n0\r\n\r\n"},
        {"Transfer-Encoding: chunked, gzip", "Transfer-Encoding: chunked, gzip\r\n", "5\r\nhello\r\n0\r\n\r\n"},
        {"Transfer-Encoding: identity", "Transfer-Encoding: identity\r\nContent-Length: 5\r\n", "hello"},
        {"Transfer-Encoding: Chunked", "Transfer-Encoding: Chunked\r\n", "5\r\nhello\r\n0\r\n\r\n"},
        {"Transfer-Encoding twice", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
         "5\r\nhello\r\n0\r\n\r\n"},
        {"Transfer-Encoding: xchunked", "Transfer-Encoding: xchunked\r\n", "5\r\nhello\r\n0\r\n\r\n"},
        {"Transfer-Encoding with a space before the colon", "Transfer-Encoding : chunked\r\n",
         "5\r\nhello\r\n0\r\n\r\n"},
        {"two equal Content-Lengths", "Content-Length: 5\r\nContent-Length: 5\r\n", "hello"},
        {"two different Content-Lengths", "Content-Length: 5\r\nContent-Length: 7\r\n", "hello12"},
        {"Content-Length: 5, 5", "Content-Length: 5, 5\r\n", "hello"},
        {"Content-Length: +5", "Content-Length: +5\r\n", "hello"},
        {"Content-Length: -1", "Content-Length: -1\r\n", "hello"},
        {"Content-Length: 0x5", "Content-Length: 0x5\r\n", "hello"},
        {"Content-Length: 99999999999999999999", "Content-Length: 99999999999999999999\r\n", "hello"},
        {"Content-Length: 9223372036854775807", "Content-Length: 9223372036854775807\r\n", "hello"},
        {"Content-Length with spaces inside", "Content-Length: 5 5\r\n", "hello"},
        {"empty Content-Length", "Content-Length: \r\n", "hello"},
        {"Content-Length: 05", "Content-Length: 05\r\n", "hello"},
    };
    const Variant& v = pick(rng, variants);
    Expect e = hostile_expect(w);
    H1Case k = h1_case(Mutation::cl_te_conflict, v.what);
    k.bytes = post_head(echo_target(rng, w), e.token, v.framing) + v.body;
    k.expects = {e};
    maybe_follow(k, rng, w);
    return k;
}

H1Case make_vanish_mid_body(Rng& rng, World& w) {
    Expect e = hostile_expect(w);
    const bool chunked = chance(rng, 0.4);
    const std::string body = random_body(rng, static_cast<std::size_t>(uniform(rng, 10, 200000)));
    const std::string head = post_head(echo_target(rng, w), e.token,
                                       chunked ? "Transfer-Encoding: chunked\r\n"
                                               : "Content-Length: " + std::to_string(body.size()) + "\r\n");
    H1Case k = h1_case(Mutation::vanish_mid_body, "");
    k.bytes = head + (chunked ? chunked_body(rng, body) : body);
    k.client = H1Case::Client::vanish;
    k.send_before_close =
        head.size() + static_cast<std::size_t>(uniform(rng, 0, static_cast<int>(k.bytes.size() - head.size()) - 1));
    k.reset_on_close = chance(rng, 0.5);
    k.what = std::string(chunked ? "chunked" : "Content-Length") + " body of " + std::to_string(body.size()) +
             " bytes, the client leaves (" + (k.reset_on_close ? "RST" : "FIN") + ") after sending " +
             std::to_string(k.send_before_close) + " of " + std::to_string(k.bytes.size()) + " bytes";
    k.expects = {e};
    return k;
}

H1Case make_vanish_mid_response(Rng& rng, World& w) {
    static const std::vector<std::string> targets = {"/app/slow",       "/app/stream?n=60&size=8000", "/app/file",
                                                     "/app/write_file", "/inc/ssi?inc=file",          "/gz/slow",
                                                     "/rw/slow",        "/app/fail_midstream"};
    const std::string target = pick(rng, targets);
    Call c = ok_call(w, "GET", target, std::nullopt);
    if (target.rfind("/gz", 0) == 0) {
        c.headers.emplace_back("Accept-Encoding", "gzip");
        c.expect.may_gzip = true;
    }
    c.expect.may_truncate = true;
    c.expect.statuses.clear();
    c.expect.token_required = false;
    H1Case k = h1_case(Mutation::vanish_mid_response, "");
    k.bytes = h1_request(rng, c, chance(rng, 0.5));
    k.expects = {c.expect};
    k.client = H1Case::Client::read_part_then_close;
    k.read_before_close = static_cast<std::size_t>(uniform(rng, 1, 60000));
    k.reset_on_close = chance(rng, 0.5);
    k.what = "GET " + target + ", the client reads " + std::to_string(k.read_before_close) + " bytes and leaves (" +
             (k.reset_on_close ? "RST" : "FIN") + ")";
    return k;
}

H1Case make_pipeline(Rng& rng, World& w) {
    // Streamed, file and written responses first: what follows them must
    // still be in step.
    static const std::vector<Route> leaders = {Route::stream, Route::file, Route::write_file, Route::write_file_cl,
                                               Route::write,  Route::ssi,  Route::gz,         Route::echo};
    const int n = uniform(rng, 2, 6);
    H1Case k = h1_case(Mutation::pipeline, std::to_string(n) + " requests in one write:");
    for (int i = 0; i < n; ++i) {
        Call c = i == 0 || chance(rng, 0.4) ? route_call(pick(rng, leaders), rng, w) : good_call(rng, w);
        k.bytes += h1_request(rng, c, i + 1 < n || chance(rng, 0.5));
        k.expects.push_back(c.expect);
        k.what += " " + c.method + " " + c.target + (c.chunked ? " (chunked)" : "") + ";";
    }
    k.all_must_answer = true;
    return k;
}

H1Case make_expect_continue(Rng& rng, World& w) {
    const int variant = uniform(rng, 0, 7);
    Call c = route_call(Route::echo, rng, w);
    c.headers.emplace_back("Expect", "100-continue");
    c.expect.continue_allowed = true;
    H1Case k = h1_case(Mutation::expect_continue, "");
    k.client = H1Case::Client::expect_continue;
    switch (variant) {
    case 0: k.what = "Expect: 100-continue, the client waits for 100"; break;
    case 1:
        k.what = "Expect: 100-continue, the body sent at once";
        k.client = H1Case::Client::half_close_and_read;
        break;
    case 2:
        c = route_call(Route::too_large, rng, w);
        c.headers.emplace_back("Expect", "100-continue");
        c.expect.continue_allowed = true;
        k.what = "Expect: 100-continue on a body over LimitRequestBody";
        break;
    case 3:
        c.target = "/app/ignore";
        c.expect.body = "body not read\n";
        k.what = "Expect: 100-continue to an app that does not read the body";
        break;
    case 4:
        c = ok_call(w, "GET", "/app/text", kText);
        c.headers.emplace_back("Expect", "100-continue");
        c.expect.continue_allowed = true;
        k.what = "Expect: 100-continue on a GET without a body";
        break;
    case 5:
        c.headers.back().second = "200-ok";
        c.expect = hostile_expect(w);
        c.expect.statuses = {417};
        k.what = "Expect: 200-ok (unknown expectation)";
        break;
    case 6:
        c.headers.back().second = "100-continue, 100-continue";
        c.expect.statuses.clear();
        c.expect.body.reset();
        c.expect.token_required = false;
        k.what = "Expect: 100-continue twice in one field";
        break;
    default:
        c.target = "/inc/echo?style=readline";
        k.what = "Expect: 100-continue through mod_include";
        break;
    }
    k.what += ": " + c.method + " " + c.target;
    k.head_size = h1_head(c, false).size();
    k.bytes = h1_request(rng, c, false);
    k.expects = {c.expect};
    return k;
}

H1Case make_huge_headers(Rng& rng, World& w) {
    Call c = good_call(rng, w);
    const int variant = uniform(rng, 0, 7);
    H1Case k = h1_case(Mutation::huge_headers, "");
    bool still_good = false;
    switch (variant) {
    case 0:
        c.headers.emplace_back("X-Long", std::string(9000, 'v'));
        k.what = "a 9000-byte field";
        break;
    case 1:
        for (int i = 0; i < 101; ++i) c.headers.emplace_back("X-F" + std::to_string(i), "v");
        k.what = "101 fields";
        break;
    case 2:
        c.target += std::string(c.target.find('?') == std::string::npos ? "?" : "&") + "q=" + std::string(9000, 'q');
        k.what = "a 9000-byte request target";
        break;
    case 3:
        c.headers.emplace_back("Host", "other.example");
        k.what = "Host twice";
        break;
    case 4:
        c.headers.emplace_back("X-Fuzz-Token", "second");
        k.what = "X-Fuzz-Token twice";
        break;
    case 5:
        for (int i = 0; i < 60; ++i)
            c.headers.emplace_back("Cookie", "c" + std::to_string(i) + "=" + std::string(100, 'c'));
        k.what = "60 Cookie fields";
        still_good = true;
        break;
    case 6:
        c.headers.emplace_back(std::string(300, 'X'), "v");
        k.what = "a 300-byte field name";
        still_good = true;
        break;
    default:
        for (int i = 0; i < 90; ++i) c.headers.emplace_back("X-Big-" + std::to_string(i), std::string(800, 'b'));
        k.what = "90 fields of 800 bytes";
        still_good = true;
        break;
    }
    if (!still_good) not_head(c);
    k.what += ": " + c.method + " " + c.target.substr(0, 60);
    k.bytes = h1_request(rng, c, chance(rng, 0.5));
    if (!still_good) {
        c.expect.token_required = false;
        c.expect.statuses.clear();
        c.expect.body.reset();
    }
    k.expects = {c.expect};
    k.all_must_answer = still_good;
    maybe_follow(k, rng, w, 0.3);
    return k;
}

H1Case make_odd_method(Rng& rng, World& w) {
    static const std::vector<std::pair<std::string, std::string>> lines = {
        {"TRACE", "/app/echo"},
        {"TRACE", "*"},
        {"CONNECT", "127.0.0.1:80"},
        {"CONNECT", "/app/echo"},
        {"PROPFIND", "/app/echo"},
        {"MKCOL", "/app/echo"},
        {"DELETE", "/app/echo"},
        {"PATCH", "/app/echo"},
        {"get", "/app/echo"},
        {"G\x01T", "/app/echo"},
        {"GET\x7f", "/app/echo"},
        {"", "/app/echo"},
        {std::string(300, 'M'), "/app/echo"},
        {"GET GET", "/app/echo"},
        {"OPTIONS", "/app/echo"},
        {"OPTIONS", "*"},
        {"BREW", "/app/echo"},
        {"HEAD", "/app/stream"},
        {"POST", "/app/stream"},
        {"M-SEARCH", "/app/echo"},
        {"GET\t", "/app/echo"},
        {"\xff\xfe", "/app/echo"},
    };
    const auto& [method, target] = pick(rng, lines);
    Expect e = hostile_expect(w);
    const bool with_body = chance(rng, 0.5);
    H1Case k = h1_case(Mutation::odd_method,
                       "method \"" + method.substr(0, 40) + "\" " + target + (with_body ? " with a body" : ""));
    k.bytes = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Fuzz-Token: " + e.token + "\r\n" +
              (with_body ? "Content-Length: 6\r\n" : "") + "Connection: keep-alive\r\n\r\n" +
              (with_body ? "<xml/>" : "");
    k.expects = {e};
    maybe_follow(k, rng, w);
    return k;
}

H1Case make_path_tricks(Rng& rng, World& w) {
    static const std::vector<std::string> targets = {
        "/app/%2Ftext",
        "/app%2ftext",
        "/app/../app/text",
        "/app/%2e%2e/app/text",
        "/app/%2E%2E/app/cl",
        "/app/./text",
        "//app//text",
        "/app/text/",
        "/app/text%00",
        "/app/te%00xt",
        "/app/%ff%fe/text",
        "/app/\xff\xfe/text",
        "/app/text?%00=%00",
        "/../../etc/passwd",
        "/app/%2e%2e/%2e%2e/etc/passwd",
        "/app/text#frag",
        "/app/text;param",
        "/app/%",
        "/app/%zz",
        "/app/%c0%ae%c0%ae/text",
        "/rw/%2e%2e/app/text",
        "/inc/%2e%2e/app/ssi",
        "/app/\ttext",
        "/app/te xt",
        "/app/%2e%2e%2f%2e%2e%2fetc",
        "/app/text?" + std::string(6000, 'q'),
        "/app/" + std::string(3000, 'p') + "/text",
        "/app/..%2ftext",
        "/app/.%2e/app/text",
        "/app/%252e%252e/text",
        "/small/../app/text",
        "/app/text\\..\\cl",
        "/app/file/../../app/echo",
        "/app/\x01text",
        "/app/%0d%0aSet-Cookie:x/text",
        "/ap%70/text",
        "/APP/text",
        "/app/text%20",
        "*",
        "app/text",
        "/app/%u002e%u002e/text",
    };
    const std::string target = pick(rng, targets);
    Expect e = hostile_expect(w);
    H1Case k = h1_case(Mutation::path_tricks, "GET " + c_escape(target, 80));
    k.bytes = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Fuzz-Token: " + e.token +
              "\r\nConnection: keep-alive\r\n\r\n";
    k.expects = {e};
    maybe_follow(k, rng, w);
    return k;
}

H1Case make_header_bytes(Rng& rng, World& w) {
    struct Variant {
        const char* what;
        std::string field; // raw line(s), without the final CRLF
        bool good;         // still a valid request (the app answers it)
    };
    const std::vector<Variant> variants = {
        {"NUL in a field value", std::string("X-A: a\0b", 8), false},
        {"a control byte in a field value", "X-A: \x01\x02", false},
        {"high bytes in a field value", "X-A: caf\xc3\xa9 \xff\xfe", true},
        {"a space before the colon", "X-A : b", false},
        {"a field without a colon", "X-A", false},
        {"an empty field name", ": empty", false},
        {"an obs-folded field", "X-A: a\r\n folded", false},
        {"a bare CR in a value", "X-A: a\rb", false},
        {"a high byte in a field name", "X-\xff: a", false},
        {"Host with a space", "Host: a b", false},
        {"Host: [::1", "Host: [::1", false},
        {"a field of only spaces", "X-A:      ", true},
        {"a tab-separated value", "X-A:\tb\t", true},
        {"DEL in a value", "X-A: a\x7f", false},
        {"a UTF-8 field name", "X-\xc3\xa9: a", false},
        {"Content-Type of high bytes", "Content-Type: \xff\xfe/\x80", true},
        {"X-Forwarded-For garbage", "X-Forwarded-For: \xff, ::, 999.1.1.1", true},
        {"Proxy (httpoxy)", "Proxy: http://evil.example:1", true},
        {"an underscore field name", "X_Fuzz_Token: other", true},
    };
    const Variant& v = pick(rng, variants);
    Call c = good_call(rng, w);
    const bool bare_lf = chance(rng, 0.15);
    if (!v.good || bare_lf) not_head(c);
    H1Case k = h1_case(Mutation::header_bytes, std::string(v.what) + ": " + c.method + " " + c.target);
    std::string req = h1_request(rng, c, chance(rng, 0.5));
    // The field goes right after the request line.
    req.insert(req.find("\r\n") + 2, v.field + "\r\n");
    if (!v.good) {
        c.expect.token_required = false;
        c.expect.statuses.clear();
        c.expect.body.reset();
    }
    if (bare_lf) { // the whole head with bare LF line endings
        const std::size_t head_end = req.find("\r\n\r\n") + 4;
        std::string head = req.substr(0, head_end), lf;
        for (std::size_t i = 0; i < head.size(); ++i)
            if (!(head[i] == '\r' && i + 1 < head.size() && head[i + 1] == '\n')) lf.push_back(head[i]);
        req = lf + req.substr(head_end);
        k.what += " (bare LF line endings)";
        c.expect.token_required = false;
        c.expect.statuses.clear();
        c.expect.body.reset();
    }
    k.bytes = req;
    k.expects = {c.expect};
    k.all_must_answer = v.good;
    maybe_follow(k, rng, w, 0.3);
    return k;
}

H1Case make_http10(Rng& rng, World& w) {
    const int variant = uniform(rng, 0, 7);
    H1Case k = h1_case(Mutation::http10, "");
    auto v10 = [&](const Call& c, bool keep_alive) {
        std::string out = c.method + " " + c.target + " HTTP/1.0\r\nX-Fuzz-Token: " + c.expect.token + "\r\n";
        for (const auto& [n, v] : c.headers) out += n + ": " + v + "\r\n";
        if (!c.body.empty() || c.method == "POST") out += "Content-Length: " + std::to_string(c.body.size()) + "\r\n";
        if (keep_alive) out += "Connection: keep-alive\r\n";
        return out + "\r\n" + c.body;
    };
    if (variant <= 3) {
        // Responses without a length are delimited by the end of the connection.
        static const std::vector<Route> routes = {Route::stream, Route::write, Route::write_file, Route::file,
                                                  Route::echo,   Route::ssi,   Route::text};
        const int n = variant == 0 ? 2 : 1;
        k.what = "HTTP/1.0" + std::string(n > 1 ? " keep-alive pipeline:" : ":");
        for (int i = 0; i < n; ++i) {
            Call c = route_call(pick(rng, routes), rng, w);
            c.chunked = false;
            k.bytes += v10(c, i + 1 < n);
            k.expects.push_back(c.expect);
            k.what += " " + c.method + " " + c.target;
        }
        k.all_must_answer = true;
        return k;
    }
    static const std::vector<std::pair<std::string, std::string>> odd = {
        {"HTTP/0.9", "GET /app/text\r\n"},
        {"HTTP/1.2", "GET /app/text HTTP/1.2\r\nHost: 127.0.0.1\r\n\r\n"},
        {"HTTP/2.0 over HTTP/1", "GET /app/text HTTP/2.0\r\nHost: 127.0.0.1\r\n\r\n"},
        {"HTTP/11", "GET /app/text HTTP/11\r\nHost: 127.0.0.1\r\n\r\n"},
        {"lowercase http/1.1", "GET /app/text http/1.1\r\nHost: 127.0.0.1\r\n\r\n"},
        {"a fourth word on the request line", "GET /app/text HTTP/1.1 extra\r\nHost: 127.0.0.1\r\n\r\n"},
        {"HTTP/1.0 with Transfer-Encoding: chunked",
         "POST /app/echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
        {"HTTP/1.1 without Host", "GET /app/text HTTP/1.1\r\n\r\n"},
        {"HTTP/9.9", "GET /app/text HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n"},
        {"a request line of only spaces", "   \r\n\r\n"},
        {"leading empty lines", "\r\n\r\nGET /app/text HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"},
    };
    const auto& [what, bytes] = pick(rng, odd);
    k.what = what;
    k.bytes = bytes;
    Expect e = hostile_expect(w);
    // HTTP/0.9 answers are a bare body: only the end of the connection is checked.
    e.raw_allowed = what == "HTTP/0.9";
    k.expects = {e};
    return k;
}

H1Case make_absolute_form(Rng& rng, World& w) {
    const std::string self = "127.0.0.1:" + std::to_string(w.port);
    const int variant = uniform(rng, 0, 11);
    if (variant <= 1) {
        Call c =
            variant == 0 ? ok_call(w, "GET", "http://" + self + "/app/text", kText) : route_call(Route::echo, rng, w);
        if (variant == 1) c.target = "http://" + self + c.target;
        return single(Mutation::absolute_form, rng, c, "absolute-form target");
    }
    static const std::vector<std::string> lines = {
        "GET http://other.example/app/text HTTP/1.1",
        "GET https://127.0.0.1/app/text HTTP/1.1",
        "GET http:///app/text HTTP/1.1",
        "GET http://[::1/app/text HTTP/1.1",
        "GET //app/text HTTP/1.1",
        "GET * HTTP/1.1",
        "OPTIONS * HTTP/1.1",
        "GET 127.0.0.1:80 HTTP/1.1",
        "GET ftp://127.0.0.1/app/text HTTP/1.1",
        "GET http://user:pass@127.0.0.1/app/text HTTP/1.1",
        "GET HTTP://127.0.0.1/app/%2e%2e/app/cl HTTP/1.1",
    };
    const std::string line = variant == 11 ? "CONNECT " + self + " HTTP/1.1" : pick(rng, lines);
    Expect e = hostile_expect(w);
    H1Case k = h1_case(Mutation::absolute_form, line);
    k.bytes = line + "\r\nHost: 127.0.0.1\r\nX-Fuzz-Token: " + e.token + "\r\nConnection: keep-alive\r\n\r\n";
    k.expects = {e};
    maybe_follow(k, rng, w);
    return k;
}

H1Case make_error_document(Rng& rng, World& w) {
    const int variant = uniform(rng, 0, 8);
    if (variant <= 3) {
        static const std::vector<Route> routes = {Route::not_found, Route::fail_before, Route::fail_after,
                                                  Route::too_large};
        Call c = route_call(routes[static_cast<std::size_t>(variant)], rng, w);
        if (c.method == "GET" && chance(rng, 0.2)) {
            c.method = "HEAD";
            c.expect.head = true;
            c.expect.body.reset();
        }
        return single(Mutation::error_document, rng, c, "ErrorDocument page from the app");
    }
    Expect e = hostile_expect(w);
    H1Case k = h1_case(Mutation::error_document, "");
    switch (variant) {
    case 4: { // httpd's input filter refuses the body while the app reads it: the page is made meanwhile
        const std::string body = random_body(rng, static_cast<std::size_t>(uniform(rng, 1100, 6000)));
        const std::string target =
            "/small/echo?style=" + pick(rng, std::vector<std::string>{"read", "readn", "readline", "iter"});
        k.bytes = post_head(target, e.token, "Transfer-Encoding: chunked\r\n") + chunked_body(rng, body);
        k.what = "chunked body over LimitRequestBody, read by the app (413 page): POST " + target;
        e.statuses = {413};
        break;
    }
    case 5: {                                                  // a malformed chunk while the app reads (400 page)
        const std::string target = echo_target(rng, w, false); // the page, not a 200 begun before the bad chunk
        k.bytes =
            post_head(target, e.token, "Transfer-Encoding: chunked\r\n") + "5\r\nhello\r\nzz\r\nhello\r\n0\r\n\r\n";
        k.what = "malformed chunk while the app reads (400 page): POST " + target;
        e.statuses = {400, 413};
        break;
    }
    case 6: { // the app does not read; httpd discards a body over the limit after the response
        const std::string body = random_body(rng, static_cast<std::size_t>(uniform(rng, 1100, 6000)));
        k.bytes = post_head("/small/ignore", e.token, "Transfer-Encoding: chunked\r\n") + chunked_body(rng, body);
        k.what = "chunked body over LimitRequestBody, not read by the app: POST /small/ignore";
        e.statuses = {200, 413};
        break;
    }
    case 7: { // a client that leaves mid-body of a too-large upload
        k.bytes = post_head("/small/echo", e.token, "Transfer-Encoding: chunked\r\n") + "800\r\n" +
                  std::string(2048, 'x') + "\r\n";
        k.what = "chunked body over LimitRequestBody, then the client stops: POST /small/echo";
        break;
    }
    default: { // the error page, then more requests on the connection
        Call c1 = route_call(Route::not_found, rng, w);
        Call c2 = good_call(rng, w);
        k.bytes = h1_request(rng, c1, true) + h1_request(rng, c2, false);
        k.expects = {c1.expect, c2.expect};
        k.all_must_answer = true;
        k.what = "404 page then " + c2.method + " " + c2.target;
        return k;
    }
    }
    k.expects = {e};
    maybe_follow(k, rng, w, 0.3);
    return k;
}

H1Case make_subrequest_filter(Rng& rng, World& w) {
    if (chance(rng, 0.25)) {
        // SSI pages pipelined: the subrequests must not disturb the connection.
        H1Case k = h1_case(Mutation::subrequest_filter, "pipelined:");
        const int n = uniform(rng, 2, 4);
        for (int i = 0; i < n; ++i) {
            Call c = route_call(chance(rng, 0.7) ? Route::ssi : Route::gz, rng, w);
            k.bytes += h1_request(rng, c, i + 1 < n);
            k.expects.push_back(c.expect);
            k.what += " " + c.target + ";";
        }
        k.all_must_answer = true;
        return k;
    }
    Call c = route_call(chance(rng, 0.6) ? Route::ssi : Route::gz, rng, w);
    if (chance(rng, 0.15)) {
        c.method = "HEAD";
        c.expect.head = true;
        c.expect.body.reset();
    }
    return single(Mutation::subrequest_filter, rng, c, "through an output filter");
}

H1Case make_rewrite(Rng& rng, World& w) {
    if (chance(rng, 0.6)) {
        static const std::vector<Route> routes = {Route::text, Route::stream,     Route::echo,
                                                  Route::file, Route::write_file, Route::fail_before};
        Call c = route_call(pick(rng, routes), rng, w);
        if (c.target.rfind("/app/", 0) == 0) c.target = "/rw/" + c.target.substr(5);
        return single(Mutation::rewrite, rng, c, "rewritten into the mount");
    }
    static const std::vector<std::string> targets = {"/rw/",
                                                     "/rw",
                                                     "/rw/nope",
                                                     "/rw/%2e%2e/etc/passwd",
                                                     "/rw/../app/text",
                                                     "/rw/ssi?inc=nested",
                                                     "/rw//text",
                                                     "/rw/%2Ftext",
                                                     "/rw/text?x=%00",
                                                     "/rw/\xff"};
    const std::string target = pick(rng, targets);
    Expect e = hostile_expect(w);
    H1Case k = h1_case(Mutation::rewrite, "GET " + c_escape(target, 60));
    k.bytes = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Fuzz-Token: " + e.token +
              "\r\nConnection: keep-alive\r\n\r\n";
    k.expects = {e};
    maybe_follow(k, rng, w);
    return k;
}

H1Case make_hostile_response(Rng& rng, World& w) {
    static const std::vector<std::string> routes = {"/app/status?s=100", "/app/status?s=101", "/app/status?s=103",
                                                    "/app/status?s=204", "/app/status?s=304", "/app/cl_short",
                                                    "/app/cl_huge",      "/app/cl_long",      "/app/fail_midstream",
                                                    "/inc/status?s=100", "/gz/cl_huge",       "/inc/fail_midstream"};
    const std::string target = pick(rng, routes);
    Call c = ok_call(w, chance(rng, 0.2) ? "HEAD" : "GET", target, std::nullopt);
    c.expect.head = c.method == "HEAD";
    c.expect.statuses.clear();
    c.expect.token_required = false;
    c.expect.server_error_ok = true; // refusing what the app did is a 500
    if (target.find("/cl_long") != std::string::npos && !c.expect.head) {
        c.expect.body = "12345";
        c.expect.statuses = {200};
    }
    c.expect.may_truncate = target.find("cl_short") != std::string::npos ||
                            target.find("cl_huge") != std::string::npos ||
                            target.find("fail_midstream") != std::string::npos;
    H1Case k = h1_case(Mutation::hostile_response, "the app answers " + c.method + " " + target);
    k.bytes = h1_request(rng, c, true);
    k.expects = {c.expect};
    if (chance(rng, 0.7)) {
        // What follows on the connection shows whether the framing held.
        Call next = good_call(rng, w);
        k.bytes += h1_request(rng, next, false);
        next.expect.token_required = false; // the connection may end after a cut response
        k.expects.push_back(next.expect);
        k.what += ", then " + next.method + " " + next.target;
    }
    return k;
}

// ------------------------------------------------------------------ HTTP/2

H2Call h2_call(const Call& c, Rng& rng) {
    H2Call h;
    h.method = c.method;
    h.path = c.target;
    for (const auto& [n, v] : c.headers) {
        std::string lower = n;
        for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        if (lower == "expect") continue;
        h.headers.emplace_back(lower, v);
    }
    h.body = c.body;
    if (!c.body.empty() && chance(rng, 0.6)) h.headers.emplace_back("content-length", std::to_string(c.body.size()));
    h.expect = c.expect;
    return h;
}

H2Case h2_case(Mutation kind, std::string what) {
    H2Case k;
    k.kind = kind;
    k.what = std::move(what);
    return k;
}

H2Call plain_h2_call(World& w) {
    H2Call h;
    h.method = "GET";
    h.path = "/app/cl";
    h.expect.token = w.token();
    h.expect.token_required = true;
    h.expect.statuses = {200};
    h.expect.body = "0123456789";
    return h;
}

H2Case make_h2_normal(Rng& rng, World& w, Mutation kind, int lo, int hi) {
    const int n = uniform(rng, lo, hi);
    H2Case k = h2_case(kind, std::to_string(n) + " streams at once:");
    for (int i = 0; i < n; ++i) {
        Call c = good_call(rng, w);
        if (c.body.size() > 30000) { // many streams at once: keep the connection's total modest
            c.body.resize(30000);
            if (c.expect.body && c.target.find("/echo") != std::string::npos) c.expect.body = c.body;
        }
        k.calls.push_back(h2_call(c, rng));
        k.what += " " + c.method + " " + c.target + ";";
    }
    return k;
}

H2Case make_h2_data_beyond_length(Rng& rng, World& w) {
    H2Call h;
    h.method = "POST";
    h.path = echo_target(rng, w);
    h.body = random_body(rng, static_cast<std::size_t>(uniform(rng, 1, 3000)));
    const std::size_t declared = static_cast<std::size_t>(uniform(rng, 0, static_cast<int>(h.body.size()) - 1));
    h.headers.emplace_back("content-length", std::to_string(declared));
    h.expect = hostile_expect(w);
    H2Case k =
        h2_case(Mutation::h2_data_beyond_length, "content-length " + std::to_string(declared) + ", " +
                                                     std::to_string(h.body.size()) + " bytes of DATA: POST " + h.path);
    k.calls = {h, plain_h2_call(w)};
    return k;
}

H2Case make_h2_rst_mid_body(Rng& rng, World& w) {
    H2Call h;
    h.method = "POST";
    h.path = echo_target(rng, w);
    h.body = random_body(rng, static_cast<std::size_t>(uniform(rng, 2, 60000)));
    if (chance(rng, 0.7)) h.headers.emplace_back("content-length", std::to_string(h.body.size()));
    h.expect = hostile_expect(w);
    H2Case k = h2_case(Mutation::h2_rst_mid_body, "");
    k.partial = static_cast<std::size_t>(uniform(rng, 0, static_cast<int>(h.body.size()) - 1));
    k.what = "RST_STREAM after " + std::to_string(k.partial) + " of " + std::to_string(h.body.size()) +
             " body bytes: POST " + h.path;
    k.calls = {h, plain_h2_call(w)};
    return k;
}

H2Case make_h2_rst_mid_response(Rng& rng, World& w) {
    static const std::vector<std::string> targets = {"/app/slow",       "/app/stream?n=60&size=8000", "/app/file",
                                                     "/app/write_file", "/inc/ssi?inc=file",          "/gz/slow",
                                                     "/app/write"};
    H2Call h;
    h.method = "GET";
    h.path = pick(rng, targets);
    h.expect = hostile_expect(w);
    h.expect.may_truncate = true;
    H2Case k = h2_case(Mutation::h2_rst_mid_response, "");
    k.partial = static_cast<std::size_t>(uniform(rng, 0, 40000));
    k.what = "RST_STREAM after " + std::to_string(k.partial) + " response bytes: GET " + h.path;
    k.calls = {h, plain_h2_call(w)};
    return k;
}

H2Case make_h2_bad_frame(Rng& rng, World& w) {
    using namespace h2;
    const auto req = [&](std::uint32_t id, const HeaderList& extra, std::uint8_t flags = END_HEADERS | END_STREAM) {
        HeaderList f = {{":method", "GET"}, {":scheme", "http"}, {":path", "/app/text"}, {":authority", "127.0.0.1"}};
        f.insert(f.end(), extra.begin(), extra.end());
        return frame(HEADERS, flags, id, hpack_encode(f));
    };
    const auto raw_req = [&](std::uint32_t id, const HeaderList& fields) {
        return frame(HEADERS, END_HEADERS | END_STREAM, id, hpack_encode(fields));
    };
    const std::string settings_bad_window = std::string("\x00\x04", 2) + u32(0x80000000u);
    struct Variant {
        const char* what;
        std::string bytes;
        int last_stream; // highest stream id the bytes use
    };
    const std::vector<Variant> variants = {
        {"DATA on stream 0", frame(DATA, 0, 0, "x"), 0},
        {"an invalid HPACK index", frame(HEADERS, END_HEADERS | END_STREAM, 1, "\xff\xff\xff\xff\x0f"), 1},
        {"a truncated header block", frame(HEADERS, END_HEADERS | END_STREAM, 1, std::string("\x00\x05:pa", 5)), 1},
        {"an unknown frame type on stream 0", frame(0xfa, 0xff, 0, "whatever"), 0},
        {"an unknown frame type on a new stream", frame(0xfb, 0, 1, "x") + req(3, {}), 3},
        {"WINDOW_UPDATE of 0 on the connection", frame(WINDOW_UPDATE, 0, 0, u32(0)), 0},
        {"WINDOW_UPDATE overflowing the connection window",
         frame(WINDOW_UPDATE, 0, 0, u32(0x7fffffffu)) + frame(WINDOW_UPDATE, 0, 0, u32(0x7fffffffu)), 0},
        {"SETTINGS on stream 1", frame(SETTINGS, 0, 1, ""), 0},
        {"SETTINGS of 5 bytes", frame(SETTINGS, 0, 0, "12345"), 0},
        {"SETTINGS_INITIAL_WINDOW_SIZE 2^31", frame(SETTINGS, 0, 0, settings_bad_window), 0},
        {"PING of 7 bytes", frame(PING, 0, 0, "1234567"), 0},
        {"DATA of 20000 bytes (over the frame size)",
         req(1, {}, END_HEADERS) + frame(DATA, END_STREAM, 1, std::string(20000, 'd')), 1},
        {"HEADERS on an even stream", req(2, {}), 0},
        {"CONTINUATION without HEADERS", frame(CONTINUATION, END_HEADERS, 1, ""), 1},
        {"DATA inside a header block", req(1, {}, END_STREAM) + frame(DATA, 0, 1, "x"), 1},
        {"PRIORITY depending on itself", frame(PRIORITY, 0, 1, u32(1) + "\x10"), 1},
        {"RST_STREAM on an idle stream", frame(RST_STREAM, 0, 99, u32(CANCEL)), 0},
        {"a request without :path", raw_req(1, {{":method", "GET"}, {":scheme", "http"}, {":authority", "x"}}), 1},
        {"an upper-case field name", req(1, {{"X-Upper", "v"}}), 1},
        {"connection: keep-alive", req(1, {{"connection", "keep-alive"}}), 1},
        {"te: gzip", req(1, {{"te", "gzip"}}), 1},
        {"a pseudo-header after a field", req(1, {{"x-a", "b"}, {":path", "/app/cl"}}), 1},
        {":path without a slash",
         raw_req(1, {{":method", "GET"}, {":scheme", "http"}, {":path", "app/text"}, {":authority", "x"}}), 1},
        {"NUL, CR and LF in a field value", req(1, {{"x-a", std::string("a\0b\r\nc: d", 9)}}), 1},
        {"a space in a field name", req(1, {{"x a", "b"}}), 1},
        {"stream ids going backwards", req(7, {}) + req(5, {}), 7},
        {"100 CONTINUATION frames",
         [&] {
             std::string s = frame(
                 HEADERS, 0, 1,
                 hpack_encode({{":method", "GET"}, {":scheme", "http"}, {":path", "/app/text"}, {":authority", "x"}}));
             for (int i = 0; i < 99; ++i) s += frame(CONTINUATION, 0, 1, hpack_encode({{"x-c", std::string(60, 'c')}}));
             return s + frame(CONTINUATION, END_HEADERS, 1, "");
         }(),
         1},
        {"padding longer than the frame",
         frame(HEADERS, END_HEADERS | END_STREAM | PADDED, 1,
               "\xff"
               "abc"),
         1},
        {"DATA after END_STREAM", req(1, {}) + frame(DATA, END_STREAM, 1, "late"), 1},
        {"GOAWAY from the client", frame(GOAWAY, 0, 0, u32(0) + u32(NO_ERROR)), 0},
        {"CONNECT without :authority", raw_req(1, {{":method", "CONNECT"}}), 1},
        {"content-length: -1 on a GET", req(1, {{"content-length", "-1"}}), 1},
        {"two content-length fields",
         req(1, {{"content-length", "1"}, {"content-length", "2"}}, END_HEADERS) + frame(DATA, END_STREAM, 1, "x"), 1},
        {"a 70000-byte field value", req(1, {{"x-big", std::string(70000, 'v')}}), 1},
    };
    const Variant& v = pick(rng, variants);
    H2Case k = h2_case(Mutation::h2_bad_frame, v.what);
    k.hostile_bytes = v.bytes;
    k.hostile_stream = v.last_stream;
    H2Call after = plain_h2_call(w);
    after.expect.token_required = false; // the server may end the connection instead
    after.expect.statuses.clear();
    after.expect.body.reset();
    k.calls = {after};
    return k;
}

} // namespace

const char* name(Mutation m) {
    for (const auto& k : kinds())
        if (k.kind == m) return k.name;
    return "?";
}

std::optional<Mutation> mutation_named(const std::string& n) {
    for (const auto& k : kinds())
        if (n == k.name) return k.kind;
    return std::nullopt;
}

const std::vector<Mutation>& all_mutations() {
    static const std::vector<Mutation> all = [] {
        std::vector<Mutation> v;
        for (const auto& k : kinds()) v.push_back(k.kind);
        return v;
    }();
    return all;
}

bool is_h2(Mutation m) { return std::string_view(name(m)).substr(0, 3) == "h2_"; }

int cases_per_round(Mutation m) {
    for (const auto& k : kinds())
        if (k.kind == m) return k.per_round;
    return 0;
}

std::vector<Case> make_cases(Mutation m, int count, World& w, Rng& rng) {
    std::vector<Case> out;
    for (int i = 0; i < count; ++i) {
        switch (m) {
        case Mutation::baseline: out.emplace_back(make_baseline(rng, w)); break;
        case Mutation::chunk_bad_size: out.emplace_back(make_chunk_bad_size(rng, w)); break;
        case Mutation::chunk_framing: out.emplace_back(make_chunk_framing(rng, w)); break;
        case Mutation::chunk_huge: out.emplace_back(make_chunk_huge(rng, w)); break;
        case Mutation::chunk_truncated: out.emplace_back(make_chunk_truncated(rng, w)); break;
        case Mutation::body_short: out.emplace_back(make_body_short(rng, w)); break;
        case Mutation::body_long: out.emplace_back(make_body_long(rng, w)); break;
        case Mutation::cl_te_conflict: out.emplace_back(make_cl_te_conflict(rng, w)); break;
        case Mutation::vanish_mid_body: out.emplace_back(make_vanish_mid_body(rng, w)); break;
        case Mutation::vanish_mid_response: out.emplace_back(make_vanish_mid_response(rng, w)); break;
        case Mutation::pipeline: out.emplace_back(make_pipeline(rng, w)); break;
        case Mutation::expect_continue: out.emplace_back(make_expect_continue(rng, w)); break;
        case Mutation::huge_headers: out.emplace_back(make_huge_headers(rng, w)); break;
        case Mutation::odd_method: out.emplace_back(make_odd_method(rng, w)); break;
        case Mutation::path_tricks: out.emplace_back(make_path_tricks(rng, w)); break;
        case Mutation::header_bytes: out.emplace_back(make_header_bytes(rng, w)); break;
        case Mutation::http10: out.emplace_back(make_http10(rng, w)); break;
        case Mutation::absolute_form: out.emplace_back(make_absolute_form(rng, w)); break;
        case Mutation::error_document: out.emplace_back(make_error_document(rng, w)); break;
        case Mutation::subrequest_filter: out.emplace_back(make_subrequest_filter(rng, w)); break;
        case Mutation::rewrite: out.emplace_back(make_rewrite(rng, w)); break;
        case Mutation::hostile_response: out.emplace_back(make_hostile_response(rng, w)); break;
        case Mutation::h2_normal: out.emplace_back(make_h2_normal(rng, w, m, 1, 4)); break;
        case Mutation::h2_concurrent: out.emplace_back(make_h2_normal(rng, w, m, 8, 24)); break;
        case Mutation::h2_data_beyond_length: out.emplace_back(make_h2_data_beyond_length(rng, w)); break;
        case Mutation::h2_rst_mid_body: out.emplace_back(make_h2_rst_mid_body(rng, w)); break;
        case Mutation::h2_rst_mid_response: out.emplace_back(make_h2_rst_mid_response(rng, w)); break;
        case Mutation::h2_bad_frame: out.emplace_back(make_h2_bad_frame(rng, w)); break;
        }
    }
    return out;
}

} // namespace pympm_test::fuzz

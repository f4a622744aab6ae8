// What the request fuzzer's generators share: seeded random choices, and
// the routes of tests/apps/fuzz_app.py as well-formed requests with exactly
// what each must get back (status, body, token). Internal to
// request_fuzz_cases.cpp and request_fuzz_routes.cpp.
#pragma once

#include "request_fuzz_cases.h"

#include <optional>
#include <random>
#include <string>
#include <vector>

namespace pympm_test::fuzz {

using Rng = std::mt19937;

int uniform(Rng& rng, int lo, int hi); // lo..hi inclusive
bool chance(Rng& rng, double p);

template <class T>
const T& pick(Rng& rng, const std::vector<T>& v) {
    return v[static_cast<std::size_t>(uniform(rng, 0, static_cast<int>(v.size()) - 1))];
}

// `n` bytes of every value, with newlines often enough for readline().
std::string random_body(Rng& rng, std::size_t n);

// What the app's routes send (fuzz_app.py).
extern const std::string kText;           // /text
extern const std::string kWrite;          // /write
std::string stream_body(int n, int size); // /stream?n=&size=
std::string error_page(int status);       // /error, the ErrorDocument page

// How /echo reads the body (?style=, fuzz_app.py's read_body). The ASGI twin
// also has "stream": it answers each piece as it arrives, so its 200 begins
// before httpd has judged the whole body; left out where the answer must be
// httpd's refusal (`streamed_ok` false).
const std::vector<std::string>& echo_styles(const World& w, bool streamed_ok = true);

// A well-formed request and exactly what it gets back.
struct Call {
    std::string method = "GET";
    std::string target;
    HeaderList headers; // besides Host, X-Fuzz-Token, framing and Connection
    std::string body;
    bool chunked = false;
    Expect expect;
};

enum class Route {
    text,
    cl,
    stream,
    write,
    file,
    write_file,
    write_file_cl,
    echo,
    ignore,
    pid,
    ssi,
    gz,
    rewritten,
    not_found,
    fail_before,
    fail_after,
    too_large,
};

// A 200 with a new token and this body (nullopt: not checked).
Call ok_call(World& w, std::string method, std::string target, std::optional<std::string> body);
// A request to `r`, under /app or (sometimes) rewritten through /rw.
Call route_call(Route r, Rng& rng, World& w);
// A random well-formed request, weighted towards the response paths that
// interleave with the next request on the connection; sometimes a HEAD.
Call good_call(Rng& rng, World& w);

} // namespace pympm_test::fuzz

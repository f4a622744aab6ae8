#include "request_fuzz_routes.h"

namespace pympm_test::fuzz {

int uniform(Rng& rng, int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }

bool chance(Rng& rng, double p) { return std::bernoulli_distribution(p)(rng); }

std::string random_body(Rng& rng, std::size_t n) {
    std::string s(n, '\0');
    for (auto& c : s) c = chance(rng, 0.03) ? '\n' : static_cast<char>(uniform(rng, 0, 255));
    return s;
}

namespace {

std::string body_size_pick(Rng& rng) {
    static const std::vector<std::size_t> sizes = {0, 1, 2, 17, 100, 1023, 3000, 8192, 20000, 70000};
    return random_body(rng, pick(rng, sizes));
}

} // namespace

const std::vector<std::string>& echo_styles(const World& w, bool streamed_ok) {
    static const std::vector<std::string> styles = {"read", "readn", "readline", "iter", "readlines", "cl"};
    static const std::vector<std::string> asgi_styles = [] {
        auto v = styles;
        v.push_back("stream");
        return v;
    }();
    return w.asgi && streamed_ok ? asgi_styles : styles;
}

// --------------------------------------------------------- the app's routes

const std::string kText = "included-text\n";
const std::string kWrite = "written-1\nwritten-2\nreturned\n";

std::string stream_body(int n, int size) {
    std::string s;
    for (int i = 0; i < n; ++i) s.append(static_cast<std::size_t>(size), static_cast<char>('a' + i % 26));
    return s;
}

std::string error_page(int status) { return "fuzz error page " + std::to_string(status) + "\n"; }

Call ok_call(World& w, std::string method, std::string target, std::optional<std::string> body) {
    Call c;
    c.method = std::move(method);
    c.target = std::move(target);
    c.expect.token = w.token();
    c.expect.token_required = true;
    c.expect.statuses = {200};
    c.expect.body = std::move(body);
    return c;
}

namespace {

// The body the SSI page /inc/ssi?inc=<what> produces.
std::optional<std::string> ssi_page(const std::string& what, const World& w) {
    auto wrap = [](const std::string& inner) { return "<p>A</p>" + inner + "<p>B</p>\n"; };
    if (what == "text") return wrap(kText);
    if (what == "stream") return wrap(stream_body(3, 5));
    if (what == "file") return wrap(w.file);
    if (what == "write") return wrap(kWrite);
    if (what == "nested") return wrap(wrap(kText));
    if (what == "echo") return wrap("");
    return std::nullopt; // "fail": mod_include's error text
}

} // namespace

Call route_call(Route r, Rng& rng, World& w) {
    const std::string mount = chance(rng, 0.2) ? "/rw" : "/app";
    switch (r) {
    case Route::text: return ok_call(w, "GET", mount + "/text", kText);
    case Route::cl: return ok_call(w, "GET", mount + "/cl", "0123456789");
    case Route::stream: {
        const int n = uniform(rng, 0, 6), size = pick(rng, std::vector<int>{1, 100, 5000, 40000});
        return ok_call(w, "GET", mount + "/stream?n=" + std::to_string(n) + "&size=" + std::to_string(size),
                       stream_body(n, size));
    }
    case Route::write: return ok_call(w, "GET", mount + "/write", kWrite);
    case Route::file: return ok_call(w, "GET", mount + "/file", w.file);
    case Route::write_file: return ok_call(w, "GET", mount + "/write_file", "written-1\n" + w.file);
    case Route::write_file_cl: {
        const int n = uniform(rng, 0, 150000);
        return ok_call(w, "GET", mount + "/write_file_cl?n=" + std::to_string(n),
                       "written-1\n" + w.file.substr(0, static_cast<std::size_t>(n)));
    }
    case Route::echo: {
        std::string body = body_size_pick(rng);
        std::string m = body.size() <= 1024 && chance(rng, 0.3) ? "/small" : mount;
        Call c = ok_call(w, pick(rng, std::vector<std::string>{"POST", "POST", "PUT"}),
                         m + "/echo?style=" + pick(rng, echo_styles(w)), body);
        c.body = std::move(body);
        c.chunked = chance(rng, 0.4);
        return c;
    }
    case Route::ignore: {
        Call c = ok_call(w, "POST", mount + "/ignore", "body not read\n");
        c.body = body_size_pick(rng);
        c.chunked = chance(rng, 0.4);
        return c;
    }
    case Route::pid: return ok_call(w, "GET", mount + "/pid", std::nullopt);
    case Route::ssi: {
        const std::string what =
            pick(rng, std::vector<std::string>{"text", "stream", "file", "write", "nested", "fail", "echo"});
        return ok_call(w, "GET", "/inc/ssi?inc=" + what, ssi_page(what, w));
    }
    case Route::gz: {
        const std::string what = pick(rng, std::vector<std::string>{"text", "stream?n=3&size=1000", "file", "write"});
        std::optional<std::string> plain = what == "text"    ? kText
                                           : what == "file"  ? w.file
                                           : what == "write" ? kWrite
                                                             : stream_body(3, 1000);
        Call c = ok_call(w, "GET", "/gz/" + what, plain);
        if (chance(rng, 0.7)) {
            c.headers.emplace_back("Accept-Encoding", "gzip");
            c.expect.may_gzip = true;
        }
        return c;
    }
    case Route::rewritten:
        return ok_call(w, "GET", "/rw/" + pick(rng, std::vector<std::string>{"text", "cl"}), std::nullopt);
    case Route::not_found: {
        Call c = ok_call(w, "GET", "/nope/" + std::to_string(uniform(rng, 0, 999)), error_page(404));
        c.expect.statuses = {404};
        return c;
    }
    case Route::fail_before:
    case Route::fail_after: {
        Call c = ok_call(w, "GET", mount + (r == Route::fail_before ? "/fail_before" : "/fail_after"), error_page(500));
        c.expect.statuses = {500};
        c.expect.server_error_ok = true;
        return c;
    }
    case Route::too_large: {
        Call c = ok_call(w, "POST", "/small/echo", error_page(413));
        c.body = random_body(rng, static_cast<std::size_t>(uniform(rng, 1025, 5000)));
        c.expect.statuses = {413};
        return c;
    }
    }
    return ok_call(w, "GET", "/app/text", kText);
}

Call good_call(Rng& rng, World& w) {
    static const std::vector<Route> routes = {
        Route::text,        Route::cl,         Route::stream,        Route::stream, Route::write,     Route::file,
        Route::file,        Route::write_file, Route::write_file_cl, Route::echo,   Route::echo,      Route::echo,
        Route::ignore,      Route::pid,        Route::ssi,           Route::gz,     Route::rewritten, Route::not_found,
        Route::fail_before, Route::fail_after, Route::too_large,
    };
    Call c = route_call(pick(rng, routes), rng, w);
    if (c.method == "GET" && chance(rng, 0.15)) {
        c.method = "HEAD";
        c.expect.head = true;
        c.expect.body.reset();
    }
    return c;
}

} // namespace pympm_test::fuzz

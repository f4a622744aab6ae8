// wsgi.file_wrapper: a real file goes to httpd as a file (sendfile), from
// its current position, bounded by a declared Content-Length; anything
// else is iterated.
#include "embedded_python.h"
#include "fake_request_io.h"

#include <boost/test/unit_test.hpp>

#include <fstream>
#include <iterator>
#include <string>

using namespace pympm;
using namespace pympm_test;

namespace {

// 300000 random bytes in a real temporary file, opened by each request.
const char* kFileApp = R"(
    import io
    import os
    import tempfile
    from urllib.parse import parse_qs

    FILE = tempfile.NamedTemporaryFile(prefix="pympm-unit-")
    FILE.write(os.urandom(300000))
    FILE.flush()

    def application(environ, start_response):
        q = {k: v[0] for k, v in parse_qs(environ["QUERY_STRING"]).items()}
        path = environ["PATH_INFO"]
        headers = [("Content-Type", "application/octet-stream")]
        if "cl" in q:
            headers.append(("Content-Length", q["cl"]))
        if path == "/file":
            f = open(FILE.name, "rb")
            if "seek" in q:
                f.seek(int(q["seek"]))
            start_response("200 OK", headers)
            return environ["wsgi.file_wrapper"](f, 65536)
        if path == "/buffered":
            # A buffered reader that read ahead: its position is tell(), not
            # the descriptor's.
            f = open(FILE.name, "rb")
            f.read(10)
            start_response("200 OK", headers)
            return environ["wsgi.file_wrapper"](f)
        if path == "/filelike":
            start_response("200 OK", headers)
            return environ["wsgi.file_wrapper"](io.BytesIO(bytes(range(256)) * 1000), 4096)
        if path == "/after_write":
            # 5 bytes by write(), then the file: only 5 of it fit in the
            # declared Content-Length.
            write = start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "10")])
            write(b"hello")
            return environ["wsgi.file_wrapper"](open(FILE.name, "rb"))
        raise KeyError(path)
)";

WsgiApp& file_app() {
    static WsgiApp* app = new WsgiApp(kFileApp);
    return *app;
}

// The file's bytes.
const std::string& data() {
    static const std::string* d = [] {
        std::ifstream in(file_app().eval("FILE.name"), std::ios::binary);
        auto* s = new std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        BOOST_REQUIRE(s->size() == 300000u);
        return s;
    }();
    return *d;
}

} // namespace

BOOST_AUTO_TEST_SUITE(wsgi_file_wrapper)

BOOST_AUTO_TEST_CASE(a_file_is_sent_by_httpd_with_its_length) {
    FakeRequestIO io({.target = "/file"});
    BOOST_TEST(file_app().run(io) == 0);
    BOOST_TEST(io.header("Content-Length") == "300000");
    BOOST_TEST_REQUIRE(io.sends().size() == 1u, "one file send, no copy through Python");
    BOOST_TEST((io.sends()[0].kind == FakeRequestIO::Sent::Kind::file));
    BOOST_TEST(io.sends()[0].last, "the file ends the response");
    BOOST_TEST((io.body() == data()));
    BOOST_TEST(io.finished());
    BOOST_TEST(io.logs().empty(), io.log_text());
}

BOOST_AUTO_TEST_CASE(from_the_files_position_and_within_the_content_length) {
    const std::string& d = data();
    FakeRequestIO from({.target = "/file?seek=1000"});
    BOOST_TEST(file_app().run(from) == 0);
    BOOST_TEST(from.header("Content-Length") == "299000");
    BOOST_TEST((from.body() == d.substr(1000)), "sent from the file's position");

    FakeRequestIO part({.target = "/file?seek=10&cl=500"});
    BOOST_TEST(file_app().run(part) == 0);
    BOOST_TEST(part.header("Content-Length") == "500");
    BOOST_TEST((part.body() == d.substr(10, 500)), "the app's Content-Length is honoured");
    BOOST_TEST(part.finished());

    FakeRequestIO buffered({.target = "/buffered"});
    BOOST_TEST(file_app().run(buffered) == 0);
    BOOST_TEST((buffered.body() == d.substr(10)), "a buffered reader's position is its tell()");

    FakeRequestIO past({.target = "/file?seek=400000"});
    BOOST_TEST(file_app().run(past) == 0);
    BOOST_TEST(past.header("Content-Length") == "0");
    BOOST_TEST(past.body().empty());
    BOOST_TEST(past.finished());
}

BOOST_AUTO_TEST_CASE(a_file_like_object_without_fileno_is_iterated) {
    FakeRequestIO io({.target = "/filelike"});
    BOOST_TEST(file_app().run(io) == 0);
    std::string expected;
    for (int i = 0; i < 1000; ++i)
        for (int b = 0; b < 256; ++b) expected.push_back(static_cast<char>(b));
    BOOST_TEST((io.body() == expected));
    for (const auto& s : io.sends()) BOOST_TEST((s.kind == FakeRequestIO::Sent::Kind::body));
    BOOST_TEST(io.finished());
}

// What write() sent counts against the Content-Length: the file completes
// it, and the connection stays in step (no byte past the length).
BOOST_AUTO_TEST_CASE(a_file_after_write_fills_only_the_rest_of_the_content_length) {
    FakeRequestIO io({.target = "/after_write"});
    BOOST_TEST(file_app().run(io) == 0);
    BOOST_TEST(io.body() == "hello" + data().substr(0, 5));
    BOOST_TEST((io.calls() == std::vector<std::string>{"head", "body:flush:5", "file:0:5:last", "finish"}));
    BOOST_TEST(io.finished());
    BOOST_TEST(!io.aborted());
}

BOOST_AUTO_TEST_CASE(head_sends_no_file_bytes) {
    FakeRequestIO io({.method = "HEAD", .target = "/file"});
    BOOST_TEST(file_app().run(io) == 0);
    BOOST_TEST(io.status() == 200);
    BOOST_TEST(io.header("Content-Type") == "application/octet-stream");
    BOOST_TEST(io.header("Content-Length") == "300000");
    BOOST_TEST(io.body().empty());
    BOOST_TEST(io.finished());
    BOOST_TEST(!io.aborted());
}

BOOST_AUTO_TEST_SUITE_END()

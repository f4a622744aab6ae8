// End-to-end tests with real frameworks from Debian (python3-flask,
// python3-django) mounted at non-root prefixes: routing, URLs the framework
// generates (they must carry the mount, i.e. SCRIPT_NAME), JSON, forms,
// multipart uploads, streaming, and Django's CSRF protection.
#include "http_client.h"
#include "httpd_server.h"
#include "test_support.h"

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <sstream>

using namespace pympm_test;
using namespace std::chrono_literals;

namespace {

HttpdOptions site(std::string pympm_config) {
    HttpdOptions o;
    o.mpm = Mpm::prefork;
    o.start_servers = 2;
    o.pympm_config = std::move(pympm_config);
    return o;
}

// Bytes of every value, with CRLFs and text that looks like a boundary.
std::string binary_payload(std::size_t size) {
    std::string s;
    s.reserve(size);
    std::uint32_t x = 99;
    while (s.size() < size) {
        x = x * 1664525u + 1013904223u;
        if (s.size() % 10000 == 0) s += "\r\n--pympm-boundary-XYZ\r\n";
        s.push_back(static_cast<char>(x >> 24));
    }
    s.resize(size);
    return s;
}

std::string multipart(const std::string& boundary, const std::string& file_name, const std::string& file_data,
                      const std::string& note) {
    std::string b;
    b += "--" + boundary + "\r\n";
    b += "Content-Disposition: form-data; name=\"note\"\r\n\r\n" + note + "\r\n";
    b += "--" + boundary + "\r\n";
    b += "Content-Disposition: form-data; name=\"file\"; filename=\"" + file_name + "\"\r\n";
    b += "Content-Type: application/octet-stream\r\n\r\n";
    b += file_data + "\r\n";
    b += "--" + boundary + "--\r\n";
    return b;
}

// Times at which the text `a` and then `b` had arrived.
double gap_between(const HttpResponse& r, const std::string& a, const std::string& b) {
    std::string so_far;
    Clock::time_point ta{}, tb{};
    for (const auto& p : r.pieces) {
        so_far += p.data;
        if (ta == Clock::time_point{} && contains(so_far, a)) ta = p.at;
        if (tb == Clock::time_point{} && contains(so_far, b)) tb = p.at;
    }
    return HttpResponse::seconds(ta, tb);
}

std::string cookie_value(const HttpResponse& r, const std::string& name) {
    for (const auto& c : r.headers.get_all("Set-Cookie")) {
        if (c.rfind(name + "=", 0) == 0) return c.substr(name.size() + 1, c.find(';') - name.size() - 1);
    }
    return "";
}

} // namespace

// ================================================================= Flask

BOOST_AUTO_TEST_SUITE(wsgi_flask)

BOOST_AUTO_TEST_CASE(flask_app_under_a_prefix) {
    HttpdServer srv(site("PyApp /flask/app @APPS@/flask_app.py"));
    srv.start();
    const std::uint16_t port = srv.port();
    const std::string host = "127.0.0.1:" + std::to_string(port);

    auto idx = http_get(port, "/flask/app/");
    BOOST_TEST_REQUIRE(idx.status == 200, idx.body);
    auto j = parse_json(idx.body);
    BOOST_TEST(j.get<std::string>("hello") == "/flask/app/hello/world");
    BOOST_TEST(j.get<std::string>("hello_external") == "http://" + host + "/flask/app/hello/world");
    BOOST_TEST(j.get<std::string>("script_root") == "/flask/app");
    BOOST_TEST(j.get<std::string>("path") == "/");

    auto hello = http_get(port, "/flask/app/hello/Bob");
    BOOST_TEST(hello.status == 200);
    BOOST_TEST(hello.body == "Hello, Bob!\n");

    auto go = http_get(port, "/flask/app/go");
    BOOST_TEST(go.status == 302);
    const std::string location = go.headers.get("Location");
    BOOST_TEST(
        (location == "/flask/app/hello/redirected" || location == "http://" + host + "/flask/app/hello/redirected"),
        "redirect Location " << location);

    HttpRequest put;
    put.method = "PUT";
    put.target = "/flask/app/items/42";
    put.body = "x";
    auto p = http_request(port, put);
    BOOST_TEST(p.status == 200);
    BOOST_TEST(parse_json(p.body).get<int>("id") == 42);
    BOOST_TEST(parse_json(p.body).get<std::string>("method") == "PUT");
    BOOST_TEST(http_get(port, "/flask/app/nope").status == 404);
    HttpRequest wrong_method;
    wrong_method.method = "POST";
    wrong_method.target = "/flask/app/hello/x";
    BOOST_TEST(http_request(port, wrong_method).status == 405);
    // The prefix is a path segment: /flask/application is not under it.
    BOOST_TEST(http_get(port, "/flask/application").status == 404);
}

BOOST_AUTO_TEST_CASE(flask_json_form_upload_stream) {
    HttpdServer srv(site("PyApp /flask/app @APPS@/flask_app.py"));
    srv.start();
    const std::uint16_t port = srv.port();

    HttpRequest json;
    json.method = "POST";
    json.target = "/flask/app/json";
    json.headers = {{"Content-Type", "application/json"}};
    json.body = R"({"b": [1, 2, 3], "a": "\u00e9t\u00e9"})";
    auto jr = http_request(port, json);
    BOOST_TEST_REQUIRE(jr.status == 200, jr.body);
    auto jj = parse_json(jr.body);
    BOOST_TEST(jj.get<std::string>("received.a") == "\xc3\xa9t\xc3\xa9");
    BOOST_TEST(jj.get_child("keys").size() == 2u);

    for (bool chunked : {false, true}) {
        HttpRequest form;
        form.method = "POST";
        form.target = "/flask/app/form";
        form.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
        const std::string body = "name=Ann+Smith&tag=a&tag=b%26c";
        if (chunked)
            form.chunks = {"name=Ann+Sm", "ith&tag=a&ta", "g=b%26c"};
        else
            form.body = body;
        auto fr = http_request(port, form);
        BOOST_TEST_REQUIRE(fr.status == 200, fr.body);
        auto fj = parse_json(fr.body);
        BOOST_TEST(fj.get<std::string>("name") == "Ann Smith");
        std::vector<std::string> tags;
        for (auto& [k, v] : fj.get_child("tags")) tags.push_back(v.get_value<std::string>());
        BOOST_TEST((tags == std::vector<std::string>{"a", "b&c"}), (chunked ? "chunked" : "Content-Length"));
    }

    const std::string data = binary_payload(3u << 20);
    const std::string boundary = "pympm-boundary-1234567890";
    HttpRequest up;
    up.method = "POST";
    up.target = "/flask/app/upload";
    up.headers = {{"Content-Type", "multipart/form-data; boundary=" + boundary}};
    up.body = multipart(boundary, "data.bin", data, "a note");
    auto ur = http_request(port, up);
    BOOST_TEST_REQUIRE(ur.status == 200, ur.body);
    auto uj = parse_json(ur.body);
    BOOST_TEST(uj.get<std::string>("filename") == "data.bin");
    BOOST_TEST(uj.get<std::size_t>("size") == data.size());
    BOOST_TEST(uj.get<std::string>("note") == "a note");
    // The same bytes hashed here by Python's hashlib in a separate process.
    const std::string tmp = srv.root() + "/upload.bin";
    {
        std::ofstream out(tmp, std::ios::binary);
        out << data;
    }
    auto sum =
        run_command({python_executable(), "-c",
                     "import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())", tmp});
    BOOST_TEST_REQUIRE(sum.exit_code == 0, sum.output);
    BOOST_TEST(uj.get<std::string>("sha256") == sum.output.substr(0, 64), "the upload arrived intact");

    // The same upload sent chunked.
    HttpRequest up_chunked = up;
    up_chunked.body.clear();
    for (std::size_t pos = 0; pos < up.body.size(); pos += 100000)
        up_chunked.chunks.push_back(up.body.substr(pos, 100000));
    auto uc = http_request(port, up_chunked);
    BOOST_TEST_REQUIRE(uc.status == 200, uc.body);
    BOOST_TEST(parse_json(uc.body).get<std::string>("sha256") == sum.output.substr(0, 64));

    HttpRequest stream;
    stream.target = "/flask/app/stream?sleep=1";
    auto sr = http_request(port, stream);
    BOOST_TEST_REQUIRE(sr.status == 200);
    BOOST_TEST(sr.body == "first /stream\nsecond\n");
    const double gap = gap_between(sr, "first", "second");
    BOOST_TEST(gap >= 0.5, "Flask's streamed first chunk arrived only " << gap << " s before the second");
}

BOOST_AUTO_TEST_SUITE_END()

// ================================================================ Django

BOOST_AUTO_TEST_SUITE(wsgi_django)

BOOST_AUTO_TEST_CASE(django_project_under_a_prefix_with_csrf) {
    HttpdServer srv(site("PyPath @APPS@/django_site\nPyApp /django pympm_demo.wsgi:application"));
    srv.start();
    const std::uint16_t port = srv.port();
    const std::string host = "127.0.0.1:" + std::to_string(port);

    auto idx = http_get(port, "/django/");
    BOOST_TEST_REQUIRE(idx.status == 200, idx.body);
    auto j = parse_json(idx.body);
    BOOST_TEST(j.get<std::string>("hello") == "/django/hello/world/");
    BOOST_TEST(j.get<std::string>("form") == "/django/form/");
    BOOST_TEST(j.get<std::string>("form_absolute") == "http://" + host + "/django/form/");
    BOOST_TEST(j.get<std::string>("script_prefix") == "/django/");
    BOOST_TEST(j.get<std::string>("path") == "/django/");
    BOOST_TEST(j.get<std::string>("path_info") == "/");

    auto hello = http_get(port, "/django/hello/Ann/");
    BOOST_TEST(hello.status == 200);
    BOOST_TEST(hello.body == "Hello, Ann!\n");
    // APPEND_SLASH redirects within the mount.
    auto slash = http_get(port, "/django/hello/Ann");
    BOOST_TEST(slash.status == 301);
    BOOST_TEST(slash.headers.get("Location") == "/django/hello/Ann/");
    BOOST_TEST(http_get(port, "/django/nope/").status == 404);

    // CSRF: the form carries a token and sets the cookie.
    auto page = http_get(port, "/django/form/");
    BOOST_TEST_REQUIRE(page.status == 200);
    BOOST_TEST(contains(page.body, "action=\"/django/form/\""), page.body);
    const std::string cookie = cookie_value(page, "csrftoken");
    BOOST_TEST_REQUIRE(!cookie.empty(), "no csrftoken cookie");
    const std::string marker = "name=\"csrfmiddlewaretoken\" value=\"";
    auto at = page.body.find(marker);
    BOOST_TEST_REQUIRE(at != std::string::npos, page.body);
    const std::string token =
        page.body.substr(at + marker.size(), page.body.find('"', at + marker.size()) - at - marker.size());

    HttpRequest post;
    post.method = "POST";
    post.target = "/django/form/";
    post.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
    post.body = "name=Bob";
    auto no_cookie = http_request(port, post);
    BOOST_TEST(no_cookie.status == 403, "a POST without cookie and token is refused");

    post.headers.push_back({"Cookie", "csrftoken=" + cookie});
    auto no_token = http_request(port, post);
    BOOST_TEST(no_token.status == 403, "a POST without the token is refused");

    HttpRequest bad = post;
    bad.body = "csrfmiddlewaretoken=" + std::string(token.size(), 'A') + "&name=Bob";
    BOOST_TEST(http_request(port, bad).status == 403, "a wrong token is refused");

    post.body = "csrfmiddlewaretoken=" + token + "&name=Bob";
    auto ok = http_request(port, post);
    BOOST_TEST(ok.status == 200, ok.body);
    BOOST_TEST(ok.body == "Thanks, Bob!\n");

    HttpRequest head;
    head.method = "HEAD";
    head.target = "/django/hello/Ann/";
    auto h = http_request(port, head);
    BOOST_TEST(h.status == 200);
    BOOST_TEST(h.body.empty());
}

BOOST_AUTO_TEST_SUITE_END()

// ============================================== conf/examples site configs

BOOST_AUTO_TEST_SUITE(conf_examples)

namespace {
std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    BOOST_REQUIRE_MESSAGE(in, "cannot read " << path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    for (std::size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size()))
        s.replace(p, from.size(), to);
    return s;
}
} // namespace

// The shipped Flask, Django and FastAPI site configs, with /srv/www pointing
// at copies of the test apps, serve their apps under the documented prefixes.
BOOST_AUTO_TEST_CASE(flask_django_and_fastapi_site_configs_serve) {
    HttpdServer srv(site(""));
    const std::string src = test_apps_dir();
    const std::string examples = src + "/../../conf/examples";
    srv.add_app_file("srv/www/flask/flask_app.py", read_text(src + "/flask_app.py"));
    srv.add_app_file("srv/www/flask/static/hello.txt", "static file\n");
    for (const char* f : {"__init__.py", "settings.py", "urls.py", "views.py", "wsgi.py"})
        srv.add_app_file(std::string("srv/www/django/pympm_demo/") + f,
                         read_text(src + "/django_site/pympm_demo/" + f));
    srv.add_app_file("srv/www/fastapi/main.py", read_text(src + "/fastapi_app.py"));
    std::string conf = "LoadModule alias_module " + httpd_modules_dir() + "/mod_alias.so\n";
    for (const char* ex : {"flask-site.conf", "django-site.conf", "fastapi-site.conf"}) {
        std::string text = read_text(examples + "/" + ex);
        text = replace_all(text, "/srv/www/", srv.apps_dir() + "/srv/www/");
        text = replace_all(text, "${APACHE_LOG_DIR}", srv.root() + "/logs");
        text = replace_all(text, "CustomLog ", "#CustomLog "); // mod_log_config is not loaded
        text = replace_all(text, "<VirtualHost *:80>", "<VirtualHost *>");
        conf += text + "\n";
    }
    srv.options().extra_config = conf;
    srv.start();
    const std::uint16_t port = srv.port();

    auto get = [&](const std::string& host, const std::string& target) {
        HttpRequest r;
        r.target = target;
        r.headers = {{"Host", host}};
        return http_request(port, r);
    };
    auto idx = get("flask.example.org", "/shop/");
    BOOST_TEST_REQUIRE(idx.status == 200, idx.body);
    BOOST_TEST(parse_json(idx.body).get<std::string>("hello") == "/shop/hello/world");
    BOOST_TEST(parse_json(idx.body).get<std::string>("hello_external") == "http://flask.example.org/shop/hello/world");
    auto stat = get("flask.example.org", "/shop/static/hello.txt");
    BOOST_TEST(stat.status == 200);
    BOOST_TEST(stat.body == "static file\n", "the Alias serves static files, not Flask");

    auto dj = get("django.example.org", "/app/");
    BOOST_TEST_REQUIRE(dj.status == 200, dj.body);
    BOOST_TEST(parse_json(dj.body).get<std::string>("form") == "/app/form/");
    auto form = get("django.example.org", "/app/form/");
    BOOST_TEST(form.status == 200);
    BOOST_TEST(contains(form.body, "action=\"/app/form/\""), form.body);
    BOOST_TEST(!cookie_value(form, "csrftoken").empty());

    auto item = get("api.example.org", "/api/items/7?q=x");
    BOOST_TEST_REQUIRE(item.status == 200, item.body);
    BOOST_TEST(parse_json(item.body).get<int>("item_id") == 7);
    auto links = get("api.example.org", "/api/links");
    BOOST_TEST(parse_json(links.body).get<std::string>("item") == "http://api.example.org/api/items/7", links.body);
}

BOOST_AUTO_TEST_SUITE_END()

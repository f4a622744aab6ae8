// The environ's CGI variables are what mod_wsgi gives for the same requests,
// key by key and value by value: the same app (tests/apps/wsgi_environ_app.py)
// under mod_wsgi and under mod_pympm, with the same httpd features around
// it (SetEnv, SetEnvIf, mod_rewrite's E= and [PT], ErrorDocument into the
// mount, Basic auth, CGIVar, odd and repeated headers, HTTP/1.0). mod_wsgi
// builds its environ with httpd's ap_add_common_vars/ap_add_cgi_vars, the
// reference for what a CGI-style environ holds.
#include "http_client.h"
#include "httpd_server.h"
#include "test_mpm_common.h"
#include "test_support.h"

#include <boost/test/unit_test.hpp>

#include <regex>
#include <set>

using namespace pympm_test;
using namespace std::chrono_literals;

namespace {

// What both servers configure around the app mounted at /env.
std::string features(HttpdServer& srv) {
    const std::string mods = httpd_modules_dir();
    return mpm::basic_auth_config(srv, "/env/private") + "LoadModule env_module " + mods +
           "/mod_env.so\n"
           "LoadModule setenvif_module " +
           mods +
           "/mod_setenvif.so\n"
           "LoadModule rewrite_module " +
           mods +
           "/mod_rewrite.so\n"
           "LoadModule alias_module " +
           mods +
           "/mod_alias.so\n"
           "SetEnv APP_MODE parity\n"
           // Variables named like CGI's: the computed value wins where CGI
           // gives one (SERVER_NAME), the module's stays where it does not
           // (REMOTE_HOST without HostnameLookups).
           "SetEnv SERVER_NAME from-setenv\n"
           "SetEnv REMOTE_HOST from-setenv\n"
           // CGI computes PATH_TRANSLATED only for a request with a
           // PATH_INFO: the variable shows without one.
           "SetEnv PATH_TRANSLATED from-setenv\n"
           // PATH_TRANSLATED is PATH_INFO looked up as a URL: mod_alias
           // maps this one.
           "Alias /aliased " +
           srv.root() +
           "/aliased-dir\n"
           "SetEnvIf User-Agent Parity UA_PARITY=1\n"
           "RewriteEngine On\n"
           "RewriteRule ^/old/(.*)$ /env/$1 [PT,E=REWRITTEN:yes]\n"
           "ErrorDocument 404 /env/error404\n"
           "<Location /env/current>\n    CGIVar REQUEST_URI current-uri\n</Location>\n";
}

HttpdOptions mod_wsgi_server() {
    HttpdOptions o = prefork_one_child("");
    o.load_pympm = false;
    return o;
}

// Values that differ between two servers for reasons that are not the
// environ's: their ports and server roots.
std::string normalised(std::string value, const HttpdServer& srv) {
    for (const auto& [from, to] : {std::pair<std::string, std::string>{srv.root(), "ROOT"},
                                   {srv.apps_dir(), "APPS"},
                                   {std::to_string(srv.port()), "PORT"}})
        for (std::size_t p = value.find(from); !from.empty() && p != std::string::npos;
             p = value.find(from, p + to.size()))
            value.replace(p, from.size(), to);
    return value;
}

// The CGI part of an environ: no dotted keys (wsgi.*, mod_wsgi.*, apache.*,
// the app's pympm.* checks), and not what is meant to differ.
StringMap cgi_part(const StringMap& env, const HttpdServer& srv) {
    // REMOTE_PORT: each server sees its own client connection.
    // HTTP_AUTHORIZATION: mod_wsgi hides it unless WSGIPassAuthorization On;
    // mod_pympm passes it unless httpd authenticated the request.
    // PATH: mod_wsgi leaves it out, mod_pympm passes httpd's, as CGI does
    // (docs/wsgi.md).
    static const std::set<std::string> differ = {"REMOTE_PORT", "HTTP_AUTHORIZATION", "PATH"};
    static const std::regex wsgi_banner(" mod_wsgi/\\S+ Python/\\S+");
    StringMap out;
    for (const auto& [k, v] : env)
        if (k.find('.') == std::string::npos && !differ.count(k))
            out[k] = std::regex_replace(normalised(v, srv), wsgi_banner, ""); // mod_wsgi's part of the banner
    return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(wsgi_environ_parity)

BOOST_AUTO_TEST_CASE(cgi_variables_are_mod_wsgis) {
    HttpdServer wsgi(mod_wsgi_server());
    wsgi.options().extra_config = "LoadModule wsgi_module " + httpd_modules_dir() +
                                  "/mod_wsgi.so\n"
                                  "WSGIScriptAlias /env @APPS@/wsgi_environ_app.py\n" +
                                  features(wsgi);
    HttpdServer pympm(prefork_one_child("PyApp /env @APPS@/wsgi_environ_app.py\n"));
    pympm.options().extra_config = features(pympm);
    wsgi.start();
    pympm.start();

    std::vector<HttpRequest> requests;
    auto add = [&](std::string method, std::string target, std::vector<std::pair<std::string, std::string>> headers,
                   std::string body = "") {
        HttpRequest r;
        r.method = std::move(method);
        r.target = std::move(target);
        r.headers = std::move(headers);
        r.body = std::move(body);
        requests.push_back(std::move(r));
    };
    add("GET", "/env/a/b%20c?x=1&y=%C3%A9",
        {{"User-Agent", "Parity/1.0"},
         {"Accept-Language", "fr"},
         {"X-Dup", "a"},
         {"X-Dup", "b"},
         {"X_Under", "dropped by CGI"},
         {"X.Dot", "dropped too"},
         {"Proxy", "http://evil:1"},
         {"Proxy-Authorization", "Basic eA=="},
         {"Cookie", "k=v"}});
    add("POST", "/env/post", {{"Content-Type", "application/x-www-form-urlencoded"}}, "a=1&b=2");
    add("GET", "/env", {});
    // PATH_INFO of the mount itself, mapped by mod_alias, %-encoded, and
    // under the mount (the script and the path below it).
    add("GET", "/env/", {});
    add("GET", "/env/aliased/x%20y.txt", {});
    add("GET", "/env/env/inner?z=1", {});
    add("GET", "/old/rewritten?q=1", {});
    add("GET", "/missing/page?from=404", {{"X-Before", "error"}});
    add("GET", "/env/private/x", {{"Authorization", "Basic YWxpY2U6c2VjcmV0"}});
    add("GET", "/env/current/x?c=1", {});
    add("OPTIONS", "/env/opt", {});

    auto compare = [](const StringMap& want, const StringMap& got) {
        for (const auto& [k, v] : want) {
            BOOST_TEST_CONTEXT(k) {
                BOOST_TEST(got.count(k) == 1u, "mod_pympm lacks " << k << "=" << v);
                if (got.count(k)) BOOST_TEST(got.at(k) == v);
            }
        }
        for (const auto& [k, v] : got) BOOST_TEST(want.count(k) == 1u, "mod_pympm adds " << k << "=" << v);
    };
    for (const auto& req : requests) {
        BOOST_TEST_CONTEXT(req.method << " " << req.target) {
            auto a = http_request(wsgi.port(), req);
            auto b = http_request(pympm.port(), req);
            // The error page keeps the error's status under mod_pympm
            // (docs/wsgi.md); mod_wsgi sends the app's 200.
            BOOST_TEST_REQUIRE((a.status == 200 || a.status == 404), a.body);
            BOOST_TEST_REQUIRE((b.status == 200 || b.status == 404), b.body);
            compare(cgi_part(parse_flat_json(a.body), wsgi), cgi_part(parse_flat_json(b.body), pympm));
        }
    }

    // HTTP/1.0 without Host.
    auto raw_env = [](const HttpdServer& srv) {
        auto reply = raw_exchange(srv.port(), "GET /env/ten HTTP/1.0\r\nUser-Agent: old\r\n\r\n", 20s);
        auto [head, body] = split_head(reply.data);
        return cgi_part(parse_flat_json(body), srv);
    };
    BOOST_TEST_CONTEXT("HTTP/1.0 without Host") { compare(raw_env(wsgi), raw_env(pympm)); }
}

// A chunked body, which mod_wsgi accepts with WSGIChunkedRequest On: both
// de-chunk it, give no CONTENT_LENGTH and set wsgi.input_terminated; mod_wsgi
// passes HTTP_TRANSFER_ENCODING, mod_pympm leaves it out (docs/wsgi.md: an
// app told "chunked" would de-chunk the body a second time).
BOOST_AUTO_TEST_CASE(a_chunked_body_is_mod_wsgis_without_transfer_encoding) {
    HttpdServer wsgi(mod_wsgi_server());
    const std::string load = "LoadModule wsgi_module " + httpd_modules_dir() + "/mod_wsgi.so\n";
    wsgi.options().extra_config = load + "WSGIChunkedRequest On\nWSGIScriptAlias /env @APPS@/wsgi_environ_app.py\n";
    HttpdServer pympm(prefork_one_child("PyApp /env @APPS@/wsgi_environ_app.py\n"));
    wsgi.start();
    pympm.start();
    HttpRequest req;
    req.method = "POST";
    req.target = "/env/upload";
    req.headers = {{"Content-Type", "application/octet-stream"}};
    req.chunks = {"first chunk, ", "second chunk"};
    auto a = parse_flat_json(http_request(wsgi.port(), req).body);
    auto b = parse_flat_json(http_request(pympm.port(), req).body);
    BOOST_TEST(at(a, "HTTP_TRANSFER_ENCODING") == "chunked");
    BOOST_TEST(b.count("HTTP_TRANSFER_ENCODING") == 0u);
    BOOST_TEST(a.count("CONTENT_LENGTH") == 0u);
    BOOST_TEST(b.count("CONTENT_LENGTH") == 0u);
    BOOST_TEST(at(a, "pympm.input_terminated") == "True");
    BOOST_TEST(at(b, "pympm.input_terminated") == "True");
    BOOST_TEST(at(a, "pympm.body") == "first chunk, second chunk");
    BOOST_TEST(at(b, "pympm.body") == "first chunk, second chunk");
    auto want = cgi_part(a, wsgi);
    want.erase("HTTP_TRANSFER_ENCODING");
    BOOST_TEST((cgi_part(b, pympm) == want), "the other CGI variables are mod_wsgi's");
}

BOOST_AUTO_TEST_SUITE_END()

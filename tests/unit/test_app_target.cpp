// PyApp target parsing: the three forms and the config errors.
#include "config/app_target.h"

#include <boost/test/unit_test.hpp>

using namespace pympm;

BOOST_AUTO_TEST_SUITE(app_target)

BOOST_AUTO_TEST_CASE(script_default_callable) {
    std::string err;
    auto t = parse_app_target("/srv/app/wsgi.py", err);
    BOOST_REQUIRE(t);
    BOOST_TEST((t->kind == AppTarget::Kind::script));
    BOOST_TEST(t->location == "/srv/app/wsgi.py");
    BOOST_TEST(t->callable == "application");
    BOOST_TEST(t->describe() == "/srv/app/wsgi.py:application");
}

BOOST_AUTO_TEST_CASE(script_named_callable) {
    std::string err;
    auto t = parse_app_target("/srv/app/wsgi.py:app", err);
    BOOST_REQUIRE(t);
    BOOST_TEST((t->kind == AppTarget::Kind::script));
    BOOST_TEST(t->location == "/srv/app/wsgi.py");
    BOOST_TEST(t->callable == "app");
    // An attribute path, as gunicorn accepts.
    t = parse_app_target("/srv/app/wsgi.py:factory.wsgi_app", err);
    BOOST_REQUIRE(t);
    BOOST_TEST(t->callable == "factory.wsgi_app");
}

BOOST_AUTO_TEST_CASE(script_path_with_colon_in_folder) {
    std::string err;
    // The callable follows the last ':'.
    auto t = parse_app_target("/srv/a:b/wsgi.py:app", err);
    BOOST_REQUIRE(t);
    BOOST_TEST(t->location == "/srv/a:b/wsgi.py");
    BOOST_TEST(t->callable == "app");
}

BOOST_AUTO_TEST_CASE(script_bad_callable) {
    std::string err;
    BOOST_TEST(!parse_app_target("/srv/app/wsgi.py:", err));
    BOOST_TEST(err.find("callable") != std::string::npos, err);
    err.clear();
    BOOST_TEST(!parse_app_target("/srv/app/wsgi.py:1app", err));
    BOOST_TEST(!err.empty());
    err.clear();
    // The last ':' is followed by a path, not a Python name.
    BOOST_TEST(!parse_app_target("/srv/app:x/wsgi.py", err));
    BOOST_TEST(!err.empty());
}

BOOST_AUTO_TEST_CASE(module_target) {
    std::string err;
    auto t = parse_app_target("pkg.sub.wsgi:app", err);
    BOOST_REQUIRE(t);
    BOOST_TEST((t->kind == AppTarget::Kind::module));
    BOOST_TEST(t->location == "pkg.sub.wsgi");
    BOOST_TEST(t->callable == "app");
    BOOST_TEST(t->describe() == "pkg.sub.wsgi:app");
    t = parse_app_target("wsgi:a.b", err);
    BOOST_REQUIRE(t);
    BOOST_TEST(t->callable == "a.b");
}

BOOST_AUTO_TEST_CASE(module_target_errors) {
    for (const char* bad : {"", "foo", "a.b:", ":x", "a..b:x", "1a:x", "a.b:x y", "a-b:c", "a.:c", ".a:c",
                            "relative/path.py", "a.b:c:d"}) {
        std::string err;
        BOOST_TEST(!parse_app_target(bad, err), "accepted '" << bad << "'");
        BOOST_TEST(!err.empty(), "no message for '" << bad << "'");
    }
    std::string err;
    parse_app_target("foo", err);
    // The message says what to write instead.
    BOOST_TEST(err.find("package.module:callable") != std::string::npos, err);
    BOOST_TEST(err.find("/path/to/app.py") != std::string::npos, err);
}

BOOST_AUTO_TEST_CASE(dotted_names) {
    BOOST_TEST(is_dotted_python_name("a"));
    BOOST_TEST(is_dotted_python_name("_a.b_2.C"));
    BOOST_TEST(!is_dotted_python_name(""));
    BOOST_TEST(!is_dotted_python_name("."));
    BOOST_TEST(!is_dotted_python_name("a."));
    BOOST_TEST(!is_dotted_python_name(".a"));
    BOOST_TEST(!is_dotted_python_name("a..b"));
    BOOST_TEST(!is_dotted_python_name("2a"));
    BOOST_TEST(!is_dotted_python_name("a.2b"));
    BOOST_TEST(!is_dotted_python_name("a-b"));
}

BOOST_AUTO_TEST_SUITE_END()

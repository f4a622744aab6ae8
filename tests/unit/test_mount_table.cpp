// PyApp mounts: normalisation, longest prefix, segment boundaries.
#include "config/mount_table.h"

#include <boost/test/unit_test.hpp>

using namespace pympm;

BOOST_AUTO_TEST_SUITE(mount_table)

BOOST_AUTO_TEST_CASE(normalize) {
    std::string out, err;
    BOOST_TEST(normalize_mount_prefix("/", out, err));
    BOOST_TEST(out == "/");
    BOOST_TEST(normalize_mount_prefix("///", out, err));
    BOOST_TEST(out == "/");
    BOOST_TEST(normalize_mount_prefix("/app/", out, err));
    BOOST_TEST(out == "/app");
    BOOST_TEST(normalize_mount_prefix("/a/b//", out, err));
    BOOST_TEST(out == "/a/b");
    BOOST_TEST(!normalize_mount_prefix("app", out, err));
    BOOST_TEST(err.find("must start with '/'") != std::string::npos, err);
    BOOST_TEST(!normalize_mount_prefix("", out, err));
}

BOOST_AUTO_TEST_CASE(empty_table) {
    MountTable t;
    BOOST_TEST(t.match("/x").index == -1);
    BOOST_TEST(t.size() == 0u);
}

BOOST_AUTO_TEST_CASE(root_mount) {
    MountTable t;
    t.add("/");
    auto m = t.match("/x/y");
    BOOST_TEST(m.index == 0);
    BOOST_TEST(m.script_name == "");
    BOOST_TEST(m.path_info == "/x/y");
    m = t.match("/");
    BOOST_TEST(m.index == 0);
    BOOST_TEST(m.path_info == "/");
}

BOOST_AUTO_TEST_CASE(segment_boundary) {
    MountTable t;
    t.add("/app");
    auto m = t.match("/app");
    BOOST_TEST(m.index == 0);
    BOOST_TEST(m.script_name == "/app");
    BOOST_TEST(m.path_info == "");
    m = t.match("/app/");
    BOOST_TEST(m.index == 0);
    BOOST_TEST(m.path_info == "/");
    m = t.match("/app/x/y");
    BOOST_TEST(m.script_name == "/app");
    BOOST_TEST(m.path_info == "/x/y");
    BOOST_TEST(t.match("/apple").index == -1);
    BOOST_TEST(t.match("/ap").index == -1);
    BOOST_TEST(t.match("/").index == -1);
}

BOOST_AUTO_TEST_CASE(longest_prefix_wins_in_any_order) {
    for (int order = 0; order < 2; ++order) {
        MountTable t;
        int root, a, ab;
        if (order == 0) {
            root = t.add("/");
            a = t.add("/a");
            ab = t.add("/a/b");
        } else {
            ab = t.add("/a/b");
            a = t.add("/a");
            root = t.add("/");
        }
        BOOST_TEST(t.match("/a/b/c").index == ab);
        BOOST_TEST(t.match("/a/b/c").path_info == "/c");
        BOOST_TEST(t.match("/a/b").index == ab);
        BOOST_TEST(t.match("/a/bc").index == a);
        BOOST_TEST(t.match("/a/bc").path_info == "/bc");
        BOOST_TEST(t.match("/a").index == a);
        BOOST_TEST(t.match("/ab").index == root);
        BOOST_TEST(t.match("/ab").script_name == "");
        BOOST_TEST(t.match("/z").index == root);
    }
}

BOOST_AUTO_TEST_CASE(find_exact) {
    MountTable t;
    t.add("/");
    t.add("/a");
    BOOST_TEST(t.find_exact("/a") == 1);
    BOOST_TEST(t.find_exact("/") == 0);
    BOOST_TEST(t.find_exact("/b") == -1);
    BOOST_TEST(t.prefix(1) == "/a");
}

BOOST_AUTO_TEST_SUITE_END()

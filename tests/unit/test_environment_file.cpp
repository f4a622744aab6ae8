// PyEnvFile's KEY=VALUE format (as systemd's EnvironmentFile) and the
// readability check of configured paths as the children's user.
#include "config/environment_file.h"
#include "config/readable_as.h"

#include "unit_support.h"

#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <sys/stat.h>
#include <unistd.h>

using namespace pympm;
using pympm_test::contains;
namespace fs = std::filesystem;

namespace {

EnvironmentList parse_ok(const std::string& text) {
    EnvironmentList out;
    std::string error;
    BOOST_TEST_REQUIRE(parse_environment_text(text, out, error), error);
    return out;
}

std::string parse_error(const std::string& text) {
    EnvironmentList out;
    std::string error;
    BOOST_TEST(!parse_environment_text(text, out, error), "accepted: " << text);
    return error;
}

struct EnvFileTempDir {
    fs::path path;
    EnvFileTempDir() {
        std::string tmpl = (fs::temp_directory_path() / "pympm-env-XXXXXX").string();
        if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
        path = tmpl;
        ::chmod(path.c_str(), 0755);
    }
    ~EnvFileTempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    std::string write(const std::string& rel, const std::string& text, mode_t mode) const {
        fs::create_directories((path / rel).parent_path());
        std::ofstream(path / rel) << text;
        ::chmod((path / rel).c_str(), mode);
        return (path / rel).string();
    }
};

// Someone who owns none of the test's files and is in none of their groups.
Credentials stranger() {
    Credentials c;
    c.uid = ::geteuid() + 4242;
    c.gid = ::getegid() + 4242;
    c.user = "stranger";
    c.group = "strangers";
    return c;
}

} // namespace

BOOST_AUTO_TEST_SUITE(environment_file)

BOOST_AUTO_TEST_CASE(names_values_comments_and_quotes) {
    auto vars = parse_ok("# a comment\n"
                         "; another\n"
                         "\n"
                         "DATABASE_URL=postgres://u:p@db/app\n"
                         "  SPACED  =  value with spaces  \n"
                         "EMPTY=\n"
                         "DQ=\"a \\\"quoted\\\" \\\\ \\n line\"\n"
                         "SQ='no $escapes \\n here'\n"
                         "EQUALS=a=b=c\n"
                         "HASH=not#a comment\n"
                         "CRLF=value\r\n"
                         "LAST=no newline");
    EnvironmentList expected = {{"DATABASE_URL", "postgres://u:p@db/app"},
                                {"SPACED", "value with spaces"},
                                {"EMPTY", ""},
                                {"DQ", "a \"quoted\" \\ \n line"},
                                {"SQ", "no $escapes \\n here"},
                                {"EQUALS", "a=b=c"},
                                {"HASH", "not#a comment"},
                                {"CRLF", "value"},
                                {"LAST", "no newline"}};
    BOOST_TEST_REQUIRE(vars.size() == expected.size());
    for (std::size_t i = 0; i < vars.size(); ++i) {
        BOOST_TEST(vars[i].first == expected[i].first);
        BOOST_TEST(vars[i].second == expected[i].second, vars[i].first);
    }
    BOOST_TEST(parse_ok("").empty());
    BOOST_TEST(parse_ok("\n\n# only comments\n").empty());
}

BOOST_AUTO_TEST_CASE(a_bad_line_is_named_by_number_without_its_text) {
    std::string e = parse_error("GOOD=1\nsecret-without-equals\n");
    BOOST_TEST(contains(e, "line 2"), e);
    BOOST_TEST(!contains(e, "secret"), "the line's text stays out of the message: " << e);
    e = parse_error("A=1\n\n1BAD=hunter2\n");
    BOOST_TEST(contains(e, "line 3"), e);
    BOOST_TEST(!contains(e, "hunter2"), e);
    e = parse_error("export A=1\n");
    BOOST_TEST(contains(e, "line 1"), e);
    e = parse_error("A=\"hunter2\n");
    BOOST_TEST(contains(e, "line 1: A:"), e);
    BOOST_TEST(contains(e, "quote"), e);
    BOOST_TEST(!contains(e, "hunter2"), e);
    e = parse_error("A='x' trailing\n");
    BOOST_TEST(contains(e, "closing quote"), e);
}

BOOST_AUTO_TEST_CASE(variable_names) {
    BOOST_TEST(valid_environment_name("A"));
    BOOST_TEST(valid_environment_name("_x9"));
    BOOST_TEST(!valid_environment_name(""));
    BOOST_TEST(!valid_environment_name("9A"));
    BOOST_TEST(!valid_environment_name("A-B"));
    BOOST_TEST(!valid_environment_name("A B"));
}

BOOST_AUTO_TEST_CASE(reading_a_file_names_it_and_its_line) {
    EnvFileTempDir dir;
    EnvironmentList out;
    std::string error;
    const std::string good = dir.write("good.env", "A=1\nB='two'\n", 0600);
    BOOST_TEST_REQUIRE(read_environment_file(good, out, error), error);
    BOOST_TEST(out.size() == 2u);
    const std::string bad = dir.write("bad.env", "A=1\nnope\n", 0600);
    BOOST_TEST(!read_environment_file(bad, out, error));
    BOOST_TEST(contains(error, bad + ", line 2"), error);
    BOOST_TEST(!read_environment_file((dir.path / "missing.env").string(), out, error));
    BOOST_TEST(contains(error, "missing.env"), error);
    BOOST_TEST(contains(error, "No such file"), error);
    BOOST_TEST(!read_environment_file(dir.path.string(), out, error));
    BOOST_TEST(contains(error, "not a regular file"), error);
}

BOOST_AUTO_TEST_CASE(applied_to_the_process_environment_later_entries_winning) {
    std::string error;
    BOOST_TEST_REQUIRE(apply_environment({{"PYMPM_UNIT_ENV", "first"}, {"PYMPM_UNIT_ENV", "second"}}, error), error);
    BOOST_TEST(std::string(std::getenv("PYMPM_UNIT_ENV")) == "second");
    ::unsetenv("PYMPM_UNIT_ENV");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(readable_as)

BOOST_AUTO_TEST_CASE(mode_bits_decide_for_a_stranger) {
    EnvFileTempDir dir;
    const Credentials who = stranger();
    BOOST_TEST(unreadable_reason(dir.write("open.py", "x", 0644), who).empty());
    const std::string closed = dir.write("closed.py", "x", 0600);
    const std::string why = unreadable_reason(closed, who);
    BOOST_TEST(contains(why, closed), why);
    BOOST_TEST(contains(why, "mode 0600"), why);
    BOOST_TEST(contains(why, "cannot be read by user stranger (group strangers)"), why);
}

BOOST_AUTO_TEST_CASE(a_folder_on_the_way_that_cannot_be_entered_is_named) {
    EnvFileTempDir dir;
    const Credentials who = stranger();
    const std::string script = dir.write("private/site/app.py", "x", 0644);
    ::chmod((dir.path / "private").c_str(), 0700);
    const std::string why = unreadable_reason(script, who);
    BOOST_TEST(contains(why, "the folder " + (dir.path / "private").string() + " ("), why);
    BOOST_TEST(contains(why, "mode 0700"), why);
    BOOST_TEST(contains(why, "cannot be entered"), why);
    ::chmod((dir.path / "private").c_str(), 0755);
    BOOST_TEST(unreadable_reason(script, who).empty());
    // A folder named itself (PyPath) must be listable too.
    ::chmod((dir.path / "private/site").c_str(), 0711);
    BOOST_TEST(contains(unreadable_reason((dir.path / "private/site").string(), who), "cannot be listed"));
}

BOOST_AUTO_TEST_CASE(owner_and_group_bits_apply_to_owner_and_members) {
    EnvFileTempDir dir;
    const std::string file = dir.write("group.py", "x", 0640);
    Credentials member = stranger();
    member.groups = {::getegid()};
    BOOST_TEST(unreadable_reason(file, member).empty());
    Credentials owner = stranger();
    owner.uid = ::geteuid();
    ::chmod(file.c_str(), 0400);
    BOOST_TEST(unreadable_reason(file, owner).empty());
    Credentials root = stranger();
    root.uid = 0;
    ::chmod(file.c_str(), 0000);
    BOOST_TEST(unreadable_reason(file, root).empty());
}

BOOST_AUTO_TEST_SUITE_END()

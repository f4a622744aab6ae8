// Real applications nobody here wrote, installed from Debian and driven by
// their own clients (issue 18): Mercurial's hgweb with hg clone / commit /
// push / pull, and git's smart HTTP protocol through dulwich.web with git
// clone and a chunked git push. Each under prefork and event.
//
// Under the harness the children run as nobody when the tests run as root:
// the repositories in the server root are made writable by everyone. Neither
// the clients nor the server read the tester's ~/.hgrc or ~/.gitconfig.
#include "http_client.h"
#include "httpd_server.h"
#include "test_mpm_common.h"
#include "test_support.h"

#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

using namespace pympm_test;
using namespace pympm_test::mpm;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// What keeps hg, git and the apps from the tester's configuration: a HOME
// of their own, no hgrc but the repository's, no system or global git config.
std::vector<std::string> isolated_environment(const std::string& home) {
    return {"HOME=" + home,          "XDG_CONFIG_HOME=" + home + "/.config", "LANG=C.UTF-8", "HGRCPATH=", "HGPLAIN=1",
            "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null"};
}

// httpd (and so hgweb and dulwich) runs with the test's environment but for
// isolated_environment(), with a HOME that does not exist.
std::vector<std::pair<std::string, HttpdOptions>> isolated_prefork_and_event(const std::string& config) {
    std::vector<std::pair<std::string, HttpdOptions>> out = {{"prefork", prefork_children(2, config)},
                                                             {"event", threaded_one_child(Mpm::event, 8, config)}};
    for (auto& [name, options] : out) options.environment = isolated_environment("/nonexistent");
    return out;
}

// Incompressible bytes: the pushes carry as much as the file is large.
std::string random_bytes(std::size_t n, std::uint32_t seed) {
    std::mt19937 gen(seed);
    std::string out(n, '\0');
    for (auto& ch : out) ch = static_cast<char>(gen() & 0xff);
    return out;
}

void write_bytes(const std::string& path, const std::string& data) { std::ofstream(path, std::ios::binary) << data; }

std::string read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Everyone may read and write below `dir`: httpd's children (nobody, when
// the tests run as root) push into the repositories.
void open_to_all(const std::string& dir) {
    fs::permissions(dir, fs::perms::all, fs::perm_options::add);
    for (auto& e : fs::recursive_directory_iterator(dir))
        if (!e.is_symlink()) fs::permissions(e.path(), fs::perms::all, fs::perm_options::add);
}

// A client command with an environment of its own: no user or system
// configuration, a HOME in the test's root.
struct Client {
    std::string home;
    std::vector<std::string> env;

    explicit Client(const HttpdServer& srv) : home(srv.root() + "/client-home") {
        fs::create_directories(home);
        // Nothing of the tester's environment but PATH (no GIT_DIR of a hook,
        // no GIT_CONFIG_PARAMETERS, no EMAIL), and a fixed identity.
        const char* path = std::getenv("PATH");
        env = {"/usr/bin/env",
               "-i",
               std::string("PATH=") + (path ? path : "/usr/bin:/bin"),
               "GIT_TERMINAL_PROMPT=0",
               "HGUSER=pympm test <pympm@example.invalid>",
               "GIT_AUTHOR_NAME=pympm test",
               "GIT_AUTHOR_EMAIL=pympm@example.invalid",
               "GIT_COMMITTER_NAME=pympm test",
               "GIT_COMMITTER_EMAIL=pympm@example.invalid"};
        for (auto& var : isolated_environment(home)) env.push_back(var);
    }

    CommandResult run(std::vector<std::string> args, std::vector<std::string> extra_env = {}) const {
        std::vector<std::string> cmd = env;
        cmd.insert(cmd.end(), extra_env.begin(), extra_env.end());
        cmd.insert(cmd.end(), args.begin(), args.end());
        return run_command(cmd, 120s);
    }
};

// Runs a client command that must succeed (the test stops here if not).
void run_ok(const Client& client, std::vector<std::string> args) {
    auto res = client.run(std::move(args));
    BOOST_TEST_REQUIRE(res.exit_code == 0, res.output);
}

// The end of a long output (git's curl trace).
std::string tail_of(const std::string& text) { return text.substr(text.size() > 8000 ? text.size() - 8000 : 0); }

} // namespace

BOOST_AUTO_TEST_SUITE(real_apps, *boost::unit_test::label("slow"))

BOOST_AUTO_TEST_CASE(hgweb_serves_hg_clone_push_and_pull) {
    for (auto& [name, options] : isolated_prefork_and_event("PyApp /hg @APPS@/real_apps/hgweb.wsgi\n")) {
        BOOST_TEST_CONTEXT(name) {
            HttpdServer srv(options);
            const Client hg(srv);
            // The served repository, with one commit, in the server root.
            const std::string repos = srv.root() + "/repos";
            const std::string repo = repos + "/hg/repo";
            fs::create_directories(repo);
            run_ok(hg, {"hg", "init", repo});
            write_bytes(repo + "/README", "served by hgweb under mod_pympm\n");
            run_ok(hg, {"hg", "-R", repo, "commit", "-A", "-m", "first"});
            const std::string hgweb_config = "[paths]\nrepo = " + repo + "\n[web]\nallow_push = *\npush_ssl = false\n";
            write_bytes(repos + "/hgweb.config", hgweb_config);
            open_to_all(repos);
            srv.start();

            const std::string url = "http://127.0.0.1:" + std::to_string(srv.port()) + "/hg/repo";
            const std::string one = srv.root() + "/clients/one", two = srv.root() + "/clients/two";
            fs::create_directories(srv.root() + "/clients");
            run_ok(hg, {"hg", "clone", url, one});
            run_ok(hg, {"hg", "clone", url, two});
            BOOST_TEST(read_bytes(one + "/README") == "served by hgweb under mod_pympm\n");

            // A commit of a few MB, pushed over plain HTTP.
            const std::string big = random_bytes(3u << 20, 18);
            write_bytes(one + "/big.bin", big);
            run_ok(hg, {"hg", "-R", one, "commit", "-A", "-m", "a few MB"});
            auto push = hg.run({"hg", "-R", one, "push"});
            BOOST_TEST_REQUIRE(push.exit_code == 0, push.output);
            BOOST_TEST(contains(push.output, "added 1 changesets with 1 changes to 1 files"), push.output);

            // The other clone pulls it: the same bytes.
            run_ok(hg, {"hg", "-R", two, "pull", "-u"});
            BOOST_TEST((read_bytes(two + "/big.bin") == big), "big.bin round-tripped through hgweb");
            auto log = hg.run({"hg", "-R", two, "log", "-r", "tip", "-T", "{desc}"});
            BOOST_TEST(log.output == "a few MB");
        }
    }
}

BOOST_AUTO_TEST_CASE(dulwich_serves_git_clone_and_a_chunked_push) {
    for (auto& [name, options] : isolated_prefork_and_event("PyApp /git @APPS@/real_apps/dulwich_app.py\n")) {
        BOOST_TEST_CONTEXT(name) {
            HttpdServer srv(options);
            const Client git(srv);
            // The served bare repository, with one commit on main.
            const std::string repos = srv.root() + "/repos";
            const std::string bare = repos + "/git/repo.git", seed = srv.root() + "/clients/seed";
            fs::create_directories(repos + "/git");
            fs::create_directories(seed);
            run_ok(git, {"git", "init", "-q", "--bare", "-b", "main", bare});
            run_ok(git, {"git", "init", "-q", "-b", "main", seed});
            write_bytes(seed + "/README", "served by dulwich under mod_pympm\n");
            run_ok(git, {"git", "-C", seed, "add", "README"});
            run_ok(git, {"git", "-C", seed, "commit", "-q", "-m", "first"});
            run_ok(git, {"git", "-C", seed, "push", "-q", bare, "main"});
            open_to_all(repos);
            srv.start();

            const std::string url = "http://127.0.0.1:" + std::to_string(srv.port()) + "/git/repo.git";
            const std::string one = srv.root() + "/clients/one", fresh = srv.root() + "/clients/fresh";
            run_ok(git, {"git", "clone", "-q", url, one});
            BOOST_TEST(read_bytes(one + "/README") == "served by dulwich under mod_pympm\n");

            // A commit of a few MB, pushed with a small http.postBuffer: git
            // then sends the pack with Transfer-Encoding: chunked.
            const std::string big = random_bytes(4u << 20, 18);
            write_bytes(one + "/big.bin", big);
            run_ok(git, {"git", "-C", one, "add", "big.bin"});
            run_ok(git, {"git", "-C", one, "commit", "-q", "-m", "a few MB"});
            auto push = git.run({"git", "-C", one, "-c", "http.postBuffer=65536", "push", "origin", "main"},
                                {"GIT_TRACE_CURL=1", "GIT_TRACE_CURL_NO_DATA=1"});
            BOOST_TEST_REQUIRE(push.exit_code == 0, tail_of(push.output));
            BOOST_TEST(contains(push.output, "Send header: Transfer-Encoding: chunked"), "the push was sent chunked");

            // A fresh clone has the pushed bytes.
            run_ok(git, {"git", "clone", "-q", url, fresh});
            BOOST_TEST((read_bytes(fresh + "/big.bin") == big), "big.bin round-tripped through dulwich");
            auto log = git.run({"git", "-C", fresh, "log", "-1", "--format=%s"});
            BOOST_TEST(log.output == "a few MB\n");
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()

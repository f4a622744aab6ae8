// PyHome checks: pyvenv.cfg parsing and the messages naming both versions,
// on throw-away directories.
#include "config/python_home.h"

#include "unit_support.h"

#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

using namespace pympm;
using pympm_test::contains;
namespace fs = std::filesystem;

namespace {

struct PythonHomeTempDir {
    fs::path path;
    PythonHomeTempDir() {
        std::string tmpl = (fs::temp_directory_path() / "pympm-home-XXXXXX").string();
        if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
        path = tmpl;
    }
    ~PythonHomeTempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    std::string str() const { return path.string(); }
    void write(const std::string& rel, const std::string& text) const {
        fs::create_directories((path / rel).parent_path());
        std::ofstream(path / rel) << text;
    }
    void mkdir(const std::string& rel) const { fs::create_directories(path / rel); }
};

// A Python X.Y that is not the built-for one.
std::string other_version() { return built_python_version() == "3.9" ? "3.10" : "3.9"; }

} // namespace

BOOST_AUTO_TEST_SUITE(python_home)

BOOST_AUTO_TEST_CASE(built_version_shape) {
    const std::string v = built_python_version();
    BOOST_TEST(v.rfind("3.", 0) == 0u, v);
    BOOST_TEST(v.find('.', 2) == std::string::npos, v);
}

BOOST_AUTO_TEST_CASE(pyvenv_cfg_parsing) {
    BOOST_TEST(pyvenv_version("home = /usr/bin\nversion = 3.11.2\n") == "3.11");
    BOOST_TEST(pyvenv_version("version=3.12.0") == "3.12");
    BOOST_TEST(pyvenv_version("  version  =  3.10.4  \r\n") == "3.10");
    BOOST_TEST(pyvenv_version("version_info = 3.10.12.final.0\n") == "3.10");
    // `version` wins over `version_info` (uv writes both), in either order.
    BOOST_TEST(pyvenv_version("version_info = 3.10.1.final.0\nversion = 3.11.4\n") == "3.11");
    BOOST_TEST(pyvenv_version("version = 3.11.4\nversion_info = 3.10.1.final.0\n") == "3.11");
    BOOST_TEST(pyvenv_version("home = /usr/bin\ninclude-system-site-packages = false\n") == "");
    BOOST_TEST(pyvenv_version("") == "");
    BOOST_TEST(pyvenv_version("version = 3\n") == "");
    BOOST_TEST(pyvenv_version("# version = 3.9.1\nnonsense\n") == "");
}

BOOST_AUTO_TEST_CASE(missing_dir) {
    PythonHomeTempDir d;
    std::string err;
    BOOST_TEST(!check_python_home(d.str() + "/nope", err));
    BOOST_TEST(contains(err, "does not exist"), err);
    BOOST_TEST(contains(err, d.str() + "/nope"), err);
}

BOOST_AUTO_TEST_CASE(matching_venv) {
    PythonHomeTempDir d;
    d.write("pyvenv.cfg", "home = /usr/bin\nversion = " + built_python_version() + ".7\n");
    std::string err;
    BOOST_TEST(check_python_home(d.str(), err), err);
}

BOOST_AUTO_TEST_CASE(mismatched_venv_names_both_versions) {
    PythonHomeTempDir d;
    d.write("pyvenv.cfg", "home = /usr/bin\nversion = " + other_version() + ".1\n");
    std::string err;
    BOOST_TEST(!check_python_home(d.str(), err));
    BOOST_TEST(contains(err, "Python " + other_version()), err);
    BOOST_TEST(contains(err, "built for Python " + built_python_version()), err);
    // The embedded interpreter by its full path, not a python3.X from PATH.
    BOOST_TEST(contains(err, "with /"), err);
    BOOST_TEST(contains(err, "/python" + built_python_version() + " -m venv"), err);
    BOOST_TEST(contains(err, d.str()), err);
}

BOOST_AUTO_TEST_CASE(venv_without_version) {
    PythonHomeTempDir d;
    d.write("pyvenv.cfg", "home = /usr/bin\n");
    std::string err;
    BOOST_TEST(!check_python_home(d.str(), err));
    BOOST_TEST(contains(err, "names no Python version"), err);
}

BOOST_AUTO_TEST_CASE(matching_prefix) {
    PythonHomeTempDir d;
    d.mkdir("lib/python" + built_python_version());
    std::string err;
    BOOST_TEST(check_python_home(d.str(), err), err);
}

BOOST_AUTO_TEST_CASE(prefix_of_another_python) {
    PythonHomeTempDir d;
    d.mkdir("lib/python" + other_version());
    std::string err;
    BOOST_TEST(!check_python_home(d.str(), err));
    BOOST_TEST(contains(err, "holds Python " + other_version()), err);
    BOOST_TEST(contains(err, "built for Python " + built_python_version()), err);
}

BOOST_AUTO_TEST_CASE(neither_venv_nor_prefix) {
    PythonHomeTempDir d;
    d.mkdir("lib");
    std::string err;
    BOOST_TEST(!check_python_home(d.str(), err));
    BOOST_TEST(contains(err, "no pyvenv.cfg"), err);
    BOOST_TEST(contains(err, "lib/python" + built_python_version()), err);
}

BOOST_AUTO_TEST_SUITE_END()

#include "config/python_home.h"

#include <patchlevel.h> // PY_MAJOR_VERSION, PY_MINOR_VERSION only

#include <dirent.h>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

namespace pympm {

namespace {

bool is_dir(const std::string& p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string trim(const std::string& s) {
    auto b = s.find_first_not_of(" \t\r");
    auto e = s.find_last_not_of(" \t\r");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

// "3.11.2" -> "3.11"
std::string major_minor(const std::string& v) {
    auto first = v.find('.');
    if (first == std::string::npos) return "";
    auto second = v.find('.', first + 1);
    return second == std::string::npos ? v : v.substr(0, second);
}

// The interpreter the module embeds, by its full path (/usr/bin/python3.11):
// a python3.11 first on PATH may be a private build whose venv the
// children's user cannot use.
std::string embedded_interpreter(const std::string& want) {
#ifdef PYMPM_PYTHON_EXECUTABLE
    const std::string exe = PYMPM_PYTHON_EXECUTABLE;
    const auto slash = exe.rfind('/');
    if (!exe.empty() && exe[0] == '/' && slash != std::string::npos) return exe.substr(0, slash) + "/python" + want;
#endif
    return "python" + want;
}

} // namespace

std::string built_python_version() { return std::to_string(PY_MAJOR_VERSION) + "." + std::to_string(PY_MINOR_VERSION); }

std::string pyvenv_version(const std::string& cfg_text) {
    std::istringstream in(cfg_text);
    std::string line;
    std::string found;
    while (std::getline(in, line)) {
        auto eq = line.find('=');
        if (eq == std::string::npos) continue;
        std::string key = trim(line.substr(0, eq));
        std::string value = trim(line.substr(eq + 1));
        if (key == "version" || (key == "version_info" && found.empty())) found = major_minor(value);
    }
    return found;
}

bool check_python_home(const std::string& dir, std::string& error) {
    const std::string want = built_python_version();
    if (!is_dir(dir)) {
        error = "PyHome '" + dir + "' does not exist or is not a directory";
        return false;
    }
    std::ifstream cfg(dir + "/pyvenv.cfg");
    if (cfg) {
        std::stringstream text;
        text << cfg.rdbuf();
        std::string have = pyvenv_version(text.str());
        if (have.empty()) {
            error = "PyHome '" + dir + "': pyvenv.cfg names no Python version; recreate the virtualenv with " +
                    embedded_interpreter(want) + " -m venv";
            return false;
        }
        if (have != want) {
            error = "PyHome '" + dir + "' is a virtualenv of Python " + have + " but mod_pympm was built for Python " +
                    want + "; recreate it with " + embedded_interpreter(want) + " -m venv";
            return false;
        }
        return true;
    }
    if (is_dir(dir + "/lib/python" + want)) return true;
    // Name the version that is there, if any.
    std::string other;
    if (DIR* d = ::opendir((dir + "/lib").c_str())) {
        while (dirent* e = ::readdir(d)) {
            std::string n = e->d_name;
            if (n.rfind("python3.", 0) == 0) {
                other = n.substr(6);
                break;
            }
        }
        ::closedir(d);
    }
    if (!other.empty())
        error = "PyHome '" + dir + "' holds Python " + other + " but mod_pympm was built for Python " + want;
    else
        error = "PyHome '" + dir + "' is neither a virtualenv (no pyvenv.cfg) nor a Python " + want +
                " prefix (no lib/python" + want + ")";
    return false;
}

} // namespace pympm

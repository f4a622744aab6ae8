// Maps the directives onto what the MPM provides: the effective model a child
// runs with, the warnings for values that had to be lowered, and the error for
// combinations that cannot work (PyEnableThreads Off with several request
// threads per child).
#pragma once

#include "config/child_settings.h"
#include "config/mpm_model.h"

#include <optional>
#include <string>
#include <vector>

namespace pympm {

struct EffectiveModel {
    int py_threads = 1; // requests allowed in Python at once per child
    bool enable_threads = true;
    bool multithread = false; // wsgi.multithread
    bool multiprocess = true; // wsgi.multiprocess
    bool gate_needed = false; // py_threads < threads_per_child, or HTTP/2
    std::vector<std::string> warnings;
    std::optional<std::string> error; // startup must fail with this sentence
};

EffectiveModel compute_effective_model(const ChildSettings& settings, const MpmModel& mpm);

// "mpm=event threads_per_child=25 py_threads=4 enable_threads=on"
std::string describe_model(const EffectiveModel& model, const MpmModel& mpm);

} // namespace pympm

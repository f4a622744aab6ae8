#include "child/child_health.h"

namespace pympm {

const char* health_state_name(ChildHealth::State state) {
    switch (state) {
    case ChildHealth::State::stopping: return "stopping";
    case ChildHealth::State::python_unavailable: return "python-unavailable";
    case ChildHealth::State::import_failed: return "import-failed";
    case ChildHealth::State::ok: return "ok";
    }
    return "unknown";
}

std::string ChildHealth::render() const {
    std::string out = std::string("status=") + health_state_name(state) + "\npid=" + std::to_string(pid) +
                      "\ngeneration=" + std::to_string(generation) + "\n";
    if (!failed.empty()) {
        out += "failed=";
        for (std::size_t i = 0; i < failed.size(); ++i) out += (i ? "," : "") + failed[i];
        out += "\n";
    }
    return out;
}

} // namespace pympm

// What a load balancer asks one child: may requests come here? Read from
// flags the runtime keeps, never with the GIL or a PyThreads slot, so a child
// busy in Python still answers at once (SetHandler pympm-health).
#pragma once

#include <string>
#include <vector>

namespace pympm {

struct ChildHealth {
    // In the order they are checked: the first that applies is the answer.
    enum class State { stopping, python_unavailable, import_failed, ok };
    State state = State::ok;
    long pid = 0;
    int generation = 0;              // httpd's generation when the child started
    std::vector<std::string> failed; // mounts whose app cannot serve (import_failed)

    int http_status() const { return state == State::ok ? 200 : 503; }
    // "status=ok\npid=4242\ngeneration=3\n" (+ "failed=/a,/b\n").
    std::string render() const;
};

const char* health_state_name(ChildHealth::State state);

} // namespace pympm

#include "runtime/child_info.h"

#include <chrono>
#include <unistd.h>

namespace pympm {

namespace {

// Set while a runtime exists; they own nothing.
const SlotGate* g_stats_gate = nullptr;
const ChildRecycling* g_stats_recycling = nullptr;
const ChildStats* g_stats_entry = nullptr;
const AsgiInbox* g_stats_inbox = nullptr;

PyObject* live_statistics() {
    SlotGateStats s;
    if (g_stats_gate) s = g_stats_gate->stats();
    PyRef d = PyRef::steal(Py_BuildValue(
        "{s:i,s:i,s:K,s:K,s:K,s:d,s:i}", "requests_waiting", s.waiting, "slots_busy", s.busy, "requests_admitted",
        static_cast<unsigned long long>(s.admitted), "requests_waited", static_cast<unsigned long long>(s.waited),
        "slots_lent", static_cast<unsigned long long>(s.lent), "total_wait_seconds",
        std::chrono::duration<double>(s.total_wait).count(), "thread_states", count_thread_states()));
    if (!d) return nullptr;
    if (const AsgiInbox* inbox = g_stats_inbox) {
        // Requests and answers handed to the ASGI loop, and how many
        // wake-ups of the loop they cost (a burst costs one).
        const AsgiInbox::Stats a = inbox->stats();
        PyRef v = PyRef::steal(Py_BuildValue(
            "{s:K,s:K,s:K}", "asgi_inbox_items", static_cast<unsigned long long>(a.pushed), "asgi_loop_wakes",
            static_cast<unsigned long long>(a.wakes), "asgi_loop_drains", static_cast<unsigned long long>(a.takes)));
        if (!v || PyDict_Update(d.get(), v.get()) != 0) return nullptr;
    }
    if (g_stats_recycling) {
        PyRef v = PyRef::steal(Py_BuildValue(
            "{s:K,s:K,s:s}", "requests_served", static_cast<unsigned long long>(g_stats_recycling->served()),
            "request_limit", static_cast<unsigned long long>(g_stats_recycling->request_limit()), "leaving",
            leave_reason_name(g_stats_recycling->reason())));
        if (!v || PyDict_Update(d.get(), v.get()) != 0) return nullptr;
    }
    if (const ChildStats* e = g_stats_entry) {
        // The same figures the status page shows for this child.
        const ChildSnapshot c = read_own_entry(*e);
        PyRef v = PyRef::steal(Py_BuildValue(
            "{s:L,s:K,s:K,s:K,s:K,s:d,s:K,s:K,s:s}", "requests_in_app", static_cast<long long>(c.in_app), "app_4xx",
            static_cast<unsigned long long>(c.app_4xx), "app_5xx", static_cast<unsigned long long>(c.app_5xx),
            "exceptions", static_cast<unsigned long long>(c.exceptions), "timeouts",
            static_cast<unsigned long long>(c.timeouts), "slot_wait_seconds_max",
            static_cast<double>(c.slot_wait_max_ns) / 1e9, "rss_bytes", static_cast<unsigned long long>(c.rss_bytes),
            "python_threads", static_cast<unsigned long long>(c.python_threads), "predecessor_left",
            leave_reason_name(c.predecessor_reason)));
        if (!v || PyDict_Update(d.get(), v.get()) != 0) return nullptr;
    }
    return d.release();
}

} // namespace

int count_thread_states() {
    PYMPM_ASSERT_GIL();
    int n = 0;
    for (PyThreadState* t = PyInterpreterState_ThreadHead(PyInterpreterState_Main()); t; t = PyThreadState_Next(t)) ++n;
    return n;
}

void child_info_sources(const SlotGate* gate, const ChildRecycling* recycling, const AsgiInbox* inbox) {
    g_stats_gate = gate;
    g_stats_recycling = recycling;
    g_stats_inbox = inbox;
    set_gate_stats_provider(live_statistics);
}

void child_info_entry(const ChildStats* entry) { g_stats_entry = entry; }

void forget_child_info_sources(const SlotGate* gate, const ChildRecycling* recycling, const AsgiInbox* inbox) {
    if (gate && g_stats_gate == gate) g_stats_gate = nullptr;
    if (recycling && g_stats_recycling == recycling) g_stats_recycling = nullptr;
    if (inbox && g_stats_inbox == inbox) g_stats_inbox = nullptr;
}

void publish_child_info(const PympmModule& py, const ChildInfoModel& info) {
    PYMPM_ASSERT_GIL();
    PyRef apps_list = PyRef::steal(PyList_New(0));
    for (const auto& name : info.apps) {
        PyRef s = PyRef::steal(PyUnicode_FromString(name.c_str()));
        if (s && apps_list) PyList_Append(apps_list.get(), s.get());
    }
    const EffectiveModel& m = info.model;
    PyRef values = PyRef::steal(Py_BuildValue(
        "{s:i,s:s,s:i,s:i,s:i,s:O,s:O,s:i,s:s,s:s,s:O,s:O}", "pid", static_cast<int>(::getpid()), "mpm",
        info.mpm.name.c_str(), "threads_per_child", info.mpm.threads_per_child, "max_daemons", info.mpm.max_daemons,
        "py_threads", m.py_threads, "enable_threads", m.enable_threads ? Py_True : Py_False, "multithread",
        m.multithread ? Py_True : Py_False, "generation", info.generation, "python", info.python.version.c_str(),
        "home", info.python.home.c_str(), "apps", apps_list ? apps_list.get() : Py_None, "utf8_mode",
        info.utf8_mode ? Py_True : Py_False));
    if (!values || PyDict_Update(py.child_info.get(), values.get()) != 0) PyErr_Clear();
}

} // namespace pympm

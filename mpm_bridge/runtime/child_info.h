// pympm.child_info(): the child's effective model, filled once at start,
// and its live statistics (PyThreads gate, recycling, the child's entry on
// the status board), read when the app calls it.
#pragma once

#include "admission/slot_gate.h"
#include "asgi/asgi_inbox.h"
#include "child/child_recycling.h"
#include "config/effective_model.h"
#include "config/mpm_model.h"
#include "python/interpreter.h"
#include "status/status_board.h"

#include <string>
#include <vector>

namespace pympm {

// Where pympm.child_info() reads the live statistics while a runtime exists
// (these own nothing; null: not there).
void child_info_sources(const SlotGate* gate, const ChildRecycling* recycling, const AsgiInbox* inbox);
void child_info_entry(const ChildStats* entry);
// The runtime that set `gate`, `recycling` and `inbox` goes: they are forgotten.
void forget_child_info_sources(const SlotGate* gate, const ChildRecycling* recycling, const AsgiInbox* inbox);

// The effective model, as the "child ready" line logs it, into the dict
// behind pympm.child_info(). GIL held; its temporaries die here.
struct ChildInfoModel {
    const MpmModel& mpm;
    const EffectiveModel& model;
    int generation;
    const PythonStart& python;
    const std::vector<std::string>& apps; // "/mount=target"
    bool utf8_mode;
};
void publish_child_info(const PympmModule& py, const ChildInfoModel& info);

// Python thread states of the interpreter (GIL held): one per thread that
// has run Python and not exited (httpd's request threads, app threads).
int count_thread_states();

} // namespace pympm

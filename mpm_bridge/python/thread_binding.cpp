#include "python/thread_binding.h"

#include "python/gil.h"
#include "base/lock_order.h"

#include <atomic>
#include <mutex>
#include <unistd.h>
#include <vector>

namespace pympm::thread_binding {

namespace {

// Set while Python runs, so late thread exits never touch a freed state.
std::atomic<bool> g_python_alive{false};
// States of threads that exited without the GIL: a thread never waits for
// the GIL as it exits (an app thread may hold it for good, and httpd joins
// its threads before the child can stop). The next request deletes them.
struct ExitedThread {
    PyThreadState* state;
    unsigned long ident;
};
LeafMutex g_exited_mutex;
std::vector<ExitedThread> g_exited;
std::atomic<bool> g_have_exited{false};
// PyEnableThreads Off: the thread that keeps the GIL (0: none yet).
std::atomic<pid_t> g_kept_by{0};

pid_t this_tid() {
    thread_local const pid_t tid = ::gettid();
    return tid;
}

PyThreadState* current_state() {
#if PY_VERSION_HEX >= 0x030D0000
    return PyThreadState_GetUnchecked();
#else
    return _PyThreadState_UncheckedGet();
#endif
}

// threading.current_thread() on an httpd thread leaves a _DummyThread in
// threading._active for good; a later thread with the same ident would
// inherit it, and threading.enumerate() would grow with every thread that
// came and went. Needs the GIL.
void forget_dummy_thread(unsigned long thread_ident) {
    PyRef name = PyRef::steal(PyUnicode_FromString("threading"));
    PyRef threading = name ? PyRef::steal(PyImport_GetModule(name.get())) : PyRef();
    PyRef active = threading ? PyRef::steal(PyObject_GetAttrString(threading.get(), "_active")) : PyRef();
    PyRef dummy = threading ? PyRef::steal(PyObject_GetAttrString(threading.get(), "_DummyThread")) : PyRef();
    PyRef ident = PyRef::steal(PyLong_FromUnsignedLong(thread_ident));
    if (active && dummy && ident && PyDict_Check(active.get()) && PyType_Check(dummy.get())) {
        PyObject* entry = PyDict_GetItemWithError(active.get(), ident.get()); // borrowed
        if (entry && PyObject_TypeCheck(entry, reinterpret_cast<PyTypeObject*>(dummy.get())))
            PyDict_DelItem(active.get(), ident.get());
    }
    PyErr_Clear();
}

struct ThreadBinding {
    PyThreadState* state = nullptr;

    // Runs when the thread exits.
    ~ThreadBinding() {
        if (!state || !g_python_alive.load() || this_tid() == ::getpid()) {
            // The main thread's binding is destroyed only by exit(): there
            // the GIL stays taken, so that app threads of an unfinalised
            // interpreter stay frozen while the process tears down.
            return;
        }
        if (current_state() == state) {
            // It kept the GIL (PyEnableThreads Off): it deletes its own
            // state, which gives the GIL back for the child's main thread.
            forget_dummy_thread(PyThread_get_thread_ident());
            PyThreadState_Clear(state);
            PyThreadState_DeleteCurrent();
        } else {
            std::lock_guard lock(g_exited_mutex);
            g_exited.push_back({state, PyThread_get_thread_ident()});
            g_have_exited = true;
        }
        pid_t me = this_tid();
        g_kept_by.compare_exchange_strong(me, 0);
        state = nullptr;
    }
};
thread_local ThreadBinding t_binding;

} // namespace

void python_started() {
    t_binding.state = PyThreadState_Get();
    g_python_alive = true;
}

bool holds_gil() {
    // Its binding's state, or the one CPython registered for it (an app
    // thread). Not PyGILState_Check(): that answers 1 for every thread once
    // a subinterpreter exists.
    PyThreadState* current = current_state();
    return current && (current == t_binding.state || current == PyGILState_GetThisThreadState());
}

bool acquire() {
    if (holds_gil()) return false;
    if (!t_binding.state) {
        // Created once per httpd thread; PyThreadState_New also registers it
        // for PyGILState_Ensure, so C extensions find it.
        t_binding.state = PyThreadState_New(PyInterpreterState_Main());
    }
    take_gil(t_binding.state);
    return true;
}

void release() {
    if (holds_gil()) PyEval_SaveThread();
}

void keep() { g_kept_by = this_tid(); }

bool gil_kept_elsewhere() {
    const pid_t k = g_kept_by.load(std::memory_order_relaxed);
    return k != 0 && k != this_tid();
}

void delete_exited_thread_states() {
    if (!g_have_exited.load(std::memory_order_relaxed)) return;
    PYMPM_ASSERT_GIL();
    std::vector<ExitedThread> exited;
    {
        std::lock_guard lock(g_exited_mutex);
        exited.swap(g_exited);
        g_have_exited = false;
    }
    for (const ExitedThread& t : exited) {
        forget_dummy_thread(t.ident);
        PyThreadState_Clear(t.state);
        PyThreadState_Delete(t.state);
    }
}

void interpreter_finalized() {
    g_python_alive = false;
    {
        // Finalisation deleted them with every other state.
        std::lock_guard lock(g_exited_mutex);
        g_exited.clear();
        g_have_exited = false;
    }
    g_kept_by = 0;
    t_binding.state = nullptr;
}

} // namespace pympm::thread_binding

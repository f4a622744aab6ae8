#include "python/eager_task.h"

#include "python/py_err_scope.h"
#include "python/python_entry.h"

#include <charconv>
#include <cstring>
#include <memory>

namespace pympm {

namespace {

constexpr const char* kStarter = "pympm.eager_task";
constexpr const char* kKeeper = "pympm.eager_task_keep";

// One loop's starter; owned by the capsule of its start function. Used on
// the loop's thread only (the GIL serialises it all the same).
struct EagerStarter {
    PyRef loop;
    PyRef overrides;        // loop.__dict__
    PyRef name;             // "call_soon"
    PyRef call_soon;        // the loop's own, bound
    PyRef get_task_factory; // the loop's, bound
    PyRef create_task;      // the loop's, bound
    PyRef task_type;        // asyncio.Task
    PyRef kwnames;          // ("loop", "name")
    unsigned long long named = 0;
    PyRef keep; // keep_step below, bound to this starter
    bool armed = false;
    PyRef step, context; // the first step, kept
};

// The loop's call_soon while a Task is made: the Task's first step (a
// TaskStepMethWrapper, with the task's context) is kept; anything else goes
// to the loop's own. The context of the Task's first call is kept either
// way, so that a step that was scheduled is prepared all the same.
PyObject* keep_step(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    return python_entry([&]() -> PyObject* {
        auto* s = static_cast<EagerStarter*>(PyCapsule_GetPointer(self, kKeeper));
        if (!s) return nullptr;
        if (s->armed && !s->context && nargs == 1 && kwnames && PyTuple_GET_SIZE(kwnames) == 1 &&
            PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), "context") == 0 && args[1] != Py_None) {
            s->context = PyRef::borrow(args[1]);
            if (std::strcmp(Py_TYPE(args[0])->tp_name, "TaskStepMethWrapper") == 0) {
                s->step = PyRef::borrow(args[0]);
                Py_RETURN_NONE;
            }
        }
        return PyObject_Vectorcall(s->call_soon.get(), args, static_cast<std::size_t>(nargs), kwnames);
    });
}

// Whether a task can start eagerly now (1), or must be scheduled by the
// loop's create_task (0): not when the app gave the loop a task factory
// (its tasks are the factory's) or a call_soon of its own (the keeper would
// replace it). Either can be set at any time (lifespan startup does), so
// every start asks. -1 with an exception.
int can_start(EagerStarter& s) {
    const int own = PyDict_Contains(s.overrides.get(), s.name.get());
    if (own != 0) return own < 0 ? -1 : 0;
    PyRef factory = PyRef::steal(PyObject_CallNoArgs(s.get_task_factory.get()));
    if (!factory) return -1;
    return factory.get() == Py_None ? 1 : 0;
}

PyMethodDef keep_def = {"call_soon", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(keep_step)),
                        METH_FASTCALL | METH_KEYWORDS, "the loop's call_soon, keeping a new task's first step"};

// "pympm-<n>", cheaply.
PyObject* task_name(EagerStarter& s) {
    char text[32] = "pympm-";
    constexpr std::size_t prefix = 6;
    const auto [end, ec] = std::to_chars(text + prefix, text + sizeof text, ++s.named);
    (void)ec; // 20 digits at most: it fits
    return PyUnicode_FromStringAndSize(text, end - text);
}

// The keeper taken off the loop again; a call_soon that is not ours (set
// while the Task was made) is left alone.
bool unkeep(EagerStarter& s) {
    PyObject* now = PyDict_GetItemWithError(s.overrides.get(), s.name.get());
    if (now != s.keep.get()) return !PyErr_Occurred();
    return PyDict_DelItem(s.overrides.get(), s.name.get()) == 0;
}

PyObject* start(PyObject* self, PyObject* coro, EagerBeforeStep before_step, void* arg) {
    return python_entry([&]() -> PyObject* {
        auto* s = static_cast<EagerStarter*>(PyCapsule_GetPointer(self, kStarter));
        if (!s) return nullptr;
        PyRef name = PyRef::steal(task_name(*s));
        if (!name) return nullptr;
        if (s->armed) {
            PyErr_SetString(PyExc_RuntimeError, "eager task start re-entered");
            return nullptr;
        }
        if (PyDict_SetItem(s->overrides.get(), s->name.get(), s->keep.get()) != 0) return nullptr;
        s->armed = true;
        PyObject* args[] = {coro, s->loop.get(), name.get()};
        PyRef task = PyRef::steal(PyObject_Vectorcall(s->task_type.get(), args, 1, s->kwnames.get()));
        s->armed = false;
        PyRef step = std::move(s->step);
        PyRef context = std::move(s->context);
        if (!task) {
            PyErrScope failed; // Task()'s exception, kept across the clean-up
            if (!unkeep(*s)) PyErr_Clear();
            return nullptr;
        }
        if (!unkeep(*s)) return nullptr;
        if (!context) {
            // Its first step went nowhere we saw: it cannot be prepared, and
            // must not run unprepared.
            PyRef cancelled = PyRef::steal(PyObject_CallMethod(task.get(), "cancel", nullptr));
            if (!cancelled) return nullptr;
            PyErr_SetString(PyExc_RuntimeError, "eager task start: the task scheduled no first step");
            return nullptr;
        }
        // The task's context, as the loop would enter it for the step.
        if (PyContext_Enter(context.get()) != 0) return nullptr;
        if (before_step && before_step(arg, task.get()) != 0) {
            PyContext_Exit(context.get());
            return nullptr;
        }
        if (!step) {
            // Scheduled, as for any task: it runs soon, prepared as told.
            if (PyContext_Exit(context.get()) != 0) return nullptr;
            return task.release();
        }
        PyRef r = PyRef::steal(PyObject_CallNoArgs(step.get()));
        const int exited = PyContext_Exit(context.get());
        if (!r || exited != 0) return nullptr;
        return task.release();
    });
}

PyObject* schedule(PyObject* self, PyObject* coro) {
    return python_entry([&]() -> PyObject* {
        auto* s = static_cast<EagerStarter*>(PyCapsule_GetPointer(self, kStarter));
        return s ? PyObject_CallOneArg(s->create_task.get(), coro) : nullptr;
    });
}

int ready(PyObject* self) {
    return python_entry([&]() -> int {
        auto* s = static_cast<EagerStarter*>(PyCapsule_GetPointer(self, kStarter));
        return s ? can_start(*s) : -1;
    });
}

PyObject* eager_start(PyObject* self, PyObject* coro) {
    const int eager = ready(self);
    if (eager < 0) return nullptr;
    return eager ? start(self, coro, nullptr, nullptr) : schedule(self, coro);
}

PyMethodDef start_def = {"eager_start", eager_start, METH_O,
                         "eager_start(coro): an asyncio.Task of the loop, its first step run now (or scheduled, "
                         "with the loop's create_task, when the loop has a task factory or call_soon of its own)"};

void delete_starter(PyObject* capsule) { delete static_cast<EagerStarter*>(PyCapsule_GetPointer(capsule, kStarter)); }

} // namespace

PyObject* native_eager_task_starter(PyObject*, PyObject* loop) {
    return python_entry([&]() -> PyObject* {
        auto s = std::make_unique<EagerStarter>();
        s->loop = PyRef::borrow(loop);
        s->overrides = PyRef::steal(PyObject_GetAttrString(loop, "__dict__"));
        if (!s->overrides) {
            if (!PyErr_ExceptionMatches(PyExc_AttributeError)) return nullptr;
            PyErr_Clear();
            Py_RETURN_NONE;
        }
        s->name = PyRef::steal(PyUnicode_InternFromString("call_soon"));
        if (!s->name) return nullptr;
        if (!PyDict_Check(s->overrides.get())) Py_RETURN_NONE;
        const int overridden = PyDict_Contains(s->overrides.get(), s->name.get());
        if (overridden < 0) return nullptr;
        if (overridden) Py_RETURN_NONE;
        s->call_soon = PyRef::steal(PyObject_GetAttr(loop, s->name.get()));
        s->get_task_factory = PyRef::steal(PyObject_GetAttrString(loop, "get_task_factory"));
        s->create_task = PyRef::steal(PyObject_GetAttrString(loop, "create_task"));
        PyRef asyncio = PyRef::steal(PyImport_ImportModule("asyncio"));
        s->task_type = asyncio ? PyRef::steal(PyObject_GetAttrString(asyncio.get(), "Task")) : PyRef();
        s->kwnames = PyRef::steal(Py_BuildValue("(ss)", "loop", "name"));
        if (!s->call_soon || !s->get_task_factory || !s->create_task || !s->task_type || !s->kwnames) return nullptr;
        // The keeper refers to the starter without owning it (no cycle
        // through the starter's own capsule).
        PyRef keeper = PyRef::steal(PyCapsule_New(s.get(), kKeeper, nullptr));
        s->keep = keeper ? PyRef::steal(PyCFunction_New(&keep_def, keeper.get())) : PyRef();
        if (!s->keep) return nullptr;
        PyRef owner = PyRef::steal(PyCapsule_New(s.get(), kStarter, delete_starter));
        if (!owner) return nullptr;
        s.release(); // the capsule's now
        return PyCFunction_New(&start_def, owner.get());
    });
}

bool is_eager_task_starter(PyObject* fn) {
    return fn && PyCFunction_Check(fn) && PyCFunction_GET_FUNCTION(fn) == eager_start;
}

int eager_task_ready(PyObject* starter) { return ready(PyCFunction_GET_SELF(starter)); }

PyObject* eager_task_start(PyObject* starter, PyObject* coro, EagerBeforeStep before_step, void* arg) {
    return start(PyCFunction_GET_SELF(starter), coro, before_step, arg);
}

PyObject* eager_task_schedule(PyObject* starter, PyObject* coro) {
    return schedule(PyCFunction_GET_SELF(starter), coro);
}

} // namespace pympm

#include "asgi/asgi_awaitable.h"

#include "asgi/asgi_context.h"
#include "python/python_entry.h"

#include <utility>

namespace pympm {

namespace {

enum class CallState : unsigned char { fresh, waiting, finished };

struct CallObject {
    PyObject_HEAD PyObject* channel; // until the operation has run (with give_back: until finished)
    PyObject* arg;                   // the message sent, or null
    PyObject* waiter;                // the future's iterator while the answer is awaited
    PyObject* future;                // with give_back: the future awaited
    AsgiChannelOp op;
    AsgiGiveBack give_back;
    CallState state;
};

CallObject* as_call(PyObject* o) { return reinterpret_cast<CallObject*>(o); }

void finish(CallObject* c) {
    c->state = CallState::finished;
    Py_CLEAR(c->channel);
    Py_CLEAR(c->arg);
    Py_CLEAR(c->waiter);
    Py_CLEAR(c->future);
}

// One step, as PyIter_Send: the operation's answer (PYGEN_RETURN), or what
// the future's iterator yields while it waits (PYGEN_NEXT).
PySendResult step(CallObject* c, PyObject* value, PyObject** result) {
    *result = nullptr;
    if (c->state == CallState::finished) {
        PyErr_SetString(PyExc_RuntimeError, "cannot reuse already awaited coroutine");
        return PYGEN_ERROR;
    }
    if (c->state == CallState::fresh) {
        if (value != Py_None) {
            PyErr_SetString(PyExc_TypeError, "can't send non-None value to a just-started coroutine");
            return PYGEN_ERROR;
        }
        PyObject* got = c->op(c->channel, c->arg);
        if (!got) {
            finish(c);
            return PYGEN_ERROR;
        }
        if (got == Py_None || PyDict_Check(got)) {
            finish(c);
            *result = got;
            return PYGEN_RETURN;
        }
        // A future: awaited through its own iterator (what `await future`
        // does), which yields it to the task.
        PyAsyncMethods* am = Py_TYPE(got)->tp_as_async;
        PyObject* it = am && am->am_await ? am->am_await(got) : nullptr;
        if (!am || !am->am_await)
            PyErr_Format(PyExc_TypeError, "mod_pympm: the ASGI channel answered a %.100s", Py_TYPE(got)->tp_name);
        if (it && c->give_back)
            c->future = got; // its reference
        else
            Py_DECREF(got);
        if (!it) {
            finish(c);
            return PYGEN_ERROR;
        }
        if (!c->give_back) Py_CLEAR(c->channel);
        Py_CLEAR(c->arg);
        c->waiter = it;
        c->state = CallState::waiting;
    }
    const PySendResult r = PyIter_Send(c->waiter, value, result);
    if (r != PYGEN_NEXT) finish(c);
    return r;
}

// The answer as a generator returns it: StopIteration(value), made by
// hand so that a tuple or an exception is its value, not its arguments
// (_PyGen_SetStopIterationValue, internal since 3.13).
PyObject* stop_with(PyObject* value) {
    PyObject* stop = PyObject_CallOneArg(PyExc_StopIteration, value);
    Py_DECREF(value);
    if (!stop) return nullptr;
    PyErr_SetObject(PyExc_StopIteration, stop);
    Py_DECREF(stop);
    return nullptr;
}

#if PY_VERSION_HEX >= 0x030A0000
// 3.10's am_send: an await steps it without the StopIteration. 3.9 awaits
// it through __next__, send() and throw() below.
PySendResult call_am_send(PyObject* self, PyObject* value, PyObject** result) {
    return python_entry([&]() -> PySendResult {
        const PySendResult r = step(as_call(self), value, result);
        return r;
    });
}
#endif

PyObject* call_next(PyObject* self) {
    return python_entry([&]() -> PyObject* {
        PyObject* result = nullptr;
        switch (step(as_call(self), Py_None, &result)) {
        case PYGEN_NEXT: return result;
        case PYGEN_RETURN:
            if (result == Py_None) {
                Py_DECREF(result);
                return nullptr; // no exception: exhausted, with None
            }
            return stop_with(result);
        default: return nullptr;
        }
    });
}

PyObject* call_send(PyObject* self, PyObject* value) {
    return python_entry([&]() -> PyObject* {
        PyObject* result = nullptr;
        switch (step(as_call(self), value, &result)) {
        case PYGEN_NEXT: return result;
        case PYGEN_RETURN: return stop_with(result);
        default: return nullptr;
        }
    });
}

// throw(exc) / throw(type[, value[, traceback]]), as a coroutine takes it.
PyObject* raise_given(PyObject* typ, PyObject* val, PyObject* tb) {
    if (tb == Py_None) tb = nullptr;
    if (tb && !PyTraceBack_Check(tb)) {
        PyErr_SetString(PyExc_TypeError, "throw() third argument must be a traceback object");
        return nullptr;
    }
    if (PyExceptionClass_Check(typ)) {
        PyErr_Restore(Py_NewRef(typ), Py_XNewRef(val), Py_XNewRef(tb));
        return nullptr;
    }
    if (PyExceptionInstance_Check(typ)) {
        if (val && val != Py_None) {
            PyErr_SetString(PyExc_TypeError, "instance exception may not have a separate value");
            return nullptr;
        }
        PyObject* own_tb = tb ? Py_NewRef(tb) : PyException_GetTraceback(typ);
        PyErr_Restore(Py_NewRef(reinterpret_cast<PyObject*>(Py_TYPE(typ))), Py_NewRef(typ), own_tb);
        return nullptr;
    }
    PyErr_Format(PyExc_TypeError, "exceptions must be classes or instances deriving from BaseException, not %s",
                 Py_TYPE(typ)->tp_name);
    return nullptr;
}

// The future's result, if it has one (a new reference), else null; no
// exception set either way. (result() raises when the future is not done,
// cancelled, or holds an exception.)
PyObject* result_if_any(PyObject* future) {
    PyObject* r = PyObject_CallMethod(future, "result", nullptr);
    if (!r) PyErr_Clear();
    return r;
}

PyObject* call_throw(PyObject* self, PyObject* args) {
    return python_entry([&]() -> PyObject* {
        CallObject* c = as_call(self);
        PyObject *typ = nullptr, *val = nullptr, *tb = nullptr;
        if (!PyArg_UnpackTuple(args, "throw", 1, 3, &typ, &val, &tb)) return nullptr;
        if (c->state == CallState::waiting && c->give_back && c->future && c->channel) {
            // Answered, but the task is cancelled before it woke up to take
            // the answer: the answer goes back to the channel, not lost.
            if (PyRef answer = PyRef::steal(result_if_any(c->future))) c->give_back(c->channel, answer.get());
        }
        if (c->state == CallState::waiting) {
            // Into the future's iterator, which raises it here (a task's
            // cancel() cancels the future itself).
            PyRef waiter = PyRef::borrow(c->waiter);
            PyRef meth = PyRef::steal(PyObject_GetAttrString(waiter.get(), "throw"));
            PyObject* r = meth ? PyObject_Call(meth.get(), args, nullptr) : nullptr;
            if (!r) finish(c); // its StopIteration (the answer) or the exception
            return r;
        }
        // Not started (or done): raised where it stands, as a coroutine
        // raises what is thrown into it before its first step.
        finish(c);
        return raise_given(typ, val, tb);
    });
}

PyObject* call_close(PyObject* self, PyObject*) {
    return python_entry([&]() -> PyObject* {
        finish(as_call(self));
        Py_RETURN_NONE;
    });
}

PyObject* call_await(PyObject* self) { return Py_NewRef(self); }

int call_traverse(PyObject* self, visitproc visit, void* arg) {
    CallObject* c = as_call(self);
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(c->channel);
    Py_VISIT(c->arg);
    Py_VISIT(c->waiter);
    Py_VISIT(c->future);
    return 0;
}

int call_clear(PyObject* self) {
    CallObject* c = as_call(self);
    Py_CLEAR(c->channel);
    Py_CLEAR(c->arg);
    Py_CLEAR(c->waiter);
    Py_CLEAR(c->future);
    return 0;
}

void call_dealloc(PyObject* self) {
    PyTypeObject* tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    call_clear(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

PyMethodDef call_methods[] = {{"send", call_send, METH_O, "send(value): the next step, as a coroutine's"},
                              {"throw", call_throw, METH_VARARGS, "throw(exc): raises exc where the awaitable waits"},
                              {"close", call_close, METH_NOARGS, "close(): the awaitable is done with"},
                              {nullptr, nullptr, 0, nullptr}};

PyType_Slot call_slots[] = {{Py_am_await, reinterpret_cast<void*>(call_await)},
#if PY_VERSION_HEX >= 0x030A0000
                            {Py_am_send, reinterpret_cast<void*>(call_am_send)},
#endif
                            {Py_tp_iter, reinterpret_cast<void*>(PyObject_SelfIter)},
                            {Py_tp_iternext, reinterpret_cast<void*>(call_next)},
                            {Py_tp_methods, call_methods},
                            {Py_tp_traverse, reinterpret_cast<void*>(call_traverse)},
                            {Py_tp_clear, reinterpret_cast<void*>(call_clear)},
                            {Py_tp_dealloc, reinterpret_cast<void*>(call_dealloc)},
                            {Py_tp_doc, const_cast<char*>("an ASGI receive() or send() in progress")},
                            {0, nullptr}};

PyType_Spec call_spec = {"pympm.AsgiCall", sizeof(CallObject), 0,
                         Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION, call_slots};

// receive / send ------------------------------------------------------------------

struct CallerObject {
    PyObject_HEAD PyObject* channel;
    PyObject* call_type;
    AsgiChannelOp op;
    AsgiGiveBack give_back;
    bool takes_message;
};

CallerObject* as_caller(PyObject* o) { return reinterpret_cast<CallerObject*>(o); }

PyObject* caller_call(PyObject* self, PyObject* args, PyObject* kwargs) {
    return python_entry([&]() -> PyObject* {
        CallerObject* c = as_caller(self);
        const Py_ssize_t n = PyTuple_GET_SIZE(args);
        if ((kwargs && PyDict_GET_SIZE(kwargs) != 0) || n != (c->takes_message ? 1 : 0)) {
            PyErr_SetString(PyExc_TypeError, c->takes_message ? "send() takes exactly one argument, the message"
                                                              : "receive() takes no arguments");
            return nullptr;
        }
        return new_asgi_call(c->call_type, c->channel, c->op, c->takes_message ? PyTuple_GET_ITEM(args, 0) : nullptr,
                             c->give_back);
    });
}

int caller_traverse(PyObject* self, visitproc visit, void* arg) {
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(as_caller(self)->channel);
    Py_VISIT(as_caller(self)->call_type);
    return 0;
}

int caller_clear(PyObject* self) {
    Py_CLEAR(as_caller(self)->channel);
    Py_CLEAR(as_caller(self)->call_type);
    return 0;
}

void caller_dealloc(PyObject* self) {
    PyTypeObject* tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    caller_clear(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

PyType_Slot caller_slots[] = {{Py_tp_call, reinterpret_cast<void*>(caller_call)},
                              {Py_tp_traverse, reinterpret_cast<void*>(caller_traverse)},
                              {Py_tp_clear, reinterpret_cast<void*>(caller_clear)},
                              {Py_tp_dealloc, reinterpret_cast<void*>(caller_dealloc)},
                              {Py_tp_doc, const_cast<char*>("an ASGI app's receive() or send()")},
                              {0, nullptr}};

PyType_Spec caller_spec = {"pympm.AsgiCallable", sizeof(CallerObject), 0,
                           Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION, caller_slots};

// `module.name`, if it has it, as the type's attribute `as`: false only on
// an error other than its absence.
bool copy_marker(PyObject* type, const char* module, const char* name, const char* as) {
    PyRef m = PyRef::steal(PyImport_ImportModule(module));
    PyRef mark = m ? PyRef::steal(PyObject_GetAttrString(m.get(), name)) : PyRef();
    if (!mark) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError)) return false;
        PyErr_Clear();
        return true;
    }
    return PyObject_SetAttrString(type, as, mark.get()) == 0;
}

} // namespace

PyRef make_asgi_caller_type() {
    PyRef type = PyRef::steal(disallow_instantiation(PyType_FromSpec(&caller_spec)));
    if (!type || !copy_marker(type.get(), "asyncio.coroutines", "_is_coroutine", "_is_coroutine") ||
        !copy_marker(type.get(), "inspect", "_is_coroutine_mark", "_is_coroutine_marker"))
        return PyRef();
    return type;
}

PyObject* new_asgi_caller(PyObject* caller_type, PyObject* call_type, PyObject* channel, AsgiChannelOp op,
                          bool takes_message, AsgiGiveBack give_back) {
    PYMPM_ASSERT_GIL();
    CallerObject* c = PyObject_GC_New(CallerObject, reinterpret_cast<PyTypeObject*>(caller_type));
    if (!c) return nullptr;
    c->channel = Py_NewRef(channel);
    c->call_type = Py_NewRef(call_type);
    c->op = op;
    c->give_back = give_back;
    c->takes_message = takes_message;
    PyObject_GC_Track(c);
    return reinterpret_cast<PyObject*>(c);
}

PyRef make_asgi_call_type() { return PyRef::steal(disallow_instantiation(PyType_FromSpec(&call_spec))); }

PyObject* new_asgi_call(PyObject* type, PyObject* channel, AsgiChannelOp op, PyObject* arg, AsgiGiveBack give_back) {
    PYMPM_ASSERT_GIL();
    CallObject* c = PyObject_GC_New(CallObject, reinterpret_cast<PyTypeObject*>(type));
    if (!c) return nullptr;
    c->channel = Py_NewRef(channel);
    c->arg = Py_XNewRef(arg);
    c->waiter = nullptr;
    c->future = nullptr;
    c->op = op;
    c->give_back = give_back;
    c->state = CallState::fresh;
    PyObject_GC_Track(c);
    return reinterpret_cast<PyObject*>(c);
}

PyObject* new_app_caller(const AsgiContext& asgi, PyObject* channel, AsgiChannelOp op, bool takes_message,
                         AsgiGiveBack give_back) {
    return python_entry([&]() -> PyObject* {
        return new_asgi_caller(asgi.caller_type.get(), asgi.call_type.get(), channel, op, takes_message, give_back);
    });
}

} // namespace pympm

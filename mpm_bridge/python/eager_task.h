// Eager start of an asyncio task on Python 3.11, in C (3.12 has
// Task(..., eager_start=True)): makes a coroutine an asyncio.Task of a
// loop, as any, and runs the task's first step at once, on this thread
// (the loop's, in a callback), instead of scheduling it. How: while the
// Task is made, the loop's call_soon (looked up on the loop by the Task,
// for its first step only) is one that keeps that step; the step then runs
// in the task's context, as the loop would run it. The task is the same
// asyncio.Task from its first line on (asyncio.current_task()), in a copy
// of the context. asgi/pympm_asgi.py checks it at the loop's start
// (_asgi_eager_self_test) before it uses it; the ASGI loop calls it for
// every request (PyAsgiEagerStart On).
#pragma once

#include "python/python_ref.h"

namespace pympm {

// _pympm.eager_task_starter(loop): a function start(coro) -> task for that
// loop, or None where the loop's call_soon cannot be replaced for a moment
// (no instance __dict__, or call_soon set there already). GIL held.
PyObject* native_eager_task_starter(PyObject* module, PyObject* loop);

} // namespace pympm

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
// (no instance __dict__, or call_soon set there already). start(coro)
// schedules the task with the loop's create_task instead while the loop has
// a task factory or a call_soon of its own (eager_task_ready). GIL held. Its
// tasks are named "pympm-<n>" (asyncio's default "Task-<n>" is formatted
// with PyUnicode_FromFormat, a sixth of what making a Task costs).
PyObject* native_eager_task_starter(PyObject* module, PyObject* loop);

// Whether `fn` is a start function made by eager_task_starter.
bool is_eager_task_starter(PyObject* fn);

// Whether eager_task_start may be used now (1), or the task must be
// scheduled with eager_task_schedule (0): the app gave the loop a task
// factory or a call_soon of its own (both honoured, as with
// PyAsgiEagerStart Off). Asked for every task: lifespan startup may set
// either. -1 with a Python exception. `starter` must be one
// (is_eager_task_starter), here and below.
int eager_task_ready(PyObject* starter);

// What start(coro) does when the starter is ready, from C++, with
// `before_step(arg, task)` run once the task is made, in the task's
// context, before its first step (a request makes the task known and sets
// its context variables there); a non-zero return (with a Python
// exception) drops the step. If the task scheduled its first step instead
// of handing it over, before_step still runs, in its context. New
// reference or null.
using EagerBeforeStep = int (*)(void* arg, PyObject* task);
PyObject* eager_task_start(PyObject* starter, PyObject* coro, EagerBeforeStep before_step, void* arg);

// The loop's create_task(coro): scheduled, as PyAsgiEagerStart Off does.
PyObject* eager_task_schedule(PyObject* starter, PyObject* coro);

} // namespace pympm

// What an ASGI app's receive() and send() return (asgi/asgi_awaitable.h):
// the channel's operation runs when the awaitable is first stepped, a ready
// answer completes in that step, a future is awaited, and asyncio takes it
// as a coroutine. And the eager start of a task on 3.11
// (python/eager_task.h), which the ASGI loop uses for every request.
#include "asgi/asgi_awaitable.h"

#include "embedded_python.h"

#include <boost/test/unit_test.hpp>

#include <string>
#include <string_view>

using namespace pympm;
using namespace pympm_test;

namespace {

// The channel is a Python Fake (below); its op(arg) is the operation.
PyObject* fake_op(PyObject* channel, PyObject* arg) {
    return PyObject_CallMethod(channel, "op", "O", arg ? arg : Py_None);
}

// make(fake[, message]): a new awaitable over the fake. The type is made
// once, like the child's (AsgiContext), and never let go of.
PyObject* make(PyObject*, PyObject* args) {
    static PyObject* type = make_asgi_call_type().release();
    PyObject *channel = nullptr, *arg = nullptr;
    if (!type || !PyArg_ParseTuple(args, "O|O", &channel, &arg)) return nullptr;
    return new_asgi_call(type, channel, fake_op, arg);
}

// An answer the task did not take: to the fake's given(answer).
void fake_give_back(PyObject* channel, PyObject* answer) {
    PyRef r = PyRef::steal(PyObject_CallMethod(channel, "given", "O", answer));
    if (!r) PyErr_Clear();
}

// make_giving(fake): make(fake), whose untaken answer goes back to the fake.
PyObject* make_giving(PyObject*, PyObject* channel) {
    static PyObject* type = make_asgi_call_type().release();
    if (!type) return nullptr;
    return new_asgi_call(type, channel, fake_op, nullptr, fake_give_back);
}

// callers(fake): (receive, send) over the fake, as an app gets them.
PyObject* callers(PyObject*, PyObject* fake) {
    static PyObject* call_type = make_asgi_call_type().release();
    static PyObject* caller_type = make_asgi_caller_type().release();
    if (!call_type || !caller_type) return nullptr;
    PyRef receive = PyRef::steal(new_asgi_caller(caller_type, call_type, fake, fake_op, false));
    PyRef send = receive ? PyRef::steal(new_asgi_caller(caller_type, call_type, fake, fake_op, true)) : PyRef();
    return send ? PyTuple_Pack(2, receive.get(), send.get()) : nullptr;
}

PyMethodDef make_def = {"make", make, METH_VARARGS, "make(fake[, message])"};
PyMethodDef make_giving_def = {"make_giving", make_giving, METH_O, "make_giving(fake)"};
PyMethodDef callers_def = {"callers", callers, METH_O, "callers(fake) -> (receive, send)"};

constexpr std::string_view kPrelude = R"(
import asyncio

class Fake:
    def __init__(self, answer):
        self.answer = answer  # a value, or an exception to raise
        self.calls = []
        self.gave = []

    def given(self, answer):
        self.gave.append(answer)

    def op(self, arg):
        self.calls.append(arg)
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer

loop = asyncio.new_event_loop()
)";

// Runs `source` (after the prelude, with make() in its namespace); "" or
// the exception it raised (a failed assert says which).
std::string run(std::string_view source) {
    return with_python([&]() -> std::string {
        PyRef globals = PyRef::steal(PyDict_New());
        PyRef fn = PyRef::steal(PyCFunction_New(&make_def, nullptr));
        PyRef pair = PyRef::steal(PyCFunction_New(&callers_def, nullptr));
        PyRef giving = PyRef::steal(PyCFunction_New(&make_giving_def, nullptr));
        if (!globals || !fn || !pair || !giving ||
            PyDict_SetItemString(globals.get(), "__builtins__", PyEval_GetBuiltins()) != 0 ||
            PyDict_SetItemString(globals.get(), "make", fn.get()) != 0 ||
            PyDict_SetItemString(globals.get(), "callers", pair.get()) != 0 ||
            PyDict_SetItemString(globals.get(), "make_giving", giving.get()) != 0)
            return take_exception();
        const std::string code = std::string(kPrelude) + std::string(source) + "\nloop.close()\n";
        PyRef r = PyRef::steal(PyRun_String(code.c_str(), Py_file_input, globals.get(), globals.get()));
        std::string error = r ? "" : take_exception();
        // The namespace refers to itself through its functions.
        PyDict_Clear(globals.get());
        return error;
    });
}

} // namespace

BOOST_AUTO_TEST_SUITE(asgi_awaitable)

BOOST_AUTO_TEST_CASE(the_operation_runs_when_awaited_not_when_called) {
    BOOST_TEST(run(R"(
fake = Fake({"type": "http.request"})
aw = make(fake)
assert fake.calls == [], fake.calls
async def main():
    return await aw
got = loop.run_until_complete(main())
assert got == {"type": "http.request"}, got
assert fake.calls == [None], fake.calls
sent = Fake(None)
message = {"type": "http.response.body"}
assert loop.run_until_complete(make(sent, message)) is None
assert sent.calls == [message] and sent.calls[0] is message
)") == "");
}

BOOST_AUTO_TEST_CASE(receive_and_send_are_coroutine_functions_to_asyncio) {
    BOOST_TEST(run(R"(
import sys
try:
    import asgiref.sync
except ImportError:
    # Debian's python3-asgiref is for its 3.11; other Pythons may lack it.
    if sys.version_info[:2] == (3, 11):
        raise
    asgiref = None
fake = Fake({"type": "http.request"})
receive, send = callers(fake)
assert asyncio.iscoroutinefunction(receive) and asyncio.iscoroutinefunction(send)
assert asgiref is None or asgiref.sync.iscoroutinefunction(send)
got = loop.run_until_complete(receive())
assert got == {"type": "http.request"}, got
message = {"type": "http.response.body"}
loop.run_until_complete(send(message))
assert fake.calls == [None, message], fake.calls
for call in (lambda: receive(1), lambda: send(), lambda: send(message, 2), lambda: send(message=message)):
    try:
        call()
    except TypeError:
        pass
    else:
        raise AssertionError("wrong arguments taken")
assert fake.calls == [None, message], fake.calls
# Made by the module only (Py_TPFLAGS_DISALLOW_INSTANTIATION; tp_new cleared on 3.9).
pending = receive()
for made in (type(receive), type(pending)):
    try:
        made()
    except TypeError:
        pass
    else:
        raise AssertionError("%s instantiated" % made)
pending.close()
assert fake.calls == [None, message], fake.calls
)") == "");
}

BOOST_AUTO_TEST_CASE(a_ready_answer_completes_in_the_first_step_and_cannot_be_awaited_again) {
    BOOST_TEST(run(R"(
aw = make(Fake({"a": 1}))
try:
    aw.send(None)
except StopIteration as e:
    assert e.value == {"a": 1}, e.value
else:
    raise AssertionError("no StopIteration")
try:
    aw.send(None)
except RuntimeError as e:
    assert "cannot reuse already awaited coroutine" in str(e), e
else:
    raise AssertionError("awaited twice")
none = make(Fake(None))
try:
    next(none)
except StopIteration as e:
    assert e.value is None
try:
    make(Fake(None)).send(1)
except TypeError as e:
    assert "non-None" in str(e), e
else:
    raise AssertionError("a value sent into a fresh awaitable")
)") == "");
}

BOOST_AUTO_TEST_CASE(a_future_answer_is_awaited_and_its_result_returned) {
    BOOST_TEST(run(R"(
fut = loop.create_future()
fake = Fake(fut)
async def main():
    loop.call_soon(fut.set_result, {"type": "later"})
    return await make(fake)
assert loop.run_until_complete(main()) == {"type": "later"}
assert len(fake.calls) == 1
failed = loop.create_future()
async def fails():
    loop.call_soon(failed.set_exception, OSError("gone"))
    try:
        await make(Fake(failed))
    except OSError as e:
        return str(e)
assert loop.run_until_complete(fails()) == "gone"
)") == "");
}

BOOST_AUTO_TEST_CASE(asyncio_takes_it_as_a_coroutine) {
    BOOST_TEST(run(R"(
import inspect
aw = make(Fake({"x": 1}))
assert asyncio.iscoroutine(aw)
assert inspect.isawaitable(aw)
task = loop.create_task(aw)
assert loop.run_until_complete(task) == {"x": 1}
fut = loop.create_future()
pending = loop.create_task(make(Fake(fut)))
loop.call_soon(fut.set_result, {"y": 2})
assert loop.run_until_complete(pending) == {"y": 2}
later = loop.create_future()
loop.call_later(0.01, later.set_result, {"z": 3})
assert loop.run_until_complete(asyncio.wait_for(make(Fake(later)), 5)) == {"z": 3}
async def through_yield_from():
    return await asyncio.ensure_future(make(Fake({"w": 4})))
assert loop.run_until_complete(through_yield_from()) == {"w": 4}
)") == "");
}

BOOST_AUTO_TEST_CASE(cancelling_the_waiting_task_cancels_its_future) {
    BOOST_TEST(run(R"(
fut = loop.create_future()
async def main():
    return await make(Fake(fut))
task = loop.create_task(main())
loop.run_until_complete(asyncio.sleep(0))
assert not task.done()
task.cancel()
try:
    loop.run_until_complete(task)
except asyncio.CancelledError:
    pass
else:
    raise AssertionError("not cancelled")
assert fut.cancelled()
)") == "");
}

// A task cancelled after its future was answered but before it woke up to
// take the answer (the receive() of an asyncio.wait_for that times out just
// then): the answer goes back to the channel; cancelled before the answer,
// nothing does.
BOOST_AUTO_TEST_CASE(an_answer_the_cancelled_task_never_took_is_given_back) {
    BOOST_TEST(run(R"(
def cancelled(fake, answer_first):
    task = loop.create_task(make_giving(fake))
    loop.run_until_complete(asyncio.sleep(0))
    assert not task.done()
    if answer_first:
        fake.answer.set_result({"type": "answer"})
    task.cancel()
    try:
        loop.run_until_complete(task)
    except asyncio.CancelledError:
        pass
    else:
        raise AssertionError("not cancelled")

late = Fake(loop.create_future())
cancelled(late, True)
assert late.gave == [{"type": "answer"}], late.gave
early = Fake(loop.create_future())
cancelled(early, False)
assert early.gave == [], early.gave
assert early.answer.cancelled()
)") == "");
}

BOOST_AUTO_TEST_CASE(an_error_of_the_operation_is_raised_where_it_is_awaited) {
    BOOST_TEST(run(R"(
fake = Fake(ValueError("bad message"))
aw = make(fake, {"type": "nope"})
assert fake.calls == []
async def main():
    try:
        await aw
    except ValueError as e:
        return str(e)
assert loop.run_until_complete(main()) == "bad message"
)") == "");
}

BOOST_AUTO_TEST_CASE(throw_and_close_before_the_first_step_never_run_the_operation) {
    BOOST_TEST(run(R"(
fake = Fake(None)
aw = make(fake)
try:
    aw.throw(KeyError("k"))
except KeyError:
    pass
else:
    raise AssertionError("not raised")
try:
    aw.throw(KeyError)
except KeyError:
    pass
closed = make(fake)
closed.close()
try:
    closed.send(None)
except RuntimeError:
    pass
else:
    raise AssertionError("stepped after close")
assert fake.calls == [], fake.calls
)") == "");
}

// The C starter is for 3.11 and before (3.12's Task steps without a
// TaskStepMethWrapper; pympm_asgi.py uses asyncio's own eager start there).
BOOST_AUTO_TEST_CASE(eager_start_runs_the_first_step_now_as_the_task) {
#if PY_VERSION_HEX >= 0x030C0000
    BOOST_TEST_MESSAGE("skipped: Python 3.12 and later start tasks eagerly themselves");
#else
    BOOST_TEST(run(R"(
import _pympm
import contextvars
start = _pympm.eager_task_starter(loop)
assert start is not None
var = contextvars.ContextVar("v", default="outside")
seen, out = {}, {}
gate = loop.create_future()
async def probe():
    seen["first"] = asyncio.current_task()
    var.set("inside")
    await gate
    seen["later"] = asyncio.current_task()
    return 7
async def quick():
    return asyncio.current_task()
def kick():
    task = start(probe())
    out["first"] = seen.get("first") is task and not task.done() and var.get() == "outside"
    out["restored"] = "call_soon" not in vars(loop)
    done = start(quick())
    out["quick"] = done.done() and done.result() is done
    out["task"] = task
    gate.set_result(None)
loop.call_soon(kick)
async def wait():
    while "task" not in out:
        await asyncio.sleep(0)
    return await out["task"]
assert loop.run_until_complete(wait()) == 7
assert out == dict(out, first=True, restored=True, quick=True), out
assert seen["later"] is out["task"]
assert isinstance(out["task"], asyncio.Task)
assert out["task"].get_name().startswith("pympm-"), out["task"].get_name()
loop.call_soon = loop.call_soon
assert _pympm.eager_task_starter(loop) is None
)") == "");
#endif
}

// A task factory, or a call_soon of the app's on the loop, set after the
// starter was made: the task is scheduled by loop.create_task (made by the
// factory), and the app's call_soon stays; without them, eager again.
BOOST_AUTO_TEST_CASE(eager_start_schedules_with_a_task_factory_or_the_apps_call_soon) {
#if PY_VERSION_HEX >= 0x030C0000
    BOOST_TEST_MESSAGE("skipped: Python 3.12 and later start tasks eagerly themselves");
#else
    BOOST_TEST(run(R"(
import _pympm
import functools
start = _pympm.eager_task_starter(loop)
assert start is not None
class MyTask(asyncio.Task):
    pass
seen = {}
async def probe(tag):
    seen[tag] = asyncio.current_task()
def kick():
    loop.set_task_factory(lambda lp, c, **k: MyTask(c, loop=lp, **k))
    seen["factory_task"] = start(probe("factory"))
    seen["factory_now"] = "factory" in seen
    loop.set_task_factory(None)
    own = functools.partial(loop.call_soon)
    loop.call_soon = own
    seen["own_task"] = start(probe("own"))
    seen["own_now"] = "own" in seen
    seen["own_kept"] = vars(loop).get("call_soon") is own
    del loop.call_soon
    seen["eager_task"] = start(probe("eager"))
    seen["eager_now"] = "eager" in seen
loop.call_soon(kick)
async def wait():
    while "eager_task" not in seen:
        await asyncio.sleep(0)
    await asyncio.gather(seen["factory_task"], seen["own_task"], seen["eager_task"])
loop.run_until_complete(wait())
assert type(seen["factory"]) is MyTask and seen["factory"] is seen["factory_task"], seen
assert seen["own"] is seen["own_task"] and seen["eager"] is seen["eager_task"], seen
assert not seen["factory_now"] and not seen["own_now"] and seen["eager_now"], seen
assert seen["own_kept"], seen
assert "call_soon" not in vars(loop)
)") == "");
#endif
}

BOOST_AUTO_TEST_SUITE_END()

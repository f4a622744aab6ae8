// Every C++ function that CPython calls (methods of the request objects, the
// _pympm module's functions) runs its body through python_entry: a C++
// exception (std::bad_alloc from a std::string, say) must never unwind
// through the interpreter's C frames, which would skip their cleanup and
// leave the thread's Python state inconsistent. It becomes a Python
// exception instead. Python is running, so the GIL is held and no leaf
// mutex may be (checked with PYMPM_LOCK_CHECKS).
#pragma once

#include "python/python_ref.h"

#include <exception>
#include <new>
#include <type_traits>

namespace pympm {

template <class F>
auto python_entry(F&& body) noexcept -> decltype(body()) {
    using Result = decltype(body());
    // The value that tells CPython "an exception is set".
    auto failed = []() -> Result {
        if constexpr (std::is_pointer_v<Result>)
            return nullptr;
        else
            return static_cast<Result>(-1);
    };
    PYMPM_ASSERT_GIL();
    try {
        return body();
    } catch (const std::bad_alloc&) {
        PyErr_NoMemory();
    } catch (const std::exception& e) {
        PyErr_Format(PyExc_RuntimeError, "mod_pympm internal error: %s", e.what());
    } catch (...) {
        PyErr_SetString(PyExc_RuntimeError, "mod_pympm internal error");
    }
    return failed();
}

} // namespace pympm

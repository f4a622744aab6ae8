#include "python/gil.h"

#include "python/thread_binding.h"

namespace pympm {

#if PYMPM_LOCK_CHECKS
void gil_required(const char* where) noexcept {
    if (!PyGILState_Check()) lock_order::violation("code that needs the GIL runs without it", where);
    lock_order::python_wanted(where);
}
#endif

GilReleaseIfHeld::GilReleaseIfHeld() {
    if (thread_binding::holds_gil()) state_ = PyEval_SaveThread();
}

void lock_without_gil(std::mutex& m) {
    lock_order::outer_lock_wanted("lock_without_gil");
    if (m.try_lock()) return;
    GilReleaseIfHeld released;
    m.lock();
}

} // namespace pympm

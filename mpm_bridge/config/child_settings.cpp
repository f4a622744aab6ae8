#include "config/child_settings.h"

namespace pympm {

const char* asyncio_loop_name(AsyncioLoop loop) {
    switch (loop) {
    case AsyncioLoop::asyncio: return "asyncio";
    case AsyncioLoop::uvloop: return "uvloop";
    case AsyncioLoop::automatic: break;
    }
    return "auto";
}

} // namespace pympm

#include "python/gil_runner.h"

#include "python/python_ref.h"

#include <pthread.h>
#include <signal.h>

namespace pympm {

GilRunner::~GilRunner() { stop(); }

bool GilRunner::run(std::function<void()> job, std::chrono::milliseconds wait) {
    auto j = std::make_shared<Job>();
    j->fn = std::move(job);
    std::unique_lock lock(mutex_);
    if (stopping_) return false;
    if (!thread_.joinable()) {
        // httpd's signals belong to httpd's threads.
        sigset_t all, previous;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &previous);
        thread_ = std::thread([this] { loop(); });
        pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    }
    queue_.push_back(j);
    cv_.notify_all();
    return cv_.wait_for(lock, wait, [&] { return j->done; });
}

void GilRunner::loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
        cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return; // stopping
        auto j = queue_.front();
        queue_.pop_front();
        lock.unlock();
        {
            GilAcquire gil;
            try {
                j->fn();
            } catch (...) {}
            PyErr_Clear();
        }
        lock.lock();
        j->done = true;
        cv_.notify_all();
    }
}

void GilRunner::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        cv_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
}

} // namespace pympm

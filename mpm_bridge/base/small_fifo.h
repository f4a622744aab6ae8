// A first-in first-out list for the few items a request queues (futures
// waiting for a body chunk or a send's acknowledgement): a vector read from
// an index. Unlike std::deque, which allocates a map and a node as soon as
// it is constructed, it allocates nothing until the first push: most
// requests never queue anything, and they each had three such lists.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace pympm {

template <class T>
class SmallFifo {
public:
    bool empty() const { return head_ == items_.size(); }
    std::size_t size() const { return items_.size() - head_; }
    T& front() { return items_[head_]; }

    void push_back(T item) { items_.push_back(std::move(item)); }
    // Ahead of everything queued.
    void push_front(T item) {
        if (head_ > 0)
            items_[--head_] = std::move(item);
        else
            items_.insert(items_.begin(), std::move(item));
    }
    // `pos` items after the front (at most size()).
    void insert(std::size_t pos, T item) {
        items_.insert(items_.begin() + static_cast<std::ptrdiff_t>(head_ + pos), std::move(item));
    }
    // The front item, taken off the list.
    T take_front() {
        T item = std::move(items_[head_++]);
        if (head_ == items_.size()) clear(); // empty again: reuse the storage from its start
        return item;
    }
    // Removes every queued item for which `pred` is true, keeping the order.
    template <class Pred>
    void erase_if(Pred pred) {
        std::size_t out = head_;
        for (std::size_t i = head_; i < items_.size(); ++i)
            if (!pred(items_[i])) {
                if (out != i) items_[out] = std::move(items_[i]);
                ++out;
            }
        items_.erase(items_.begin() + static_cast<std::ptrdiff_t>(out), items_.end());
        if (head_ == items_.size()) clear();
    }
    void clear() {
        items_.clear();
        head_ = 0;
    }

private:
    std::vector<T> items_; // [0, head_): taken (moved from), [head_, size): queued
    std::size_t head_ = 0;
};

} // namespace pympm

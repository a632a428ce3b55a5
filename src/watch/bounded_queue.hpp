// A bounded multi-producer queue between pipeline stages: a full queue blocks its producer (files:
// back-pressure) or, with push_dropping_oldest, makes room by dropping the oldest item (live
// sources: never lag). close() ends it: pushes fail, pops drain what is left and then return
// nullopt.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>

namespace clipface::detail {

template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(std::size_t capacity) : capacity_(capacity < 1 ? 1 : capacity) {}

  // Blocks while full; false when the queue was closed.
  bool push(T item) {
    std::unique_lock lock(mutex_);
    not_full_.wait(lock, [&] { return closed_ || items_.size() < capacity_; });
    if (closed_) return false;
    items_.push_back(std::move(item));
    not_empty_.notify_one();
    return true;
  }

  // Never blocks: drops the oldest items to make room. Returns how many were dropped (0 when
  // closed: nothing is queued then either).
  std::size_t push_dropping_oldest(T item) {
    std::lock_guard lock(mutex_);
    if (closed_) return 0;
    std::size_t dropped = 0;
    while (items_.size() >= capacity_) {
      items_.pop_front();
      ++dropped;
    }
    items_.push_back(std::move(item));
    not_empty_.notify_one();
    return dropped;
  }

  // Blocks until an item or the end (closed and empty).
  std::optional<T> pop() {
    std::unique_lock lock(mutex_);
    not_empty_.wait(lock, [&] { return closed_ || !items_.empty(); });
    if (items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    not_full_.notify_one();
    return item;
  }

  void close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    not_empty_.notify_all();
    not_full_.notify_all();
  }

  // Closes and forgets what is queued (an aborted run).
  void abort() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    items_.clear();
    not_empty_.notify_all();
    not_full_.notify_all();
  }

 private:
  std::size_t capacity_;
  std::mutex mutex_;
  std::condition_variable not_empty_, not_full_;
  std::deque<T> items_;
  bool closed_ = false;
};

}  // namespace clipface::detail

// A bounded first-in first-out queue between two pipeline stages (online/pipeline.h), with the policy for a
// full queue stated at each push: wait for room (back-pressure) or drop the oldest item (live sources, where
// a stale frame is worth less than a new one). Every dropped item is handed back to the caller, so that it
// can be counted and reported; nothing is dropped silently.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <vector>

namespace ssmtl::online {

enum class DropPolicy {
  kNone,     // a full queue blocks the producer (no frame is ever skipped; latency grows under load)
  kOldest,   // a full queue drops its oldest item to make room (latency stays bounded; skips are counted)
};

// "none" or "oldest"; throws std::invalid_argument naming both otherwise.
DropPolicy parse_drop_policy(const std::string& s);
const char* drop_policy_name(DropPolicy p);

template <class T>
class BoundedQueue {
 public:
  // capacity >= 1 (std::invalid_argument otherwise).
  explicit BoundedQueue(size_t capacity) : cap_(capacity) {
    if (capacity < 1) throw std::invalid_argument("BoundedQueue: capacity must be >= 1");
  }
  // Adds an item; returns the items dropped to make room (kOldest only; empty otherwise). Returns false in
  // `accepted` (and drops `item`) when the queue is closed.
  std::vector<T> push(T item, DropPolicy policy, bool* accepted = nullptr) {
    std::vector<T> dropped;
    std::unique_lock<std::mutex> lk(mu_);
    if (policy == DropPolicy::kNone) not_full_.wait(lk, [&] { return q_.size() < cap_ || closed_; });
    if (closed_) {
      if (accepted) *accepted = false;
      return dropped;
    }
    while (q_.size() >= cap_) {
      dropped.push_back(std::move(q_.front()));
      q_.pop_front();
    }
    q_.push_back(std::move(item));
    if (accepted) *accepted = true;
    lk.unlock();
    not_empty_.notify_one();
    return dropped;
  }
  // Waits for an item; nullopt when the queue is closed and empty.
  std::optional<T> pop() {
    std::unique_lock<std::mutex> lk(mu_);
    not_empty_.wait(lk, [&] { return !q_.empty() || closed_; });
    return take(lk);
  }
  // The same, giving up after `timeout` (nullopt; check closed_and_empty() to tell the two apart).
  std::optional<T> pop_for(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lk(mu_);
    not_empty_.wait_for(lk, timeout, [&] { return !q_.empty() || closed_; });
    return take(lk);
  }
  // An item if one is waiting, without blocking.
  std::optional<T> try_pop() {
    std::unique_lock<std::mutex> lk(mu_);
    return take(lk);
  }
  // No more pushes; pops drain what is left, then return nullopt.
  void close() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      closed_ = true;
    }
    not_empty_.notify_all();
    not_full_.notify_all();
  }
  bool closed_and_empty() const {
    std::lock_guard<std::mutex> lk(mu_);
    return closed_ && q_.empty();
  }
  size_t size() const {
    std::lock_guard<std::mutex> lk(mu_);
    return q_.size();
  }
  size_t capacity() const { return cap_; }

 private:
  std::optional<T> take(std::unique_lock<std::mutex>& lk) {
    if (q_.empty()) return std::nullopt;
    T v = std::move(q_.front());
    q_.pop_front();
    lk.unlock();
    not_full_.notify_one();
    return v;
  }
  size_t cap_;
  mutable std::mutex mu_;
  std::condition_variable not_empty_, not_full_;
  std::deque<T> q_;
  bool closed_ = false;
};

}  // namespace ssmtl::online

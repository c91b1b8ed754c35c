// A least-recently-used map from a string key to an owned value, for caching oneDNN primitives by
// convolution shape. The classic list + hash map pairing (as in LevelDB's cache): O(1) lookup,
// O(1) move-to-front, eviction from the back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>

namespace gnet {

template <typename Value>
class LruCache {
 public:
  explicit LruCache(size_t capacity) : capacity_(capacity) {}

  /** The value for `key`, now the most recently used, or nullptr (counted as a miss). */
  Value* get(const std::string& key) {
    auto it = index_.find(key);
    if (it == index_.end()) {
      misses_++;
      return nullptr;
    }
    hits_++;
    order_.splice(order_.begin(), order_, it->second);
    return it->second->second.get();
  }

  /** Stores `value` under `key` (which must be absent), evicting the least recently used. */
  Value* put(const std::string& key, std::unique_ptr<Value> value) {
    order_.emplace_front(key, std::move(value));
    index_[key] = order_.begin();
    trim();
    return order_.empty() ? nullptr : order_.front().second.get();
  }

  void set_capacity(size_t capacity) {
    capacity_ = capacity;
    trim();
  }

  void clear() {
    index_.clear();
    order_.clear();
  }

  size_t size() const { return order_.size(); }
  size_t capacity() const { return capacity_; }
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }

 private:
  void trim() {
    // Capacity 0 keeps the entry just put (the caller is about to use it) and nothing else.
    size_t keep = capacity_ == 0 ? 1 : capacity_;
    while (order_.size() > keep) {
      index_.erase(order_.back().first);
      order_.pop_back();
    }
  }

  using Entry = std::pair<std::string, std::unique_ptr<Value>>;
  size_t capacity_;
  std::list<Entry> order_;
  std::unordered_map<std::string, typename std::list<Entry>::iterator> index_;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
};

}  // namespace gnet

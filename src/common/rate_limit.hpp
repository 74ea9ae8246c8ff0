#pragma once
// Sliding-window counters kept in memory, per replica: failed sign-ins per
// client address, bytes uploaded per computer. A window is cut into
// kBuckets buckets, so a key costs a fixed few hundred bytes, and at most
// max_keys keys are held (idle ones are dropped first). Thread-safe.
#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/time.hpp"

namespace deskaudit {

class RateLimiter {
 public:
  // At most `limit` units per `window_ms` per key. limit >= 1, window_ms >= kBuckets.
  RateLimiter(std::int64_t limit, std::int64_t window_ms, std::size_t max_keys = 65536);

  // 0 when `amount` more units fit under the limit now; else the
  // milliseconds until they will (at least 1). An amount above the limit
  // never fits: the whole window is returned.
  std::int64_t retry_after_ms(std::string_view key, EpochMs now, std::int64_t amount = 1);
  // Counts `amount` units for key at now.
  void add(std::string_view key, EpochMs now, std::int64_t amount = 1);
  // The units counted for key in the window ending at now.
  std::int64_t used(std::string_view key, EpochMs now);

  std::int64_t limit() const { return limit_; }
  std::int64_t window_ms() const { return window_ms_; }
  std::size_t key_count();

  static constexpr int kBuckets = 16;

 private:
  struct Entry {
    std::array<std::int64_t, kBuckets> amounts{};
    std::int64_t head = 0;  // number of the newest bucket (time / bucket_ms)
  };
  void advance(Entry& e, std::int64_t bucket) const;
  std::int64_t sum(const Entry& e) const;
  Entry* find(std::string_view key, EpochMs now);
  Entry& find_or_add(std::string_view key, EpochMs now);

  std::int64_t limit_;
  std::int64_t window_ms_;
  std::int64_t bucket_ms_;
  std::size_t max_keys_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace deskaudit

#include "common/rate_limit.hpp"

#include <algorithm>


namespace deskaudit {

RateLimiter::RateLimiter(std::int64_t limit, std::int64_t window_ms, std::size_t max_keys)
    : limit_(std::max<std::int64_t>(1, limit)),
      window_ms_(std::max<std::int64_t>(kBuckets, window_ms)),
      bucket_ms_(window_ms_ / kBuckets),
      max_keys_(std::max<std::size_t>(1, max_keys)) {}

void RateLimiter::advance(Entry& e, std::int64_t bucket) const {
  if (bucket <= e.head) return;
  if (bucket - e.head >= kBuckets) {
    e.amounts.fill(0);
  } else {
    for (auto b = e.head + 1; b <= bucket; ++b) e.amounts[static_cast<std::size_t>(b % kBuckets)] = 0;
  }
  e.head = bucket;
}

std::int64_t RateLimiter::sum(const Entry& e) const {
  std::int64_t total = 0;
  for (auto a : e.amounts) total += a;
  return total;
}

RateLimiter::Entry* RateLimiter::find(std::string_view key, EpochMs now) {
  auto it = entries_.find(std::string(key));
  if (it == entries_.end()) return nullptr;
  advance(it->second, now / bucket_ms_);
  return &it->second;
}

RateLimiter::Entry& RateLimiter::find_or_add(std::string_view key, EpochMs now) {
  if (auto* e = find(key, now)) return *e;
  const auto bucket = now / bucket_ms_;
  if (entries_.size() >= max_keys_) {
    // Keys whose whole window has passed count nothing: drop them. When every
    // key is active, drop the one idle longest.
    std::erase_if(entries_, [&](const auto& kv) { return bucket - kv.second.head >= kBuckets; });
    if (entries_.size() >= max_keys_) {
      auto oldest = std::min_element(entries_.begin(), entries_.end(),
                                     [](const auto& a, const auto& b) { return a.second.head < b.second.head; });
      entries_.erase(oldest);
    }
  }
  Entry& e = entries_[std::string(key)];
  e.head = bucket;
  return e;
}

std::int64_t RateLimiter::retry_after_ms(std::string_view key, EpochMs now, std::int64_t amount) {
  if (amount > limit_) return window_ms_;
  std::lock_guard lock(mu_);
  Entry* e = find(key, now);
  if (!e) return 0;
  auto over = sum(*e) + amount - limit_;
  if (over <= 0) return 0;
  // Buckets leave the window oldest first; wait until enough have left.
  for (auto b = e->head - kBuckets + 1; b <= e->head; ++b) {
    over -= e->amounts[static_cast<std::size_t>(((b % kBuckets) + kBuckets) % kBuckets)];
    if (over <= 0) return std::max<std::int64_t>(1, (b + kBuckets) * bucket_ms_ - now);
  }
  return window_ms_;
}

void RateLimiter::add(std::string_view key, EpochMs now, std::int64_t amount) {
  std::lock_guard lock(mu_);
  Entry& e = find_or_add(key, now);
  e.amounts[static_cast<std::size_t>(e.head % kBuckets)] += amount;
}

std::int64_t RateLimiter::used(std::string_view key, EpochMs now) {
  std::lock_guard lock(mu_);
  Entry* e = find(key, now);
  return e ? sum(*e) : 0;
}

std::size_t RateLimiter::key_count() {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace deskaudit

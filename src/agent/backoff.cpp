#include "agent/backoff.hpp"

#include <algorithm>

namespace deskaudit::agent {

Backoff::Backoff(BackoffOptions options, std::uint64_t seed) : options_(options), rng_(seed) {
  if (options_.initial.count() < 1) options_.initial = std::chrono::milliseconds{1};
  if (options_.max < options_.initial) options_.max = options_.initial;
  if (options_.multiplier < 1.0) options_.multiplier = 1.0;
}

std::chrono::milliseconds Backoff::ceiling(int attempt) const {
  // Doubles are exact enough here and cannot overflow: stop multiplying once
  // past the cap.
  double c = static_cast<double>(options_.initial.count());
  const double cap = static_cast<double>(options_.max.count());
  for (int i = 0; i < attempt && c < cap; ++i) c *= options_.multiplier;
  return std::chrono::milliseconds{static_cast<std::int64_t>(std::min(c, cap))};
}

std::chrono::milliseconds Backoff::next() {
  const auto c = ceiling(attempt_).count();
  if (attempt_ < 1000) ++attempt_;
  std::uniform_int_distribution<std::int64_t> dist(c / 2, c);
  return std::chrono::milliseconds{dist(rng_)};
}

}  // namespace deskaudit::agent

#include "common/rate_limit.hpp"

#include <gtest/gtest.h>

#include <cstdint>

namespace deskaudit {
namespace {

constexpr EpochMs kT0 = 1'790'000'000'000;

TEST(RetryLater, CarriesWhenToRetryRoundedUpToWholeSeconds) {
  EXPECT_EQ(retry_after_seconds(0), 1);
  EXPECT_EQ(retry_after_seconds(1), 1);
  EXPECT_EQ(retry_after_seconds(1'000), 1);
  EXPECT_EQ(retry_after_seconds(1'001), 2);
  EXPECT_EQ(retry_after_seconds(INT64_MAX), INT64_MAX / 1000 + 1);  // no overflow
  const auto e = retry_later(60'000, "the cap is reached").error();
  EXPECT_EQ(e.code, Errc::too_many_requests);
  EXPECT_EQ(e.retry_after_ms, 60'000);
  EXPECT_EQ(e.message, "the cap is reached; try again in 60 s");
}

TEST(RateLimiter, CountsPerKeyWithinTheWindowAndSaysWhenToRetry) {
  RateLimiter limiter(3, 16'000);  // 3 per 16 s: 1 s buckets
  EXPECT_EQ(limiter.retry_after_ms("a", kT0), 0);
  limiter.add("a", kT0);
  limiter.add("a", kT0 + 5'000, 2);
  EXPECT_EQ(limiter.used("a", kT0 + 5'000), 3);
  EXPECT_EQ(limiter.retry_after_ms("b", kT0 + 5'000), 0);  // other keys are apart
  // Full: the first unit leaves when its bucket leaves the window.
  EXPECT_EQ(limiter.retry_after_ms("a", kT0 + 5'000), kT0 / 1000 * 1000 + 16'000 - (kT0 + 5'000));
  EXPECT_EQ(limiter.retry_after_ms("a", kT0 + 16'000), 0);
  EXPECT_EQ(limiter.used("a", kT0 + 16'000), 2);
  EXPECT_GT(limiter.retry_after_ms("a", kT0 + 16'000, 2), 0);  // two more need the later bucket gone
  EXPECT_EQ(limiter.used("a", kT0 + 60'000), 0);
  EXPECT_EQ(limiter.retry_after_ms("a", kT0, 4), 16'000);  // never fits
}

TEST(RateLimiter, HoldsAtMostMaxKeys) {
  RateLimiter limiter(1, 16'000, 4);
  for (int i = 0; i < 100; ++i) limiter.add("k" + std::to_string(i), kT0 + i);
  EXPECT_LE(limiter.key_count(), 4u);
  EXPECT_EQ(limiter.used("k99", kT0 + 99), 1);  // the newest key is kept
}

}  // namespace
}  // namespace deskaudit

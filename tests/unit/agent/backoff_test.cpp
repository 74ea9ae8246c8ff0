#include "agent/backoff.hpp"

#include <set>

#include <gtest/gtest.h>

using namespace deskaudit::agent;
using namespace std::chrono_literals;

TEST(Backoff, CeilingGrowsAndCaps) {
  Backoff b(BackoffOptions{500ms, 30000ms, 2.0}, 1);
  EXPECT_EQ(b.ceiling(0), 500ms);
  EXPECT_EQ(b.ceiling(1), 1000ms);
  EXPECT_EQ(b.ceiling(5), 16000ms);
  EXPECT_EQ(b.ceiling(6), 30000ms);
  EXPECT_EQ(b.ceiling(100000), 30000ms);  // no overflow far out
}

TEST(Backoff, DelaysStayWithinHalfToFullCeiling) {
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    Backoff b(BackoffOptions{200ms, 10000ms, 2.0}, seed);
    for (int attempt = 0; attempt < 20; ++attempt) {
      const auto ceiling = b.ceiling(attempt);
      const auto d = b.next();
      EXPECT_GE(d, ceiling / 2) << "seed " << seed << " attempt " << attempt;
      EXPECT_LE(d, ceiling) << "seed " << seed << " attempt " << attempt;
    }
  }
}

TEST(Backoff, JitterSpreadsAgents) {
  std::set<long> first_delays;
  for (std::uint64_t seed = 0; seed < 32; ++seed) {
    Backoff b(BackoffOptions{1000ms, 60000ms, 2.0}, seed);
    for (int i = 0; i < 4; ++i) b.next();
    first_delays.insert(static_cast<long>(b.next().count()));
  }
  // 32 agents that failed together must not retry at one instant.
  EXPECT_GT(first_delays.size(), 16u);
}

TEST(Backoff, ResetStartsOver) {
  Backoff b(BackoffOptions{100ms, 5000ms, 2.0}, 7);
  for (int i = 0; i < 10; ++i) b.next();
  EXPECT_EQ(b.attempt(), 10);
  b.reset();
  EXPECT_EQ(b.attempt(), 0);
  EXPECT_LE(b.next(), 100ms);
}

TEST(Backoff, NonsenseOptionsAreClamped) {
  Backoff b(BackoffOptions{0ms, 0ms, 0.5}, 3);
  for (int i = 0; i < 5; ++i) {
    const auto d = b.next();
    EXPECT_GE(d, 0ms);
    EXPECT_LE(d, 1ms);
  }
}

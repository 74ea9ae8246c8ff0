#pragma once
// Retry delays: exponential growth with "equal jitter" (a delay drawn
// uniformly from [ceiling/2, ceiling]), so a fleet of agents that lost the
// server together does not come back in lock-step, while each still waits at
// least half the ceiling. Not thread-safe; one per retry loop.
#include <chrono>
#include <cstdint>
#include <random>

namespace deskaudit::agent {

struct BackoffOptions {
  std::chrono::milliseconds initial{500};
  std::chrono::milliseconds max{30000};
  double multiplier = 2.0;
};

class Backoff {
 public:
  explicit Backoff(BackoffOptions options = {}, std::uint64_t seed = std::random_device{}());
  // The delay before the next attempt; each call grows the ceiling.
  std::chrono::milliseconds next();
  // After a success: the next failure starts from `initial` again.
  void reset() { attempt_ = 0; }
  int attempt() const { return attempt_; }
  // The ceiling for a given attempt number (0-based): initial * multiplier^n,
  // capped at max, computed without overflow.
  std::chrono::milliseconds ceiling(int attempt) const;

 private:
  BackoffOptions options_;
  std::mt19937_64 rng_;
  int attempt_ = 0;
};

}  // namespace deskaudit::agent

#pragma once
// Wall-clock time as milliseconds since the Unix epoch (UTC), the unit the
// catalog stores, and RFC 3339 text, the unit the API speaks.
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace deskaudit {

using EpochMs = std::int64_t;

// "2026-11-27T13:05:00Z"; milliseconds appear only when non-zero ("...:00.250Z").
std::string format_rfc3339(EpochMs ms);
// Accepts "YYYY-MM-DDTHH:MM:SS[.fff][Z|+HH:MM|-HH:MM]" (also 't', ' ' separator).
Result<EpochMs> parse_rfc3339(std::string_view text);
// "HH:MM" -> minutes after midnight (0..1439).
Result<int> parse_time_of_day(std::string_view text);

// Injectable time source: production uses SystemClock; tests move a ManualClock.
// Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual EpochMs now_ms() const = 0;
};

class SystemClock final : public Clock {
 public:
  EpochMs now_ms() const override;
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(EpochMs start) : now_(start) {}
  EpochMs now_ms() const override { return now_.load(); }
  void set(EpochMs ms) { now_.store(ms); }
  void advance(EpochMs ms) { now_.fetch_add(ms); }

 private:
  std::atomic<EpochMs> now_;
};

}  // namespace deskaudit

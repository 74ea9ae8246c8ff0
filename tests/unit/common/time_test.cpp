#include "common/time.hpp"

#include <gtest/gtest.h>

using namespace deskaudit;

TEST(Rfc3339, FormatsWholeSecondsWithoutFraction) {
  EXPECT_EQ(format_rfc3339(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_rfc3339(1795784700000), "2026-11-27T13:05:00Z");
  EXPECT_EQ(format_rfc3339(1795784700250), "2026-11-27T13:05:00.250Z");
}

TEST(Rfc3339, ParsesZuluOffsetsAndFractions) {
  EXPECT_EQ(parse_rfc3339("2026-11-27T13:05:00Z").value(), 1795784700000);
  EXPECT_EQ(parse_rfc3339("2026-11-27T13:05:00.25Z").value(), 1795784700250);
  EXPECT_EQ(parse_rfc3339("2026-11-27T14:05:00+01:00").value(), 1795784700000);
  EXPECT_EQ(parse_rfc3339("2026-11-27T12:35:00-00:30").value(), 1795784700000);
}

TEST(Rfc3339, RoundTrips) {
  for (EpochMs ms : {0ll, 1ll, 999ll, 1795784700123ll, 4102444800000ll}) {
    EXPECT_EQ(parse_rfc3339(format_rfc3339(ms)).value(), ms);
  }
}

TEST(Rfc3339, RejectsMalformedText) {
  for (const char* bad : {"", "2026-11-27", "2026-11-27T13:05:00", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
                          "2026-11-27T25:00:00Z", "2026-11-27T13:05:00Zjunk", "2026-11-27T13:05:00.Z",
                          "yesterday"}) {
    auto r = parse_rfc3339(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, Errc::invalid_argument);
  }
}

TEST(TimeOfDay, ParsesAndRejects) {
  EXPECT_EQ(parse_time_of_day("00:00").value(), 0);
  EXPECT_EQ(parse_time_of_day("23:59").value(), 1439);
  EXPECT_FALSE(parse_time_of_day("24:00"));
  EXPECT_FALSE(parse_time_of_day("9:00"));
  EXPECT_FALSE(parse_time_of_day("09:60"));
}

TEST(ManualClock, MovesOnlyWhenTold) {
  ManualClock c(1000);
  EXPECT_EQ(c.now_ms(), 1000);
  c.advance(500);
  EXPECT_EQ(c.now_ms(), 1500);
  c.set(7);
  EXPECT_EQ(c.now_ms(), 7);
}

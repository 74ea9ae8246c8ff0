#include "agent/policy.hpp"

#include <cstdlib>
#include <ctime>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace deskaudit;
using namespace deskaudit::agent;
using nlohmann::json;

namespace {

json policy_doc(json recording) {
  return {{"id", "pol-1"}, {"name", "office"}, {"version", 3}, {"recording", std::move(recording)}};
}

int hm(int h, int m) { return h * 60 + m; }

}  // namespace

TEST(Policy, ParsesTheApiShape) {
  auto p = parse_policy(policy_doc({{"mode", "period"},
                                    {"period_start", "08:30"},
                                    {"period_end", "18:00"},
                                    {"fps", 10},
                                    {"audio", false},
                                    {"segment_max_bytes", 262144},
                                    {"segment_max_minutes", 20},
                                    {"retention_days", 90},
                                    {"user_notice", true},
                                    {"user_notice_message", "This session is recorded."}}));
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->id, "pol-1");
  EXPECT_EQ(p->version, 3);
  EXPECT_EQ(p->recording.mode, RecordingMode::period);
  EXPECT_EQ(p->period_start_min(), hm(8, 30));
  EXPECT_EQ(p->period_end_min(), hm(18, 0));
  EXPECT_EQ(p->recording.fps, 10);
  EXPECT_EQ(p->recording.segment_max_bytes, 262144);
  EXPECT_EQ(p->recording.segment_max_minutes, 20);
  EXPECT_TRUE(p->recording.user_notice);
  EXPECT_EQ(p->recording.user_notice_message, "This session is recorded.");
  // Round trip through the cache format.
  auto again = parse_policy(policy_to_json(*p));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->period_start_min(), p->period_start_min());
  EXPECT_EQ(again->period_end_min(), p->period_end_min());
  EXPECT_EQ(again->recording.segment_max_bytes, p->recording.segment_max_bytes);
}

TEST(Policy, RejectsBadValues) {
  EXPECT_FALSE(parse_policy(policy_doc({{"mode", "sometimes"}})));
  EXPECT_FALSE(parse_policy(policy_doc({{"mode", "session"}, {"fps", 0}})));
  EXPECT_FALSE(parse_policy(policy_doc({{"mode", "session"}, {"fps", "5"}})));
  EXPECT_FALSE(parse_policy(policy_doc({{"mode", "session"}, {"segment_max_bytes", 1000}})));
  EXPECT_FALSE(parse_policy(policy_doc({{"mode", "session"}, {"segment_max_minutes", -1}})));
  EXPECT_FALSE(parse_policy(policy_doc({{"mode", "period"}, {"period_start", "25:00"}, {"period_end", "06:00"}})));
  EXPECT_FALSE(parse_policy(policy_doc({{"mode", "period"}, {"period_start", "08:00"}})));
  EXPECT_FALSE(parse_policy(json{{"id", "pol-1"}}));
  EXPECT_FALSE(parse_policy(json::array()));
  // The server's choices, not a wider technical range: 1 and 30 were
  // accepted before the policy codec.
  EXPECT_FALSE(parse_policy(policy_doc({{"mode", "session"}, {"fps", 1}})));
  EXPECT_FALSE(parse_policy(policy_doc({{"mode", "session"}, {"fps", 30}})));
  EXPECT_FALSE(parse_policy(policy_doc({{"mode", "session"}, {"segment_max_minutes", 45}})));
  EXPECT_FALSE(parse_policy(policy_doc({{"mode", "session"}, {"retention_days", 5000}})));
  auto e = parse_policy(policy_doc({{"mode", "session"}, {"fps", 1000}}));
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().field, "recording.fps");
}

TEST(Policy, SkipsRecordingKeysItDoesNotKnow) {
  // A newer server may add settings; this agent follows the ones it knows.
  auto p = parse_policy(policy_doc({{"mode", "session"}, {"fps", 15}, {"watermark", true}}));
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->recording.fps, 15);
}

TEST(Policy, ReadsWhatTheServerSends) {
  // Every key the server's codec writes, for every mode, reads back.
  for (auto mode : policy::kModes) {
    policy::RecordingRule rule;
    rule.mode = mode;
    rule.period_start = "22:00";
    rule.period_end = "06:00";
    rule.fps = 2;
    if (mode == RecordingMode::events) rule.triggers = {{policy::TriggerKind::process, "gimp*"}};
    auto p = parse_policy(policy_doc(policy::rule_to_json(rule)));
    ASSERT_TRUE(p) << p.error().message;
    EXPECT_EQ(p->recording.mode, mode);
    EXPECT_EQ(p->recording.fps, 2);
    if (mode == RecordingMode::period) {
      EXPECT_EQ(p->period_start_min(), hm(22, 0));
    }
    // The agent holds the codec's rule itself: nothing is lost on the way.
    EXPECT_EQ(p->recording, rule) << policy::to_string(mode);
  }
}

TEST(Policy, StateWithNullPolicyMeansNothingAssigned) {
  auto s = parse_policy_state(json{{"policy", nullptr}, {"source", "none"}, {"etag", "e1"}});
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->policy);
  EXPECT_EQ(s->source, "none");
  EXPECT_EQ(s->etag, "e1");
  auto n = parse_policy_state(json{{"policy", policy_doc({{"mode", "off"}})}, {"source", "pool"}, {"etag", 7}});
  ASSERT_TRUE(n);
  ASSERT_TRUE(n->policy);
  EXPECT_EQ(n->policy->recording.mode, RecordingMode::off);
  EXPECT_EQ(n->etag, "7");
}

TEST(PeriodWindow, StartIsInsideEndIsOutside) {
  const int start = hm(9, 0), end = hm(17, 30);
  EXPECT_FALSE(period_contains(start, end, hm(8, 59)));
  EXPECT_TRUE(period_contains(start, end, hm(9, 0)));
  EXPECT_TRUE(period_contains(start, end, hm(12, 0)));
  EXPECT_TRUE(period_contains(start, end, hm(17, 29)));
  EXPECT_FALSE(period_contains(start, end, hm(17, 30)));
  EXPECT_FALSE(period_contains(start, end, hm(0, 0)));
  EXPECT_FALSE(period_contains(start, end, hm(23, 59)));
}

TEST(PeriodWindow, CrossingMidnight) {
  const int start = hm(22, 0), end = hm(6, 0);
  EXPECT_FALSE(period_contains(start, end, hm(21, 59)));
  EXPECT_TRUE(period_contains(start, end, hm(22, 0)));
  EXPECT_TRUE(period_contains(start, end, hm(23, 59)));
  EXPECT_TRUE(period_contains(start, end, hm(0, 0)));
  EXPECT_TRUE(period_contains(start, end, hm(5, 59)));
  EXPECT_FALSE(period_contains(start, end, hm(6, 0)));
  EXPECT_FALSE(period_contains(start, end, hm(12, 0)));
}

TEST(PeriodWindow, EqualEdgesMeanTheWholeDay) {
  for (int m : {0, hm(7, 0), hm(7, 1), 1439}) EXPECT_TRUE(period_contains(hm(7, 0), hm(7, 0), m));
}

TEST(PeriodWindow, OneMinuteWindow) {
  EXPECT_TRUE(period_contains(hm(23, 59), 0, hm(23, 59)));
  EXPECT_FALSE(period_contains(hm(23, 59), 0, 0));
  EXPECT_FALSE(period_contains(hm(23, 59), 0, hm(23, 58)));
}

TEST(PeriodWindow, LocalTimeFollowsTz) {
  const char* old = std::getenv("TZ");
  const std::string saved = old ? old : "";
  // 2026-11-27T23:30:00Z
  const EpochMs t = *parse_rfc3339("2026-11-27T23:30:00Z");
  ::setenv("TZ", "UTC", 1);
  ::tzset();
  EXPECT_EQ(local_minute_of_day(t), hm(23, 30));
  ::setenv("TZ", "Asia/Shanghai", 1);  // UTC+8, no DST: 07:30 the next day
  ::tzset();
  EXPECT_EQ(local_minute_of_day(t), hm(7, 30));
  if (old) {
    ::setenv("TZ", saved.c_str(), 1);
  } else {
    ::unsetenv("TZ");
  }
  ::tzset();
}

TEST(Policy, RecordsAtFollowsMode) {
  Policy p;
  p.recording.mode = RecordingMode::off;
  EXPECT_FALSE(policy_records_at(p, hm(12, 0)));
  p.recording.mode = RecordingMode::session;
  EXPECT_TRUE(policy_records_at(p, hm(3, 0)));
  p.recording.mode = RecordingMode::events;  // armed all day; triggers start the recording
  EXPECT_TRUE(policy_records_at(p, hm(3, 0)));
  p.recording.mode = RecordingMode::period;
  p.recording.period_start = "22:00";
  p.recording.period_end = "02:00";
  EXPECT_TRUE(policy_records_at(p, hm(1, 0)));
  EXPECT_FALSE(policy_records_at(p, hm(2, 0)));
}

TEST(AgentPolicy, TheNoticeSaysAudioIsRecordedWhenItIs) {
  Policy p;
  p.recording.user_notice = true;
  p.recording.user_notice_message = "This session is recorded for audit.";
  EXPECT_EQ(notice_text(p), "This session is recorded for audit.");
  p.recording.audio = true;
  EXPECT_NE(notice_text(p).find("This session is recorded for audit."), std::string::npos);
  EXPECT_NE(notice_text(p).find("sound of this session"), std::string::npos);
}

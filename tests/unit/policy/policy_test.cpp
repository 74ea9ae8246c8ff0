#include "policy/policy.hpp"

#include <gtest/gtest.h>

#include "policy/schema_ts.hpp"

using namespace deskaudit;
using namespace deskaudit::policy;
using nlohmann::json;

namespace {

// The field an error names, or "" when rule_from_json accepted the input.
std::string refused_field(const json& recording, const RecordingRule& base = {}) {
  auto r = rule_from_json(recording, base);
  if (r) return "";
  EXPECT_EQ(r.error().code, Errc::unprocessable);
  EXPECT_FALSE(r.error().message.empty());
  return r.error().field;
}

}  // namespace

TEST(PolicyCodec, AllowedValuesAreTheDocumentedOnes) {
  // Literal values: docs/api.md and the console name them.
  for (int fps : {2, 5, 10, 15}) EXPECT_TRUE(fps_allowed(fps)) << fps;
  for (int fps : {0, 1, 3, 4, 6, 30, 60, 120, -5}) EXPECT_FALSE(fps_allowed(fps)) << fps;
  for (int m : {10, 20, 30, 60}) EXPECT_TRUE(segment_minutes_allowed(m)) << m;
  for (int m : {0, 1, 15, 45, 61, 1440}) EXPECT_FALSE(segment_minutes_allowed(m)) << m;
  EXPECT_EQ(kSegmentMinBytes, 65536);
  EXPECT_EQ(kSegmentMaxBytes, 33554432);
  EXPECT_EQ(kRetentionMinDays, 1);
  EXPECT_EQ(kRetentionMaxDays, 3650);
  EXPECT_EQ(kMinFps, 2);
  EXPECT_EQ(kMaxFps, 15);
  EXPECT_EQ(choices_text(kFpsChoices), "2, 5, 10 or 15");
}

TEST(PolicyCodec, DefaultsAreValidAndRoundTrip) {
  const RecordingRule d;
  EXPECT_TRUE(validate(d));
  EXPECT_EQ(d.mode, RecordingMode::off);
  EXPECT_EQ(d.fps, 5);
  auto again = rule_from_json(rule_to_json(d), RecordingRule{});
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(*again, d);
  const json j = rule_to_json(d);
  for (auto key : kRuleKeys) EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j.size(), kRuleKeys.size());
}

TEST(PolicyCodec, ModesHaveTheirNames) {
  for (auto m : kModes) EXPECT_EQ(recording_mode_from(to_string(m)), m);
  EXPECT_EQ(recording_mode_from("always"), std::nullopt);
  EXPECT_EQ(recording_mode_from("Session"), std::nullopt);
}

TEST(PolicyCodec, MergesPresentKeysOntoTheBase) {
  RecordingRule base;
  base.mode = RecordingMode::period;
  base.period_start = "22:00";
  base.period_end = "06:00";
  base.retention_days = 90;
  auto r = rule_from_json(json{{"fps", 10}, {"audio", true}}, base);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->fps, 10);
  EXPECT_TRUE(r->audio);
  EXPECT_EQ(r->mode, RecordingMode::period);
  EXPECT_EQ(r->period_start, "22:00");
  EXPECT_EQ(r->retention_days, 90);
}

TEST(PolicyCodec, RefusesEachBadValueNamingItsField) {
  EXPECT_EQ(refused_field(json{{"mode", "always"}}), "recording.mode");
  EXPECT_EQ(refused_field(json{{"mode", 1}}), "recording.mode");
  EXPECT_EQ(refused_field(json{{"fps", 7}}), "recording.fps");
  EXPECT_EQ(refused_field(json{{"fps", 1}}), "recording.fps");
  EXPECT_EQ(refused_field(json{{"fps", 30}}), "recording.fps");
  EXPECT_EQ(refused_field(json{{"fps", 5.0}}), "recording.fps");
  EXPECT_EQ(refused_field(json{{"fps", "5"}}), "recording.fps");
  // 2^32 + 5 must not wrap to 5.
  EXPECT_EQ(refused_field(json{{"fps", (std::int64_t{1} << 32) + 5}}), "recording.fps");
  EXPECT_EQ(refused_field(json{{"retention_days", (std::int64_t{1} << 32) + 30}}), "recording.retention_days");
  EXPECT_EQ(refused_field(json{{"segment_max_bytes", 65535}}), "recording.segment_max_bytes");
  EXPECT_EQ(refused_field(json{{"segment_max_bytes", (32 << 20) + 1}}), "recording.segment_max_bytes");
  EXPECT_EQ(refused_field(json{{"segment_max_bytes", std::uint64_t{1} << 63}}), "recording.segment_max_bytes");
  EXPECT_EQ(refused_field(json{{"segment_max_minutes", 45}}), "recording.segment_max_minutes");
  EXPECT_EQ(refused_field(json{{"retention_days", 0}}), "recording.retention_days");
  EXPECT_EQ(refused_field(json{{"retention_days", 3651}}), "recording.retention_days");
  EXPECT_EQ(refused_field(json{{"audio", 1}}), "recording.audio");
  EXPECT_EQ(refused_field(json{{"period_start", "24:00"}}), "recording.period_start");
  EXPECT_EQ(refused_field(json{{"period_end", 900}}), "recording.period_end");
  EXPECT_EQ(refused_field(json{{"mode", "period"}, {"period_start", "08:00"}, {"period_end", "08:00"}}),
            "recording.period_end");
  EXPECT_EQ(refused_field(json{{"user_notice", true}}), "recording.user_notice_message");
  EXPECT_EQ(refused_field(json{{"user_notice_message", std::string(1001, 'x')}}), "recording.user_notice_message");
  EXPECT_EQ(refused_field(json{{"watermark", true}}), "recording.watermark");
  EXPECT_EQ(refused_field(json::array()), "recording");
  // The edges are allowed.
  EXPECT_EQ(refused_field(json{{"segment_max_bytes", 65536}, {"retention_days", 3650}}), "");
  EXPECT_EQ(refused_field(json{{"segment_max_bytes", 32 << 20}, {"retention_days", 1}}), "");
  EXPECT_EQ(refused_field(json{{"user_notice", true}, {"user_notice_message", std::string(1000, 'x')}}), "");
}

TEST(PolicyCodec, IdleSecondsFromTenToAnHourDefaultThirty) {
  EXPECT_EQ(RecordingRule{}.idle_seconds, 30);
  EXPECT_EQ(rule_to_json(RecordingRule{})["idle_seconds"], 30);
  auto r = rule_from_json(json{{"idle_seconds", 120}}, RecordingRule{});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->idle_seconds, 120);
  EXPECT_EQ(rule_from_json(rule_to_json(*r), RecordingRule{}).value(), *r);
  for (auto bad : {json(9), json(3601), json(30.5), json("30"), json((std::int64_t{1} << 32) + 30)}) {
    auto refused = rule_from_json(json{{"idle_seconds", bad}}, RecordingRule{});
    ASSERT_FALSE(refused) << bad;
    EXPECT_EQ(refused.error().field, "recording.idle_seconds");
  }
  EXPECT_TRUE(rule_from_json(json{{"idle_seconds", 10}}, RecordingRule{}));
  EXPECT_TRUE(rule_from_json(json{{"idle_seconds", 3600}}, RecordingRule{}));
}

TEST(PolicyCodec, AnAgentSkipsKeysItDoesNotKnow) {
  auto r = rule_from_json(json{{"fps", 15}, {"watermark", true}}, RecordingRule{}, UnknownKeys::ignore);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->fps, 15);
  // Known keys are still checked.
  EXPECT_FALSE(rule_from_json(json{{"fps", 60}, {"watermark", true}}, RecordingRule{}, UnknownKeys::ignore));
}

TEST(PolicyCodec, ValidateChecksAWholeRule) {
  RecordingRule r;
  r.fps = 60;  // what the recorder once allowed
  EXPECT_EQ(validate(r).error().field, "recording.fps");
  r = {};
  r.segment_max_minutes = 1;
  EXPECT_EQ(validate(r).error().field, "recording.segment_max_minutes");
  r = {};
  r.period_start = "9am";
  EXPECT_EQ(validate(r).error().field, "recording.period_start");
}

TEST(PolicyCodec, BodyNeedsANameToCreate) {
  auto none = body_from_json(json{{"recording", {{"fps", 10}}}}, BodyKind::create, {});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().field, "name");
  auto ok = body_from_json(json{{"name", "office"}}, BodyKind::create, {});
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->name, "office");
  EXPECT_FALSE(ok->recording);
  auto update = body_from_json(json{{"recording", {{"fps", 10}}}}, BodyKind::update, {});
  ASSERT_TRUE(update);
  EXPECT_FALSE(update->name);
  ASSERT_TRUE(update->recording);
  EXPECT_EQ(update->recording->fps, 10);
  for (const json& bad : {json{{"name", ""}}, json{{"name", std::string(129, 'n')}}, json{{"name", "a\nb"}},
                          json{{"name", 5}}, json{{"name", nullptr}}}) {
    auto r = body_from_json(bad, BodyKind::update, {});
    ASSERT_FALSE(r) << bad.dump();
    EXPECT_EQ(r.error().field, "name");
    EXPECT_EQ(r.error().code, Errc::unprocessable);
  }
  // The name is checked before the rule.
  auto both = body_from_json(json{{"name", ""}, {"recording", {{"fps", 7}}}}, BodyKind::create, {});
  EXPECT_EQ(both.error().field, "name");
}

TEST(PolicySchemaTs, NamesEveryConstant) {
  const std::string ts = schema_ts();
  EXPECT_NE(ts.find("export const FPS_CHOICES = [2, 5, 10, 15] as const;"), std::string::npos) << ts;
  EXPECT_NE(ts.find("export const SEGMENT_MINUTES_CHOICES = [10, 20, 30, 60] as const;"), std::string::npos);
  EXPECT_NE(ts.find("export const RECORDING_MODES = ['off', 'session', 'period'] as const;"), std::string::npos);
  EXPECT_NE(ts.find("export const SEGMENT_MAX_BYTES = 33554432;"), std::string::npos);
  EXPECT_NE(ts.find("export const RETENTION_MAX_DAYS = 3650;"), std::string::npos);
  EXPECT_NE(ts.find("\"fps\": 5"), std::string::npos);
  EXPECT_EQ(ts.back(), '\n');
  EXPECT_EQ(ts, schema_ts());
}

// AgentService against the in-memory catalog and object store: enrollment,
// heartbeats and policy delivery, what an agent may not bend (its own
// computer only, the server's policy and retention, times ahead, caps and
// the upload budget with when to retry), the bookkeeping of received
// segments, and the silent-agent watchdog.
#include "service/agent_service.hpp"

#include <gtest/gtest.h>

#include "common/crypto.hpp"
#include "common/fs.hpp"
#include "memory_catalog.hpp"
#include "memory_object_store.hpp"
#include "sample_media.hpp"
#include "inventory_test_support.hpp"

namespace deskaudit::service {
namespace {

using namespace catalog;
using test_support::code_of;
using Json = nlohmann::json;
using testing::MemoryCatalog;
using testing::MemoryObjectStore;

constexpr EpochMs kT0 = 1'790'000'000'000;
constexpr std::int64_t kMinute = 60'000;
constexpr std::int64_t kBudget = 1'000'000;

class AgentServiceTest : public ::testing::Test {
 protected:
  AgentServiceTest() {
    EXPECT_TRUE(catalog_.create_pool({"pool-a", "A", "", kT0}));
    EnrollmentToken t;
    t.id = "enr-1";
    t.token_sha256 = sha256_hex(kToken);
    t.pool_id = "pool-a";
    t.created_at = kT0;
    EXPECT_TRUE(catalog_.create_enrollment_token(t));
    auto e = agents_.enroll({std::string(kToken), "desk-1", "Linux", "0.1.0", ""});
    EXPECT_TRUE(e) << e.error().message;
    if (e) {
      computer_ = e->computer.id;
      agent_ = Caller{"agent:" + computer_, "", computer_, {}};
    }
    auto other = agents_.enroll({std::string(kToken), "desk-2", "Linux", "0.1.0", ""});
    EXPECT_TRUE(other);
    if (other) other_ = Caller{"agent:" + other->computer.id, "", other->computer.id, {}};
  }

  std::string add_policy(int retention_days, RecordingMode mode = RecordingMode::session) {
    Policy p;
    p.id = "pol-" + std::to_string(++policies_);
    p.name = "policy " + std::to_string(policies_);
    p.recording.mode = mode;
    p.recording.retention_days = retention_days;
    p.created_at = p.updated_at = clock_->now_ms();
    EXPECT_TRUE(catalog_.create_policy(p));
    EXPECT_TRUE(catalog_.assign_policy({p.id, TargetType::computer, computer_}));
    return p.id;
  }
  Recording start(const Caller& who, EpochMs at) {
    auto r = agents_.start_recording(who, {"alice", at});
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : Recording{};
  }
  std::vector<AuditEntry> audit(const std::string& action) { return test_support::audit_entries(catalog_, action); }
  // A received body, as the transport leaves it: a private temp file and its hash.
  ReceivedSegment received(const Recording& rec, std::int64_t seq, const std::string& bytes) {
    const auto file = dir_ / ("seg-" + std::to_string(seq) + "-" + random_id(""));
    EXPECT_TRUE(write_file_atomic(file, bytes, 0600));
    const auto sha = sha256_hex(bytes);
    return {seq, sha, sha, bytes.size(), file, "recordings/" + rec.computer_id + "/" + rec.id + "/" + std::to_string(seq), std::nullopt};
  }

  static constexpr std::string_view kToken = "det_enroll-me";
  MemoryCatalog catalog_;
  MemoryObjectStore store_;
  std::shared_ptr<ManualClock> clock_ = std::make_shared<ManualClock>(kT0);
  AuditLog audit_log_{catalog_, clock_};
  AgentService agents_{catalog_, store_, audit_log_, clock_, AgentSettings{90'000, 2, kBudget}};
  std::filesystem::path dir_ = [] {
    auto d = std::filesystem::temp_directory_path() / ("agent-service-" + random_id(""));
    std::filesystem::create_directories(d);
    return d;
  }();
  std::string computer_;
  Caller agent_, other_;
  int policies_ = 0;

  ~AgentServiceTest() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
};

TEST_F(AgentServiceTest, EnrollsWithATokenIntoItsPoolAndAuditsEveryAttempt) {
  auto c = catalog_.get_computer(computer_);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->pool_id, "pool-a");
  EXPECT_EQ(c->name, "desk-1");  // no name: the hostname
  EXPECT_TRUE(c->enrolled);

  auto e = agents_.enroll({std::string(kToken), std::string(200, 'h') + "\xC3\xA9", "Linux", std::string(100, 'v'),
                           "Front desk"});
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->computer.name, "Front desk");
  EXPECT_EQ(e->computer.hostname, std::string(128, 'h'));
  EXPECT_EQ(e->computer.agent.agent_version.size(), 64u);
  EXPECT_TRUE(e->agent_token.starts_with(kAgentPrefix));
  EXPECT_EQ(*catalog_.computer_for_agent_token(sha256_hex(e->agent_token)), e->computer.id);

  EXPECT_EQ(code_of(agents_.enroll({"det_wrong", "desk-9", "", "", ""})), Errc::unauthenticated);
  EXPECT_EQ(code_of(agents_.enroll({std::string(kToken), "bad\nhost", "", "", ""})), Errc::unprocessable);
  auto failed = audit("agent.enroll_failed");
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].actor, "agent:desk-9");
  EXPECT_EQ(audit("agent.enroll").size(), 3u);
  for (const auto& entry : audit("agent.")) EXPECT_EQ(entry.details_json.find(e->agent_token), std::string::npos);
}

TEST_F(AgentServiceTest, HeartbeatStoresTheSanitisedReportAndAnswersWithThePolicyEtag) {
  AgentReport r;
  r.agent_version = "0.2.0";
  r.capture = {{"ok", true}, {"backend", "xshm"}};
  r.session = {{"user", "alice"}};
  r.spool_bytes = 4096;
  r.set_aside_count = 30;
  r.set_aside = Json::array();
  for (int i = 0; i < 30; ++i) {
    r.set_aside.push_back({{"local_id", std::string(100, 'x')}, {"http_status", i == 0 ? 422 : 42}, {"extra", 1}});
  }
  auto ack = agents_.heartbeat(agent_, r);
  ASSERT_TRUE(ack) << ack.error().message;
  EXPECT_EQ(ack->etag, "none");
  EXPECT_FALSE(ack->effective.policy);
  auto c = catalog_.get_computer(computer_);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->agent.agent_version, "0.2.0");
  EXPECT_EQ(c->agent.last_seen_at, kT0);
  EXPECT_EQ(c->agent.spool_bytes, 4096);
  EXPECT_EQ(Json::parse(c->agent.session_json), r.session);
  const auto aside = Json::parse(c->agent.set_aside_json);
  EXPECT_EQ(aside["count"], 30);
  ASSERT_EQ(aside["items"].size(), 20u);
  EXPECT_EQ(aside["items"][0]["local_id"].get<std::string>().size(), 64u);
  EXPECT_EQ(aside["items"][0]["http_status"], 422);
  EXPECT_TRUE(aside["items"][1]["http_status"].is_null());  // not an HTTP status
  EXPECT_FALSE(aside["items"][0].contains("extra"));

  const auto id = add_policy(7);
  ack = agents_.heartbeat(agent_, {});
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->etag, "computer:" + id + ":1");
  auto policy = agents_.policy(agent_);
  ASSERT_TRUE(policy);
  ASSERT_TRUE(policy->effective.policy);
  EXPECT_EQ(policy->effective.policy->recording.retention_days, 7);
  EXPECT_EQ(agents_.policy(other_)->etag, "none");  // the other computer has none

  AgentReport bad;
  bad.capture = "a string";
  EXPECT_EQ(code_of(agents_.heartbeat(agent_, bad)), Errc::unprocessable);
  bad = {};
  bad.session = Json::array();
  EXPECT_EQ(code_of(agents_.heartbeat(agent_, bad)), Errc::unprocessable);
  bad = {};
  bad.session = {{"user", std::string(5000, 'u')}};
  EXPECT_EQ(code_of(agents_.heartbeat(agent_, bad)), Errc::unprocessable);
  bad = {};
  bad.set_aside_count = 1;
  bad.set_aside = {{"not", "an array"}};
  EXPECT_EQ(code_of(agents_.heartbeat(agent_, bad)), Errc::unprocessable);
}

TEST_F(AgentServiceTest, RecordingsTakeTheServersPolicyAndRefuseTimesAhead) {
  add_policy(7);
  auto rec = start(agent_, kT0 - kMinute);
  EXPECT_EQ(rec.computer_id, computer_);
  EXPECT_EQ(rec.retention_days, 7);
  EXPECT_EQ(rec.policy_name, "policy 1");
  EXPECT_EQ(catalog_.get_computer(computer_)->agent.last_session_at, kT0 - kMinute);
  auto ahead = agents_.start_recording(agent_, {"alice", kT0 + 6 * kMinute});
  ASSERT_FALSE(ahead);
  EXPECT_EQ(ahead.error().field, "start_time");
  EXPECT_TRUE(agents_.start_recording(agent_, {"alice", kT0 + 4 * kMinute}));  // within the skew allowed
  EXPECT_EQ(code_of(agents_.start_recording(agent_, {"bad\x01user", kT0})), Errc::unprocessable);

  EXPECT_EQ(code_of(agents_.finish_recording(agent_, rec.id, {kT0 - 2 * kMinute, RecordingStatus::complete})),
            Errc::unprocessable);
  EXPECT_EQ(code_of(agents_.finish_recording(agent_, rec.id, {kT0 + 6 * kMinute, RecordingStatus::complete})),
            Errc::unprocessable);
  EXPECT_EQ(code_of(agents_.finish_recording(agent_, rec.id, {kT0, RecordingStatus::recording})), Errc::unprocessable);
  auto done = agents_.finish_recording(agent_, rec.id, {kT0, RecordingStatus::interrupted});
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_EQ(done->status, RecordingStatus::interrupted);
  EXPECT_EQ(done->expires_at, kT0 + 7 * 24 * 3600'000LL);
}

TEST_F(AgentServiceTest, AnAgentTouchesOnlyItsOwnComputer) {
  auto rec = start(agent_, kT0);
  auto foreign = agents_.own_recording(other_, rec.id);
  ASSERT_FALSE(foreign);
  EXPECT_EQ(foreign.error().code, Errc::not_found);
  EXPECT_EQ(foreign.error().message, "no recording " + rec.id + " on this computer");
  EXPECT_EQ(agents_.own_recording(agent_, "rec-missing").error().message, "no recording rec-missing on this computer");
  EXPECT_EQ(code_of(agents_.finish_recording(other_, rec.id, {kT0, RecordingStatus::complete})), Errc::not_found);
  EXPECT_EQ(code_of(agents_.admit_upload(other_, rec, 0, 10)), Errc::not_found);
  EXPECT_EQ(code_of(agents_.accept_segment(other_, rec, received(rec, 0, "bytes"))), Errc::not_found);
  EXPECT_EQ(catalog_.get_recording(rec.id)->status, RecordingStatus::recording);
}

TEST_F(AgentServiceTest, OpenRecordingsAreCappedWithWhenToRetry) {
  auto first = start(agent_, kT0);
  start(agent_, kT0);
  auto capped = agents_.start_recording(agent_, {"alice", kT0});
  ASSERT_FALSE(capped);
  EXPECT_EQ(capped.error().code, Errc::too_many_requests);
  EXPECT_EQ(capped.error().retry_after_ms, 60'000);
  EXPECT_NE(capped.error().message.find("try again in 60 s"), std::string::npos) << capped.error().message;
  EXPECT_TRUE(agents_.start_recording(other_, {"bob", kT0}));  // per computer
  ASSERT_TRUE(agents_.finish_recording(agent_, first.id, {kT0, RecordingStatus::complete}));
  EXPECT_TRUE(agents_.start_recording(agent_, {"alice", kT0}));
  // Left open for a day, a recording stops counting.
  clock_->advance(25 * 3600'000LL);
  EXPECT_TRUE(agents_.start_recording(agent_, {"alice", kT0}));
}

TEST_F(AgentServiceTest, UploadsAreAdmittedWithinTheHourlyBudgetAndNotToFinishedRecordings) {
  auto rec = start(agent_, kT0);
  EXPECT_EQ(code_of(agents_.admit_upload(agent_, rec, kMaxSegmentSeq + 1, 10)), Errc::invalid_argument);
  ASSERT_TRUE(agents_.admit_upload(agent_, rec, 0, 600'000));
  auto over = agents_.admit_upload(agent_, rec, 1, 600'000);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, Errc::too_many_requests);
  EXPECT_GT(over.error().retry_after_ms, 0);
  EXPECT_LE(over.error().retry_after_ms, 3600'000);
  // Counted when admitted, whatever became of the body; the budget is per computer.
  auto other_rec = start(other_, kT0);
  EXPECT_TRUE(agents_.admit_upload(other_, other_rec, 0, 600'000));
  clock_->advance(3600'000);
  EXPECT_TRUE(agents_.admit_upload(agent_, rec, 1, 600'000));

  auto done = agents_.finish_recording(agent_, rec.id, {clock_->now_ms(), RecordingStatus::complete});
  ASSERT_TRUE(done);
  EXPECT_EQ(code_of(agents_.admit_upload(agent_, *done, 2, 10)), Errc::conflict);
}

TEST_F(AgentServiceTest, ReceivedSegmentsAreCheckedStoredOnceAndNoted) {
  const auto segments = testing::make_segments(2, 2);
  auto rec = start(agent_, kT0);

  auto damaged = received(rec, 0, segments[0]);
  damaged.claimed_sha256 = sha256_hex("something else");
  auto r = agents_.accept_segment(agent_, rec, damaged);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::unprocessable);
  EXPECT_EQ(r.error().field, "X-Content-SHA256");
  EXPECT_NE(catalog_.get_computer(computer_)->agent.last_upload_error.find("SHA-256 mismatch"), std::string::npos);

  auto junk = agents_.accept_segment(agent_, rec, received(rec, 0, "not an mp4 at all"));
  ASSERT_FALSE(junk);
  EXPECT_EQ(junk.error().code, Errc::unprocessable);
  EXPECT_NE(catalog_.get_computer(computer_)->agent.last_upload_error.find("rejected"), std::string::npos);
  EXPECT_TRUE(store_.list("recordings/")->empty());

  const auto good = received(rec, 0, segments[0]);
  auto stored = agents_.accept_segment(agent_, rec, good);
  ASSERT_TRUE(stored) << stored.error().message;
  EXPECT_TRUE(stored->inserted);
  EXPECT_EQ(stored->segment.object_key, good.object_key);
  EXPECT_EQ(stored->segment.size_bytes, static_cast<std::int64_t>(segments[0].size()));
  EXPECT_GT(stored->segment.duration_ms, 0);
  auto head = store_.head(good.object_key);
  ASSERT_TRUE(head && *head);
  EXPECT_EQ((*head)->size_bytes, segments[0].size());
  auto c = catalog_.get_computer(computer_);
  EXPECT_EQ(c->agent.last_upload_error, "");
  EXPECT_EQ(c->agent.last_upload_at, kT0);

  // Again with the same bytes: already there, nothing stored twice.
  auto again = agents_.accept_segment(agent_, rec, received(rec, 0, segments[0]));
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->inserted);
  EXPECT_EQ(store_.calls("put_file"), 1);
  // Other bytes under the same number: refused.
  EXPECT_EQ(code_of(agents_.accept_segment(agent_, rec, received(rec, 0, segments[1]))), Errc::conflict);

  // The object store fails: no catalog row points at a missing object.
  store_.fail_next("put_file", Error{Errc::unavailable, "bucket unreachable"});
  EXPECT_EQ(code_of(agents_.accept_segment(agent_, rec, received(rec, 1, segments[1]))), Errc::unavailable);
  EXPECT_EQ(code_of(catalog_.get_segment(rec.id, 1)), Errc::not_found);
  EXPECT_TRUE(agents_.accept_segment(agent_, rec, received(rec, 1, segments[1])));
  EXPECT_EQ(catalog_.list_segments(rec.id)->size(), 2u);
}

TEST_F(AgentServiceTest, ASegmentWhoseRecordingWasDeletedMeanwhileLeavesNoObject) {
  const auto segments = testing::make_segments(1, 2);
  auto rec = start(agent_, kT0);
  // The recording's rows go (a DELETE or the sweeper) after the object was
  // stored and before the segment row is added.
  catalog_.fail_next("add_segment", Error{Errc::not_found, "no recording " + rec.id});
  const auto seg = received(rec, 0, segments[0]);
  EXPECT_EQ(code_of(agents_.accept_segment(agent_, rec, seg)), Errc::not_found);
  auto head = store_.head(seg.object_key);
  ASSERT_TRUE(head);
  EXPECT_FALSE(*head) << "an object nothing points at was left in the store";
}

TEST_F(AgentServiceTest, AnAgentSilentDuringARecordedSessionIsAuditedOncePerSilence) {
  add_policy(30);
  AgentReport with_session;
  with_session.session = {{"user", "alice"}};
  ASSERT_TRUE(agents_.heartbeat(agent_, with_session));
  ASSERT_TRUE(agents_.heartbeat(other_, with_session));  // no policy records there
  EXPECT_EQ(*agents_.note_silent_agents(), 0);
  clock_->advance(90'001);
  EXPECT_EQ(*agents_.note_silent_agents(), 1);
  EXPECT_EQ(*agents_.note_silent_agents(), 0);
  auto entries = audit("agent.silent");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].actor, "system");
  EXPECT_EQ(entries[0].target, computer_);
  EXPECT_EQ(Json::parse(entries[0].details_json)["last_heartbeat"], format_rfc3339(kT0));

  auto c = catalog_.get_computer(computer_);
  auto why = silent_during_session(catalog_, *c, *catalog_.effective_policy(computer_), clock_->now_ms(), 90'000);
  ASSERT_TRUE(why && *why);
  EXPECT_NE((*why)->find("a user session was open"), std::string::npos);

  // Back, then silent with an open recording and no session: reported again.
  ASSERT_TRUE(agents_.heartbeat(agent_, {}));
  start(agent_, clock_->now_ms());
  clock_->advance(90'001);
  EXPECT_EQ(*agents_.note_silent_agents(), 1);
  EXPECT_EQ(audit("agent.silent").size(), 2u);

  catalog_.set_unavailable(true);
  EXPECT_EQ(code_of(agents_.note_silent_agents()), Errc::unavailable);
}

}  // namespace
}  // namespace deskaudit::service

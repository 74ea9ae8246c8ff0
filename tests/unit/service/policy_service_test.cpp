#include "service/policy_service.hpp"

#include <gtest/gtest.h>

#include "memory_catalog.hpp"

using namespace deskaudit;
using namespace deskaudit::catalog;
using namespace deskaudit::service;
using nlohmann::json;

namespace {

class PolicyServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(catalog_->migrate());
    audit_ = std::make_unique<AuditLog>(*catalog_, clock_);
    service_ = std::make_unique<PolicyService>(*catalog_, *audit_, clock_);
    ASSERT_TRUE(catalog_->create_pool({"pool-a", "A", "", 1}));
    ASSERT_TRUE(catalog_->create_pool({"pool-b", "B", "", 1}));
    for (auto [id, pool] : {std::pair{"cc-a", "pool-a"}, std::pair{"cc-b", "pool-b"}}) {
      Computer computer;
      computer.id = id;
      computer.name = id;
      computer.pool_id = pool;
      ASSERT_TRUE(catalog_->create_computer(computer));
    }
    roles_ = {Role{"role-writer", "writer", "", {"policy:read", "policy:write"}, false}};
  }
  // A writer whose policy:write is limited to pool A.
  Caller scoped() const {
    return {"scoped", "u-scoped", "", auth::Grants({{"u-scoped", "role-writer", TargetType::pool, "pool-a"}}, roles_)};
  }
  static Caller admin() { return {"admin", "u-admin", "", auth::Grants::everything()}; }

  std::vector<AuditEntry> audit(const std::string& action) {
    AuditFilter f;
    f.action = action;
    auto page = catalog_->list_audit(f, Page{500, ""});
    EXPECT_TRUE(page) << page.error().message;
    return page ? page->items : std::vector<AuditEntry>{};
  }

  std::string create(const Caller& who, const json& body) {
    auto v = service_->create(who, body);
    EXPECT_TRUE(v) << v.error().message;
    return v ? v->policy.id : "";
  }

  std::shared_ptr<ManualClock> clock_ = std::make_shared<ManualClock>(1'700'000'000'000);
  std::unique_ptr<deskaudit::testing::MemoryCatalog> catalog_ = std::make_unique<deskaudit::testing::MemoryCatalog>();
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<PolicyService> service_;
  std::vector<Role> roles_;
};

}  // namespace

TEST_F(PolicyServiceTest, CreatesWithTheCodecsDefaultsAndAudits) {
  auto v = service_->create(admin(), json{{"name", "office"}, {"recording", {{"mode", "session"}, {"fps", 10}}}});
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->policy.id.rfind("pol-", 0), 0u);
  EXPECT_EQ(v->policy.recording.fps, 10);
  EXPECT_EQ(v->policy.recording.retention_days, policy::RecordingRule{}.retention_days);
  EXPECT_EQ(v->policy.created_at, clock_->now_ms());
  EXPECT_TRUE(v->assignments.empty());
  auto entries = audit("policy.create");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].actor, "admin");
  EXPECT_EQ(entries[0].target, v->policy.id);
  EXPECT_EQ(json::parse(entries[0].details_json)["recording"]["fps"], 10);
}

TEST_F(PolicyServiceTest, RefusesBadBodiesNamingTheField) {
  auto no_name = service_->create(admin(), json{{"recording", {{"fps", 10}}}});
  ASSERT_FALSE(no_name);
  EXPECT_EQ(no_name.error().field, "name");
  auto bad_fps = service_->create(admin(), json{{"name", "x"}, {"recording", {{"fps", 30}}}});
  ASSERT_FALSE(bad_fps);
  EXPECT_EQ(bad_fps.error().code, Errc::unprocessable);
  EXPECT_EQ(bad_fps.error().field, "recording.fps");
  auto no_trigger = service_->create(admin(), json{{"name", "x"}, {"recording", {{"mode", "events"}}}});
  ASSERT_FALSE(no_trigger);
  EXPECT_EQ(no_trigger.error().field, "recording.triggers");
  EXPECT_TRUE(audit("policy.").empty());
}

TEST_F(PolicyServiceTest, EventModeSettingsAreStoredAndMerged) {
  const auto id = create(admin(), json{{"name", "payroll"},
                                       {"recording",
                                        {{"mode", "events"},
                                         {"triggers", json::array({{{"window_title", "*payroll*"}}})},
                                         {"post_event_minutes", 20},
                                         {"pre_event_seconds", 0}}}});
  auto v = service_->update(admin(), id, json{{"recording", {{"pre_event_seconds", 90}}}});
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->policy.recording.mode, policy::RecordingMode::events);
  ASSERT_EQ(v->policy.recording.triggers.size(), 1u);
  EXPECT_EQ(v->policy.recording.triggers[0].pattern, "*payroll*");
  EXPECT_EQ(v->policy.recording.post_event_minutes, 20);
  EXPECT_EQ(v->policy.recording.pre_event_seconds, 90);
  // Taking the last trigger away from an events policy is refused.
  auto none = service_->update(admin(), id, json{{"recording", {{"triggers", json::array()}}}});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().field, "recording.triggers");
}

TEST_F(PolicyServiceTest, UpdateMergesOntoTheStoredRule) {
  const auto id = create(
      admin(),
      json{{"name", "night"}, {"recording", {{"mode", "period"}, {"period_start", "22:00"}, {"period_end", "06:00"}}}});
  clock_->advance(1000);
  auto v = service_->update(admin(), id, json{{"recording", {{"fps", 2}}}});
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->policy.recording.fps, 2);
  EXPECT_EQ(v->policy.recording.period_start, "22:00");
  EXPECT_EQ(v->policy.name, "night");
  EXPECT_EQ(v->policy.version, 2);
  auto entries = audit("policy.update");
  ASSERT_EQ(entries.size(), 1u);
  const auto details = json::parse(entries[0].details_json);
  EXPECT_EQ(details["before"]["recording"]["fps"], 5);
  EXPECT_EQ(details["after"]["recording"]["fps"], 2);
  // The stored window makes "same start and end" detectable on a PATCH.
  auto same = service_->update(admin(), id, json{{"recording", {{"period_end", "22:00"}}}});
  ASSERT_FALSE(same);
  EXPECT_EQ(same.error().field, "recording.period_end");
  EXPECT_EQ(service_->update(admin(), "pol-missing", json::object()).error().code, Errc::not_found);
}

TEST_F(PolicyServiceTest, AScopedWriterChangesOnlyWhatStaysInItsScope) {
  const auto id = create(scoped(), json{{"name", "a-only"}});
  // Its own pool and a computer in it: allowed.
  ASSERT_TRUE(service_->assign(scoped(), {id, TargetType::pool, "pool-a"}));
  ASSERT_TRUE(service_->assign(scoped(), {id, TargetType::computer, "cc-a"}));
  EXPECT_TRUE(service_->update(scoped(), id, json{{"recording", {{"fps", 15}}}}));
  // Targets outside: hidden from its policy:read, so not found.
  EXPECT_EQ(service_->assign(scoped(), {id, TargetType::pool, "pool-b"}).error().code, Errc::not_found);
  EXPECT_EQ(service_->assign(scoped(), {id, TargetType::computer, "cc-b"}).error().code, Errc::not_found);
  // Once the policy also applies in pool B, the scoped writer may not change it.
  ASSERT_TRUE(service_->assign(admin(), {id, TargetType::pool, "pool-b"}));
  EXPECT_EQ(service_->update(scoped(), id, json{{"recording", {{"fps", 2}}}}).error().code, Errc::permission_denied);
  EXPECT_EQ(service_->remove(scoped(), id).error().code, Errc::permission_denied);
  EXPECT_EQ(service_->unassign(scoped(), {id, TargetType::pool, "pool-a"}).error().code, Errc::permission_denied);
  // Everything above that was refused left no trace.
  EXPECT_EQ(service_->get(scoped(), id)->policy.recording.fps, 15);
  EXPECT_EQ(audit("policy.assign").size(), 3u);
  EXPECT_TRUE(audit("policy.unassign").empty());
  EXPECT_TRUE(audit("policy.delete").empty());
}

TEST_F(PolicyServiceTest, AssignmentsAreListedAndAudited) {
  const auto id = create(admin(), json{{"name", "p"}});
  ASSERT_TRUE(service_->assign(admin(), {id, TargetType::computer, "cc-b"}));
  auto v = service_->get(admin(), id);
  ASSERT_TRUE(v);
  ASSERT_EQ(v->assignments.size(), 1u);
  EXPECT_EQ(v->assignments[0].target_id, "cc-b");
  auto page = service_->list(admin(), Page{});
  ASSERT_TRUE(page);
  ASSERT_EQ(page->items.size(), 1u);
  EXPECT_EQ(page->items[0].assignments.size(), 1u);
  ASSERT_TRUE(service_->unassign(admin(), {id, TargetType::computer, "cc-b"}));
  EXPECT_EQ(service_->unassign(admin(), {id, TargetType::computer, "cc-b"}).error().code, Errc::not_found);
  EXPECT_EQ(service_->assign(admin(), {"pol-missing", TargetType::pool, "pool-a"}).error().code, Errc::not_found);
  const auto assigned = audit("policy.assign");
  ASSERT_EQ(assigned.size(), 1u);
  EXPECT_EQ(json::parse(assigned[0].details_json), (json{{"target_type", "computer"}, {"target_id", "cc-b"}}));
  EXPECT_EQ(audit("policy.unassign").size(), 1u);
}

TEST_F(PolicyServiceTest, ACatalogFailureIsPassedOnAndNothingIsAudited) {
  const auto id = create(admin(), json{{"name", "p"}});
  catalog_->fail_next("update_policy", Error{Errc::unavailable, "database gone"});
  auto v = service_->update(admin(), id, json{{"recording", {{"fps", 10}}}});
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, Errc::unavailable);
  catalog_->fail_next("assign_policy", Error{Errc::unavailable, "database gone"});
  EXPECT_EQ(service_->assign(admin(), {id, TargetType::pool, "pool-a"}).error().code, Errc::unavailable);
  EXPECT_TRUE(audit("policy.update").empty());
  EXPECT_TRUE(audit("policy.assign").empty());
}

TEST_F(PolicyServiceTest, DeleteRemovesAndAudits) {
  const auto id = create(admin(), json{{"name", "gone"}});
  ASSERT_TRUE(service_->remove(admin(), id));
  EXPECT_EQ(service_->get(admin(), id).error().code, Errc::not_found);
  EXPECT_EQ(service_->remove(admin(), id).error().code, Errc::not_found);
  ASSERT_EQ(audit("policy.delete").size(), 1u);
}

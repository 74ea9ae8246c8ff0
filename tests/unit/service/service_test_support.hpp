#pragma once
// What the service tests share: a MemoryCatalog with the built-in roles, a
// manual clock, the audit log over both, and callers built from the
// catalog's grants as the server builds them.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "auth/password.hpp"
#include "auth/permissions.hpp"
#include "common/time.hpp"
#include "memory_catalog.hpp"
#include "service/access_service.hpp"
#include "service/audit_log.hpp"
#include "service/caller.hpp"

namespace deskaudit::service::test {

// Fails the current test with the error's message when r holds an error.
#define SVC_OK(expr)                                                                \
  do {                                                                              \
    auto svc_ok_result_ = (expr);                                                   \
    ASSERT_TRUE(svc_ok_result_) << #expr << ": " << svc_ok_result_.error().message; \
  } while (0)

constexpr EpochMs kT0 = 1'790'000'000'000;
inline constexpr std::string_view kPassword = "correct horse battery";

// argon2id is slow on purpose: hash the test password once.
inline const std::string& password_hash() {
  static const std::string hash = auth::hash_password(kPassword).value();
  return hash;
}

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const auto& role : auth::builtin_roles()) ASSERT_TRUE(catalog.upsert_role(role));
  }

  // A user with the test password and these grants (user ids filled in).
  std::string add_user(const std::string& username, std::vector<catalog::RoleGrant> grants) {
    catalog::User u;
    u.id = "usr-" + username;
    u.username = username;
    u.password_hash = password_hash();
    u.created_at = u.password_changed_at = kT0;
    EXPECT_TRUE(catalog.create_user(u));
    for (auto& g : grants) {
      g.user_id = u.id;
      EXPECT_TRUE(catalog.grant_role(g));
    }
    return u.id;
  }

  Caller caller(const std::string& user_id) {
    auto user = catalog.get_user(user_id);
    auto grants = load_grants(catalog, user_id);
    EXPECT_TRUE(user && grants);
    return Caller{user ? user->username : "", user_id, "", grants ? *grants : auth::Grants()};
  }

  // The audit entries, oldest first.
  std::vector<catalog::AuditEntry> entries() {
    auto all = catalog.audit_after(0, 5000);
    EXPECT_TRUE(all);
    return all ? *all : std::vector<catalog::AuditEntry>{};
  }

  static catalog::RoleGrant grant(std::string role, std::optional<catalog::TargetType> type = std::nullopt,
                                  std::optional<std::string> id = std::nullopt) {
    return catalog::RoleGrant{"", std::move(role), type, std::move(id)};
  }

  deskaudit::testing::MemoryCatalog catalog;
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>(kT0);
  AuditLog audit{catalog, clock};
};

}  // namespace deskaudit::service::test

// AuditService against the in-memory catalog and a real key service in a
// temp directory: who may read, verification finding a rewritten entry,
// the raw chain, key rotation (audited and signed by the new key), and an
// unreachable catalog answering unavailable.
#include <filesystem>

#include "common/crypto.hpp"
#include "keys/key_service.hpp"
#include "service/audit_service.hpp"
#include "service/audit_signer.hpp"
#include "service_test_support.hpp"

namespace deskaudit::service::test {
namespace {

class AuditServiceTest : public ServiceTest {
 protected:
  void SetUp() override {
    ServiceTest::SetUp();
    std::filesystem::create_directories(dir);
    auto k = keys::KeyService::open({dir / "signing.key", dir / "trusted-keys", ""});
    ASSERT_TRUE(k) << k.error().message;
    keys = std::move(*k);
    auto s = AuditSigner::create(catalog, *keys, 4, "replica-1", dir / "audit-witness.json", clock);
    ASSERT_TRUE(s) << s.error().message;
    signer = std::move(*s);
    audit.set_after_append([this](std::int64_t seq) { signer->after_append(seq); });
    service = std::make_unique<AuditService>(catalog, *keys, *signer, audit, clock);
    auditor_id = add_user("auditor", {grant("read-only")});
    scoped_id = add_user("scoped", {grant("read-only", catalog::TargetType::pool, "pool-a")});
    admin_id = add_user("admin", {grant("administrator")});
    for (int i = 0; i < 5; ++i) audit.record_as("alice", "policy.update", "pol-" + std::to_string(i));
  }
  void TearDown() override { std::filesystem::remove_all(dir); }

  std::filesystem::path dir = std::filesystem::temp_directory_path() / random_id("deskaudit-audit-service-");
  std::unique_ptr<keys::KeyService> keys;
  std::unique_ptr<AuditSigner> signer;
  std::unique_ptr<AuditService> service;
  std::string auditor_id, scoped_id, admin_id;
};

TEST_F(AuditServiceTest, ReadingNeedsAuditReadWithoutAScope) {
  const auto scoped = caller(scoped_id);
  EXPECT_EQ(service->list(scoped, {}, {}).error().code, Errc::permission_denied);
  EXPECT_EQ(service->verify(scoped).error().code, Errc::permission_denied);
  EXPECT_EQ(service->chain(scoped, 0, 10).error().code, Errc::permission_denied);
  EXPECT_EQ(service->checkpoints(scoped, 0, 10).error().code, Errc::permission_denied);
  EXPECT_EQ(service->signing_keys(scoped).error().code, Errc::permission_denied);
  // Rotation needs admin:users: audit:read is not enough.
  EXPECT_EQ(service->rotate_key(caller(auditor_id)).error().code, Errc::permission_denied);

  auto page = service->list(caller(auditor_id), {}, catalog::Page{2, ""});
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->items.size(), 2u);
  EXPECT_EQ(page->items[0].seq, 5);  // newest first
  EXPECT_FALSE(page->next_token.empty());
}

TEST_F(AuditServiceTest, ChainAndCheckpointsAreAscendingAndClamped) {
  const auto auditor = caller(auditor_id);
  auto all = service->chain(auditor, 0, 1'000'000);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 5u);
  EXPECT_EQ(all->front().seq, 1);
  auto tail = service->chain(auditor, 3, 0);  // a limit below 1 still returns one
  ASSERT_TRUE(tail);
  ASSERT_EQ(tail->size(), 1u);
  EXPECT_EQ(tail->front().seq, 4);
  auto cps = service->checkpoints(auditor, 0, 10);
  ASSERT_TRUE(cps);
  ASSERT_EQ(cps->size(), 1u);  // signed after entry 4 (every 4)
  EXPECT_EQ(cps->front().seq, 4);
  EXPECT_EQ(cps->front().replica, "replica-1");
}

TEST_F(AuditServiceTest, VerifyFindsARewrittenEntry) {
  const auto auditor = caller(auditor_id);
  auto good = service->verify(auditor);
  ASSERT_TRUE(good) << good.error().message;
  EXPECT_TRUE(good->ok) << good->reason;
  EXPECT_EQ(good->entries, 5);
  EXPECT_EQ(good->signed_through, 4);
  EXPECT_EQ(good->unsigned_entries, 1);

  auto second = catalog.audit_after(1, 1)->front();
  second.target = "pol-rewritten";
  ASSERT_TRUE(catalog.overwrite_audit_entry(second));
  auto bad = service->verify(auditor);
  ASSERT_TRUE(bad) << bad.error().message;
  EXPECT_FALSE(bad->ok);
  EXPECT_EQ(bad->first_bad_seq, 2);
}

TEST_F(AuditServiceTest, RotationIsAuditedSignedByTheNewKeyAndKeepsTheOldTrusted) {
  const auto old_key = keys->current();
  auto r = service->rotate_key(caller(admin_id));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->old_key.key_id, old_key.key_id);
  EXPECT_NE(r->current.key_id, old_key.key_id);
  EXPECT_NE(r->trusted.find(old_key.key_id), nullptr);
  EXPECT_NE(r->trusted.find(r->current.key_id), nullptr);

  const auto last = catalog.audit_after(0, 100)->back();
  EXPECT_EQ(last.action, "signing_key.rotate");
  EXPECT_EQ(last.actor, "admin");
  EXPECT_EQ(last.target, r->current.key_id);
  auto cps = catalog.audit_checkpoints_after(0, 100);
  ASSERT_TRUE(cps);
  EXPECT_EQ(cps->back().seq, last.seq);  // the rotation entry is signed at once
  EXPECT_EQ(cps->back().key_id, r->current.key_id);
  EXPECT_EQ(cps->back().kind, audit::kCheckpointRotation);

  auto published = catalog.list_published_keys();
  ASSERT_TRUE(published);
  EXPECT_TRUE(std::ranges::any_of(*published, [&](const auto& k) { return k.key_id == r->current.key_id; }));
  auto report = service->verify(caller(auditor_id));
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->ok) << report->reason;
  EXPECT_EQ(report->unsigned_entries, 0);
}

TEST_F(AuditServiceTest, KeysAnnouncedOnlyInTheCatalogAreShownUntrusted) {
  ASSERT_TRUE(catalog.publish_key({"planted", "ed25519", "AAAA", kT0}));
  auto k = service->signing_keys(caller(auditor_id));
  ASSERT_TRUE(k) << k.error().message;
  EXPECT_EQ(k->current.key_id, keys->current().key_id);
  ASSERT_EQ(k->untrusted_in_catalog.size(), 1u);
  EXPECT_EQ(k->untrusted_in_catalog[0].key_id, "planted");
}

TEST_F(AuditServiceTest, AnUnreachableCatalogAnswersUnavailable) {
  const auto auditor = caller(auditor_id);
  const auto admin = caller(admin_id);
  catalog.set_unavailable(true);
  EXPECT_EQ(service->list(auditor, {}, {}).error().code, Errc::unavailable);
  EXPECT_EQ(service->verify(auditor).error().code, Errc::unavailable);
  EXPECT_EQ(service->chain(auditor, 0, 10).error().code, Errc::unavailable);
  EXPECT_EQ(service->signing_keys(auditor).error().code, Errc::unavailable);
  const auto key_before = keys->current().key_id;
  EXPECT_EQ(service->rotate_key(admin).error().code, Errc::unavailable);
  EXPECT_EQ(keys->current().key_id, key_before);  // nothing rotated while the log could not be signed
}

}  // namespace
}  // namespace deskaudit::service::test

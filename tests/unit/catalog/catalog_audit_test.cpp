// Conformance: the audit chain and leases; plus the backend instantiation
// (SQLite, PostgreSQL and the in-memory fake) and the factory's URL handling.
#include <sys/stat.h>

#include <atomic>
#include <thread>

#include "audit/chain.hpp"
#include "catalog/types.hpp"
#include "keys/key_service.hpp"
#include "catalog_fixture.hpp"
#include "catalog_helpers.hpp"

namespace deskaudit::catalog::test {
namespace {

AuditEntry entry(std::string actor, std::string action, std::string target, EpochMs time) {
  AuditEntry e;
  e.time = time;
  e.actor = std::move(actor);
  e.action = std::move(action);
  e.target = std::move(target);
  e.details_json = R"({"n":1})";
  return e;
}

// Walks the chain from seq 1: gapless, linked, every hash recomputes.
void expect_valid_chain(Catalog& c, std::int64_t expected_length) {
  std::int64_t after = 0;
  std::string prev;
  for (;;) {
    auto batch = c.audit_after(after, 64);
    ASSERT_TRUE(batch) << batch.error().message;
    if (batch->empty()) break;
    for (const auto& e : *batch) {
      ASSERT_EQ(e.seq, after + 1);
      ASSERT_EQ(e.prev_hash, prev) << "seq " << e.seq;
      ASSERT_EQ(e.hash, audit_entry_hash(e)) << "seq " << e.seq;
      after = e.seq;
      prev = e.hash;
    }
  }
  EXPECT_EQ(after, expected_length);
}

TEST_P(CatalogTest, AuditChainLinksAndFilters) {
  auto first = cat().append_audit(entry("alice", "auth.login", "usr-1", kT0));
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->seq, 1);
  EXPECT_EQ(first->prev_hash, "");
  EXPECT_TRUE(is_sha256_hex(first->hash));
  auto second = cat().append_audit(entry("alice", "policy.update", "pol-1", kT0 + 10));
  ASSERT_TRUE(second);
  EXPECT_EQ(second->seq, 2);
  EXPECT_EQ(second->prev_hash, first->hash);
  CAT_OK(cat().append_audit(entry("bob", "policy.delete", "pol-2", kT0 + 20)));
  CAT_OK(cat().append_audit(entry("agent:cc-1", "recording.upload", "rec-1", kT0 + 30)));
  CAT_OK(cat().append_audit(entry("bob", "policyx.read", "pol-3", kT0 + 40)));
  EXPECT_EQ(cat().append_audit(entry("bob", "", "x", kT0)).error().code, Errc::invalid_argument);
  expect_valid_chain(cat(), 5);

  // The hash covers every field.
  AuditEntry tampered = *second;
  tampered.details_json = R"({"n":2})";
  EXPECT_NE(audit_entry_hash(tampered), second->hash);
  tampered = *second;
  tampered.prev_hash = "";
  EXPECT_NE(audit_entry_hash(tampered), second->hash);

  const auto seqs = [&](const AuditFilter& f) {
    std::vector<std::int64_t> out;
    auto page = cat().list_audit(f, Page{});
    EXPECT_TRUE(page) << page.error().message;
    if (page) {
      for (const auto& e : page->items) out.push_back(e.seq);
    }
    return out;
  };
  using Seqs = std::vector<std::int64_t>;
  EXPECT_EQ(seqs({}), (Seqs{5, 4, 3, 2, 1}));
  EXPECT_EQ(seqs(AF().actor("bob")), (Seqs{5, 3}));
  EXPECT_EQ(seqs(AF().action("policy.")), (Seqs{3, 2}));  // prefix, not "policyx."
  EXPECT_EQ(seqs(AF().action("policy.delete")), (Seqs{3}));
  EXPECT_EQ(seqs(AF().action("policy")), Seqs{});  // exact unless it ends in '.'
  EXPECT_EQ(seqs(AF().target("rec-1")), (Seqs{4}));
  EXPECT_EQ(seqs(AF().start_time(kT0 + 10).end_time(kT0 + 30)), (Seqs{4, 3, 2}));

  auto p1 = cat().list_audit({}, Page{2, ""});
  ASSERT_TRUE(p1);
  ASSERT_EQ(p1->items.size(), 2u);
  auto p2 = cat().list_audit({}, Page{2, p1->next_token});
  ASSERT_TRUE(p2);
  EXPECT_EQ(p2->items[0].seq, 3);
  auto tail = cat().audit_after(3, 10);
  ASSERT_TRUE(tail);
  ASSERT_EQ(tail->size(), 2u);
  EXPECT_EQ((*tail)[0].seq, 4);
  EXPECT_EQ(cat().audit_after(0, 2)->size(), 2u);
}

TEST_P(CatalogTest, ConcurrentAuditAppendsKeepAGaplessChain) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto r = cat().append_audit(entry("thread-" + std::to_string(t), "test.append", std::to_string(i), kT0 + i));
        if (!r) {
          ++failures;
          ADD_FAILURE() << r.error().message;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  expect_valid_chain(cat(), kThreads * kPerThread);
}

// A signing key in a temp directory (what a server keeps outside the catalog).
struct TestKey {
  std::filesystem::path dir = std::filesystem::temp_directory_path() / ("deskaudit-catalog-key-" + unique_suffix());
  std::unique_ptr<keys::KeyService> service;
  TestKey() {
    std::filesystem::create_directories(dir);
    auto k = keys::KeyService::open({dir / "signing.key", dir / "trusted-keys", ""});
    EXPECT_TRUE(k) << k.error().message;
    service = std::move(*k);
  }
  ~TestKey() { std::filesystem::remove_all(dir); }
  Catalog::CheckpointSigner signer() const {
    return [this](std::string_view m) { return service->sign(m).signature; };
  }
  std::string id() const { return service->current().key_id; }
};

Result<audit::Report> verify_catalog(Catalog& c, const keys::Keyring& ring) {
  return audit::verify([&](std::int64_t after) { return c.audit_after(after, 7); },
                       [&](std::int64_t after) { return c.audit_checkpoints_after(after, 2); }, ring);
}

TEST_P(CatalogTest, SignedCheckpointsChainAndVerify) {
  TestKey key;
  auto empty = cat().sign_audit_head(key.id(), key.signer(), audit::kCheckpointShutdown, "r1", kT0);
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, Errc::not_found);

  for (int i = 0; i < 3; ++i) CAT_OK(cat().append_audit(entry("alice", "test.a", "t", kT0 + i)));
  auto first = cat().sign_audit_head(key.id(), key.signer(), audit::kCheckpointEvery, "r1", kT0 + 5);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->n, 1);
  EXPECT_EQ(first->seq, 3);
  EXPECT_EQ(first->prev_signature, "");
  EXPECT_EQ(first->key_id, key.id());
  EXPECT_TRUE(key.service->verify(first->key_id, audit::signed_message(*first), first->signature));
  // Nothing new since: the same checkpoint, no new row.
  auto same = cat().sign_audit_head(key.id(), key.signer(), audit::kCheckpointShutdown, "r1", kT0 + 6);
  ASSERT_TRUE(same);
  EXPECT_EQ(same->n, 1);
  EXPECT_EQ(same->kind, audit::kCheckpointEvery);

  CAT_OK(cat().append_audit(entry("bob", "test.b", "t", kT0 + 10)));
  auto second = cat().sign_audit_head(key.id(), key.signer(), audit::kCheckpointShutdown, "r1", kT0 + 11);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(second->n, 2);
  EXPECT_EQ(second->seq, 4);
  EXPECT_EQ(second->prev_signature, first->signature);

  auto listed = cat().audit_checkpoints_after(0, 10);
  ASSERT_TRUE(listed) << listed.error().message;
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[1].signature, second->signature);
  EXPECT_EQ((*listed)[1].replica, "r1");
  EXPECT_EQ((*listed)[1].signed_at, kT0 + 11);
  EXPECT_EQ(cat().audit_checkpoints_after(1, 10)->size(), 1u);

  auto report = verify_catalog(cat(), key.service->trusted());
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_TRUE(report->ok) << report->reason;
  EXPECT_EQ(report->signed_through, 4);
  EXPECT_EQ(report->unsigned_entries, 0);
}

TEST_P(CatalogTest, ReplicasAppendingAndSigningAtOnceKeepOneVerifiableChain) {
  // Two replicas with their own keys; the verifier trusts both.
  TestKey a, b;
  keys::Keyring ring = a.service->trusted();
  ring.add(b.service->current());
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      const TestKey& key = t % 2 == 0 ? a : b;
      for (int i = 0; i < 12; ++i) {
        auto e = cat().append_audit(entry("replica-" + std::to_string(t), "test.append", std::to_string(i), kT0 + i));
        if (!e) {
          ++failures;
          continue;
        }
        if (e->seq % 3 == 0) {
          auto cp = cat().sign_audit_head(key.id(), key.signer(), audit::kCheckpointEvery, "replica-" + std::to_string(t), kT0);
          if (!cp) ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto report = verify_catalog(cat(), ring);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_TRUE(report->ok) << report->reason;
  EXPECT_EQ(report->entries, 48);
  EXPECT_GE(report->checkpoints, 1);
}

TEST_P(CatalogTest, PublishedKeysAreIdempotent) {
  CAT_OK(cat().publish_key({"k1", "ed25519", "AAAA", kT0}));
  CAT_OK(cat().publish_key({"k1", "ed25519", "BBBB", kT0 + 1}));  // first one stays
  CAT_OK(cat().publish_key({"k2", "ed25519", "CCCC", kT0 + 2}));
  auto keys = cat().list_published_keys();
  ASSERT_TRUE(keys) << keys.error().message;
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0].public_key, "AAAA");
  EXPECT_EQ((*keys)[1].key_id, "k2");
}

TEST_P(CatalogTest, LeasesHaveOneHolderUntilExpiry) {
  EXPECT_TRUE(*cat().acquire_lease("sweeper", "replica-a", kT0, 30000));
  EXPECT_FALSE(*cat().acquire_lease("sweeper", "replica-b", kT0 + 1000, 30000));
  // Renewal by the holder extends the lease.
  EXPECT_TRUE(*cat().acquire_lease("sweeper", "replica-a", kT0 + 20000, 30000));
  EXPECT_FALSE(*cat().acquire_lease("sweeper", "replica-b", kT0 + 40000, 30000));
  // Other lease names are independent.
  EXPECT_TRUE(*cat().acquire_lease("other", "replica-b", kT0, 30000));
  // After expiry another holder takes over, and the old holder is out.
  EXPECT_TRUE(*cat().acquire_lease("sweeper", "replica-b", kT0 + 50000, 30000));
  EXPECT_FALSE(*cat().acquire_lease("sweeper", "replica-a", kT0 + 51000, 30000));
  EXPECT_EQ(cat().acquire_lease("sweeper", "replica-a", kT0, 0).error().code, Errc::invalid_argument);
  EXPECT_EQ(cat().acquire_lease("", "replica-a", kT0, 1).error().code, Errc::invalid_argument);
}

TEST_P(CatalogTest, ConcurrentLeaseAttemptsHaveOneWinner) {
  std::atomic<int> winners{0}, failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      auto r = cat().acquire_lease("race", "holder-" + std::to_string(t), kT0, 60000);
      if (!r) {
        ++failures;
      } else if (*r) {
        ++winners;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(winners.load(), 1);
}

TEST_P(CatalogTest, LostPostgresConnectionIsUnavailableThenRecovers) {
  if (GetParam() != BackendKind::postgresql) {
    GTEST_SKIP() << "PostgreSQL only: SQLite and the in-memory fake have no connection to lose";
  }
  const std::string app = "catalog_kill_" + unique_suffix();
  auto made = make_catalog(url_ + "&application_name=" + app, 1);
  ASSERT_TRUE(made) << made.error().message;
  Catalog& c = **made;
  CAT_OK(c.create_pool(make_pool("pool-a", "Alpha")));
  int killed = 0;
  *admin_ << "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '" + app + "'",
      soci::into(killed);
  ASSERT_EQ(killed, 1);
  auto lost = c.get_pool("pool-a");
  ASSERT_FALSE(lost);
  EXPECT_EQ(lost.error().code, Errc::unavailable) << lost.error().message;
  // The pooled session reconnected for the next call.
  auto back = c.get_pool("pool-a");
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->name, "Alpha");
}

INSTANTIATE_TEST_SUITE_P(Backends, CatalogTest,
                         ::testing::Values(BackendKind::sqlite, BackendKind::postgresql, BackendKind::memory),
                         backend_name);

// --- factory ---------------------------------------------------------------

TEST(MakeCatalog, RejectsUnknownSchemesWithoutEchoingSecrets) {
  auto r = make_catalog("mysql://root:hunter2@db/x");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_EQ(r.error().message.find("hunter2"), std::string::npos);
  EXPECT_NE(r.error().message.find("mysql"), std::string::npos);
  EXPECT_EQ(make_catalog("sqlite://").error().code, Errc::invalid_argument);
  EXPECT_EQ(make_catalog("catalog.sqlite").error().code, Errc::invalid_argument);
  EXPECT_EQ(make_catalog("sqlite:///tmp/x.db", 0).error().code, Errc::invalid_argument);
}

TEST(MakeCatalog, UnreachablePostgresIsUnavailable) {
  auto r = make_catalog("postgresql://postgres:hunter2@127.0.0.1:1/none", 1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::unavailable);
  EXPECT_EQ(r.error().message.find("hunter2"), std::string::npos);
}

TEST(MakeCatalog, SqliteFileIsPrivateAndPlainPathsWork) {
  const auto dir = std::filesystem::temp_directory_path() / ("deskaudit-catalog-factory-" + unique_suffix());
  const auto db = dir / "a" / "b" / "catalog.db";
  {
    auto r = make_catalog("sqlite://" + db.string(), 2);
    ASSERT_TRUE(r) << r.error().message;
    CAT_OK((*r)->migrate());
    EXPECT_EQ((*r)->backend(), "sqlite");
  }
  struct stat st {};
  ASSERT_EQ(::stat(db.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(db.parent_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  {
    // A plain path ending in .db; the schema from before is still there.
    auto r = make_catalog(db.string(), 1);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_GE(*(*r)->schema_version(), 1);
  }
  std::filesystem::remove_all(dir);
}

TEST(CatalogTypes, EnumTextRoundTrips) {
  for (auto m : {RecordingMode::off, RecordingMode::session, RecordingMode::period}) {
    EXPECT_EQ(recording_mode_from(to_string(m)), m);
  }
  for (auto s : {RecordingStatus::recording, RecordingStatus::complete, RecordingStatus::interrupted}) {
    EXPECT_EQ(recording_status_from(to_string(s)), s);
  }
  EXPECT_FALSE(recording_mode_from("Session"));
  EXPECT_FALSE(recording_status_from(""));
  EXPECT_EQ(to_string(PolicySource::pool), "pool");
  EXPECT_EQ(to_string(TargetType::computer), "computer");
}

}  // namespace
}  // namespace deskaudit::catalog::test

// Verification of the audit chain and its signed checkpoints, in memory:
// what each kind of tampering with database access only is reported as.
#include <gtest/gtest.h>

#include <filesystem>

#include "audit/chain.hpp"
#include "common/crypto.hpp"
#include "common/fs.hpp"

namespace deskaudit::audit {
namespace {

class ChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("deskaudit-chain-" + random_id(""));
    ASSERT_TRUE(ensure_private_dir(dir_));
    key_ = open_key("a");
    ring_ = key_->trusted();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<keys::KeyService> open_key(const std::string& name) {
    keys::KeyOptions o;
    o.key_file = dir_ / (name + ".key");
    o.keyring_file = dir_ / (name + ".keyring");
    auto k = keys::KeyService::open(o);
    EXPECT_TRUE(k) << k.error().message;
    return std::move(*k);
  }

  void append(int count) {
    for (int i = 0; i < count; ++i) {
      Entry e;
      e.seq = static_cast<std::int64_t>(entries_.size()) + 1;
      e.time = 1'700'000'000'000 + e.seq;
      e.actor = "alice";
      e.action = "test.append";
      e.target = "t-" + std::to_string(e.seq);
      e.details_json = R"({"i":)" + std::to_string(e.seq) + "}";
      e.prev_hash = entries_.empty() ? "" : entries_.back().hash;
      e.hash = entry_hash(e);
      entries_.push_back(e);
    }
  }
  // Signs the head like the catalog does.
  void checkpoint(const keys::KeyService& key, std::string_view kind = kCheckpointEvery) {
    Checkpoint cp;
    cp.n = static_cast<std::int64_t>(cps_.size()) + 1;
    cp.seq = entries_.back().seq;
    cp.entry_hash = entries_.back().hash;
    cp.prev_signature = cps_.empty() ? "" : cps_.back().signature;
    cp.signed_at = 1'700'000'100'000;
    cp.kind = std::string(kind);
    cp.replica = "test";
    cp.key_id = key.current().key_id;
    cp.signature = key.sign(signed_message(cp)).signature;
    cps_.push_back(cp);
  }
  // Rewrites one entry's details and recomputes every later hash.
  void rewrite(std::int64_t seq) {
    auto& e = entries_[static_cast<std::size_t>(seq - 1)];
    e.details_json = R"({"i":"forged"})";
    for (auto i = static_cast<std::size_t>(seq - 1); i < entries_.size(); ++i) {
      if (i > 0) entries_[i].prev_hash = entries_[i - 1].hash;
      entries_[i].hash = entry_hash(entries_[i]);
    }
  }
  Report run(const std::optional<Witness>& witness = std::nullopt) {
    // Small batches so the streaming across batch borders is exercised.
    auto es = [&](std::int64_t after) -> Result<std::vector<Entry>> {
      std::vector<Entry> out;
      for (const auto& e : entries_) {
        if (e.seq > after && out.size() < 3) out.push_back(e);
      }
      return out;
    };
    auto cs = [&](std::int64_t after) -> Result<std::vector<Checkpoint>> {
      std::vector<Checkpoint> out;
      for (const auto& c : cps_) {
        if (c.n > after && out.size() < 2) out.push_back(c);
      }
      return out;
    };
    auto r = verify(es, cs, ring_, witness);
    EXPECT_TRUE(r) << r.error().message;
    return *r;
  }
  Witness witness_of_last() const { return Witness{cps_.back().n, cps_.back().seq, cps_.back().entry_hash}; }

  std::filesystem::path dir_;
  std::unique_ptr<keys::KeyService> key_;
  keys::Keyring ring_;
  std::vector<Entry> entries_;
  std::vector<Checkpoint> cps_;
};

TEST_F(ChainTest, IntactLogWithAnUnsignedTailIsOk) {
  append(4), checkpoint(*key_), append(4), checkpoint(*key_), append(2);
  auto r = run(witness_of_last());
  EXPECT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(r.entries, 10);
  EXPECT_EQ(r.checkpoints, 2);
  EXPECT_EQ(r.signed_through, 8);
  EXPECT_EQ(r.unsigned_entries, 2);
  EXPECT_EQ(r.last_hash, entries_.back().hash);
  EXPECT_EQ(r.key_ids, std::vector<std::string>{key_->current().key_id});
}

TEST_F(ChainTest, RewriteWithRecomputedHashesIsCaughtByTheNextCheckpoint) {
  append(4), checkpoint(*key_), append(4), checkpoint(*key_), append(2);
  rewrite(6);
  auto r = run();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 5);  // after the last checkpoint that still matches
  EXPECT_EQ(r.untrusted_through_seq, 8);
  EXPECT_NE(r.reason.find("rewritten"), std::string::npos) << r.reason;
}

TEST_F(ChainTest, CheckpointOnEveryEntryNamesTheExactRewrittenEntry) {
  for (int i = 0; i < 8; ++i) append(1), checkpoint(*key_);
  rewrite(6);
  auto r = run();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 6);
  EXPECT_EQ(r.untrusted_through_seq, 6);
}

TEST_F(ChainTest, EditWithoutRecomputingNamesTheEntry) {
  append(10), checkpoint(*key_);
  entries_[6].actor = "mallory";
  auto r = run();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 7);
  EXPECT_NE(r.reason.find("hash does not match"), std::string::npos) << r.reason;
}

TEST_F(ChainTest, CutOffNewestEntriesAreDetected) {
  append(4), checkpoint(*key_), append(4), checkpoint(*key_, kCheckpointShutdown);
  entries_.resize(6);
  auto r = run();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 5);
  EXPECT_EQ(r.untrusted_through_seq, 8);
  EXPECT_NE(r.reason.find("cut off"), std::string::npos) << r.reason;

  // Cutting the checkpoint too leaves a consistent catalog: only the
  // witness kept outside it tells.
  const auto w = witness_of_last();
  cps_.pop_back();
  EXPECT_TRUE(run().ok);
  r = run(w);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 5);
  EXPECT_EQ(r.untrusted_through_seq, 8);
  EXPECT_NE(r.reason.find("signed by this server, is missing"), std::string::npos) << r.reason;
}

TEST_F(ChainTest, DeletedOrAlteredCheckpointsAreDetected) {
  append(4), checkpoint(*key_), append(4), checkpoint(*key_), append(4), checkpoint(*key_);
  auto all = cps_;
  cps_.erase(cps_.begin() + 1);  // the middle one
  auto r = run();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 5);
  EXPECT_NE(r.reason.find("n=2..2 are missing"), std::string::npos) << r.reason;

  cps_ = all;
  cps_[1].seq = 7;  // pointed at another entry
  cps_[1].entry_hash = entries_[6].hash;
  r = run();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 5);
  EXPECT_NE(r.reason.find("does not match"), std::string::npos) << r.reason;

  // Renumbered to hide the gap: the next one's prev_signature no longer fits.
  cps_ = all;
  cps_.erase(cps_.begin() + 1);
  cps_[1].n = 2;
  r = run();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 5);
}

TEST_F(ChainTest, CheckpointsByAnUntrustedKeyAreRefused) {
  append(4), checkpoint(*key_), append(4);
  auto mallory = open_key("mallory");
  rewrite(6);
  checkpoint(*mallory);
  auto r = run();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 5);
  EXPECT_NE(r.reason.find("not a trusted key"), std::string::npos) << r.reason;
}

TEST_F(ChainTest, RotatedKeysKeepOldCheckpointsVerifiable) {
  append(4), checkpoint(*key_);
  const auto old_id = key_->current().key_id;
  auto rotated = key_->rotate();
  ASSERT_TRUE(rotated) << rotated.error().message;
  append(4), checkpoint(*key_);
  ring_ = key_->trusted();
  auto r = run();
  EXPECT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(r.key_ids, (std::vector<std::string>{old_id, rotated->key_id}));
  // Without the old public key the old checkpoint cannot be trusted.
  keys::Keyring only_new;
  only_new.add(*rotated);
  ring_ = only_new;
  r = run();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 1);
}

}  // namespace
}  // namespace deskaudit::audit

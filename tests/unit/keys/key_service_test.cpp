// The signing key service: key and keyring files, their modes, rotation, and
// clear errors for bad files.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "common/crypto.hpp"
#include "common/fs.hpp"
#include "keys/key_service.hpp"

namespace deskaudit::keys {
namespace {

class KeyServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("deskaudit-keys-" + random_id(""));
    ASSERT_TRUE(ensure_private_dir(dir_));
    options_.key_file = dir_ / "signing.key";
    options_.keyring_file = dir_ / "trusted-keys";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  static unsigned mode_of(const std::filesystem::path& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return st.st_mode & 07777;
  }
  std::filesystem::path dir_;
  KeyOptions options_;
};

TEST_F(KeyServiceTest, FirstStartCreatesA0600KeyAndTrustsIt) {
  auto svc = KeyService::open(options_);
  ASSERT_TRUE(svc) << svc.error().message;
  EXPECT_EQ(mode_of(options_.key_file), 0600u);
  EXPECT_EQ(mode_of(options_.keyring_file) & 0022u, 0u);
  const auto key = (*svc)->current();
  EXPECT_EQ(key.key_id.size(), 16u);
  EXPECT_EQ(key.key_id, key_id_of(key.bytes));

  const auto sig = (*svc)->sign("hello");
  EXPECT_EQ(sig.key_id, key.key_id);
  EXPECT_TRUE((*svc)->verify(sig.key_id, "hello", sig.signature));
  auto bad = (*svc)->verify(sig.key_id, "hellO", sig.signature);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::corrupt);
  auto unknown = (*svc)->verify("0000000000000000", "hello", sig.signature);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, Errc::not_found);

  // The keyring alone (what a verifier outside the server holds) verifies it.
  auto ring = Keyring::load(options_.keyring_file);
  ASSERT_TRUE(ring) << ring.error().message;
  ASSERT_EQ(ring->keys().size(), 1u);
  EXPECT_TRUE(ring->verify(sig.key_id, "hello", sig.signature));

  // A second start uses the same key.
  svc->reset();
  auto again = KeyService::open(options_);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ((*again)->current().key_id, key.key_id);
}

TEST_F(KeyServiceTest, RotationMakesANewKeyCurrentAndKeepsOldOnesTrusted) {
  auto svc = KeyService::open(options_);
  ASSERT_TRUE(svc) << svc.error().message;
  const auto old_sig = (*svc)->sign("before");
  auto next = (*svc)->rotate();
  ASSERT_TRUE(next) << next.error().message;
  EXPECT_NE(next->key_id, old_sig.key_id);
  EXPECT_EQ((*svc)->current().key_id, next->key_id);
  const auto new_sig = (*svc)->sign("after");
  EXPECT_EQ(new_sig.key_id, next->key_id);
  EXPECT_TRUE((*svc)->verify(old_sig.key_id, "before", old_sig.signature));
  EXPECT_TRUE((*svc)->verify(new_sig.key_id, "after", new_sig.signature));
  EXPECT_EQ(mode_of(options_.key_file), 0600u);

  // After a restart the rotated key is current and both stay trusted.
  svc->reset();
  auto again = KeyService::open(options_);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ((*again)->current().key_id, next->key_id);
  EXPECT_EQ((*again)->trusted().keys().size(), 2u);
  EXPECT_TRUE((*again)->verify(old_sig.key_id, "before", old_sig.signature));
}

TEST_F(KeyServiceTest, KeyFileReadableByOthersIsRefusedWithTheFix) {
  ASSERT_TRUE(KeyService::open(options_));
  ASSERT_EQ(::chmod(options_.key_file.c_str(), 0640), 0);
  auto r = KeyService::open(options_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_NE(r.error().message.find("0640"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("chmod 600 " + options_.key_file.string()), std::string::npos) << r.error().message;
}

TEST_F(KeyServiceTest, MalformedKeyFileIsAClearError) {
  ASSERT_TRUE(write_file_atomic(options_.key_file, "not base64 at all!\n", 0600));
  auto r = KeyService::open(options_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_NE(r.error().message.find(options_.key_file.string()), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("32-byte"), std::string::npos) << r.error().message;

  ASSERT_TRUE(write_file_atomic(options_.key_file, "# only a comment\n", 0600));
  r = KeyService::open(options_);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("holds no key"), std::string::npos) << r.error().message;
  // The bad file is left alone (never replaced by a new key).
  EXPECT_EQ(*read_file(options_.key_file), "# only a comment\n");
}

TEST_F(KeyServiceTest, KeyringWritableByOthersOrMalformedIsRefused) {
  ASSERT_TRUE(KeyService::open(options_));
  ASSERT_EQ(::chmod(options_.keyring_file.c_str(), 0666), 0);
  auto r = KeyService::open(options_);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("chmod 644"), std::string::npos) << r.error().message;

  ASSERT_TRUE(write_file_atomic(options_.keyring_file, "# ok\ned25519 AAAA\n", 0644));
  r = KeyService::open(options_);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("line 2"), std::string::npos) << r.error().message;
  EXPECT_FALSE(Keyring::parse("rsa AAAA", "x"));
}

TEST_F(KeyServiceTest, SeedFromTheEnvironmentIsDeterministicAndNotRotatedHere) {
  options_.seed_base64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";  // bytes 0..31
  auto a = KeyService::open(options_);
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_FALSE(std::filesystem::exists(options_.key_file));  // no key file is written
  auto b = KeyService::open(options_);
  ASSERT_TRUE(b);
  EXPECT_EQ((*a)->current().key_id, (*b)->current().key_id);
  auto rotated = (*a)->rotate();
  ASSERT_FALSE(rotated);
  EXPECT_EQ(rotated.error().code, Errc::conflict);

  options_.seed_base64 = "c2hvcnQ=";
  auto bad = KeyService::open(options_);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("DESKAUDIT_SIGNING_KEY"), std::string::npos);
}

TEST(Keyring, TextRoundTripsAndKeyIdsAreDerived) {
  Keyring ring;
  auto key = public_key_from_base64("A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=");
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_TRUE(ring.add(*key));
  EXPECT_FALSE(ring.add(*key));
  auto parsed = Keyring::parse(ring.to_text(), "test");
  ASSERT_TRUE(parsed) << parsed.error().message;
  ASSERT_EQ(parsed->keys().size(), 1u);
  EXPECT_EQ(parsed->keys()[0].key_id, key->key_id);
  EXPECT_EQ(parsed->keys()[0].base64(), "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=");
}

}  // namespace
}  // namespace deskaudit::keys

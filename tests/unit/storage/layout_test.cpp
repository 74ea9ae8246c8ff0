// The storage layout of recordings: valid keys for every id the server
// mints, and prefixes that never reach another recording's objects.
#include "storage/layout.hpp"

#include <gtest/gtest.h>

#include "common/crypto.hpp"
#include "storage/keys.hpp"
#include "storage/object_store.hpp"

namespace deskaudit::storage {
namespace {

const std::string kSha = sha256_hex("segment bytes");

TEST(Layout, KeysOfMintedIdsAreValid) {
  for (int i = 0; i < 200; ++i) {
    const auto computer = random_id("cc-");
    const auto recording = random_id("rec-");
    auto prefix = recording_prefix(computer, recording);
    ASSERT_TRUE(prefix) << prefix.error().message;
    EXPECT_EQ(*prefix, "recordings/" + computer + "/" + recording + "/");
    EXPECT_TRUE(validate_prefix(*prefix));
    for (const std::int64_t seq : {0LL, 1LL, 999'999LL, 1'000'000LL, 10'000'000LL}) {
      auto key = segment_key(computer, recording, seq, sha256_hex(std::to_string(i)));
      ASSERT_TRUE(key) << key.error().message;
      EXPECT_TRUE(validate_key(*key)) << *key << ": " << validate_key(*key).error().message;
      EXPECT_TRUE(key->starts_with(*prefix)) << *key;
    }
  }
}

TEST(Layout, SegmentKeyNamesSeqAndHash) {
  EXPECT_EQ(segment_key("cc-1", "rec-1", 7, kSha).value(),
            "recordings/cc-1/rec-1/000007-" + kSha.substr(0, 16) + ".mp4");
  EXPECT_EQ(segment_key("cc-1", "rec-1", 12'345'678, kSha).value(),
            "recordings/cc-1/rec-1/12345678-" + kSha.substr(0, 16) + ".mp4");
}

TEST(Layout, NoRecordingPrefixIsThePrefixOfAnother) {
  const std::vector<std::pair<std::string, std::string>> ids = {{"cc-1", "rec-1"},   {"cc-1", "rec-10"},
                                                                {"cc-1", "rec-1.0"}, {"cc-10", "rec-1"},
                                                                {"cc-1", "rec-1-"},  {"cc-2", "rec-1"}};
  for (const auto& [ca, ra] : ids) {
    for (const auto& [cb, rb] : ids) {
      if (ca == cb && ra == rb) continue;
      const auto a = recording_prefix(ca, ra).value();
      const auto b = recording_prefix(cb, rb).value();
      EXPECT_FALSE(b.starts_with(a)) << a << " covers " << b;
      // Nor does one recording's prefix cover another's segment keys.
      EXPECT_FALSE(segment_key(cb, rb, 0, kSha).value().starts_with(a)) << a;
    }
  }
}

TEST(Layout, ListingOnePrefixLeavesTheNeighboursOut) {
  const auto dir = std::filesystem::temp_directory_path() / random_id("layout-");
  auto store = make_object_store("file://" + dir.string()).value();
  const std::string bytes = "x";
  const auto data = std::as_bytes(std::span(bytes.data(), bytes.size()));
  for (const char* rec : {"rec-1", "rec-10", "rec-1x"}) {
    ASSERT_TRUE(store->put_bytes(segment_key("cc-1", rec, 0, kSha).value(), data));
  }
  auto listed = store->list(recording_prefix("cc-1", "rec-1").value());
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().key, segment_key("cc-1", "rec-1", 0, kSha).value());
  std::filesystem::remove_all(dir);
}

TEST(Layout, RefusesIdsThatAreNotOneComponent) {
  for (std::string_view bad : {"", ".", "..", "rec/1", "rec-1/", "/rec", "rec 1", "rec\\1", "r\xc3\xa9"}) {
    auto p = recording_prefix("cc-1", bad);
    ASSERT_FALSE(p) << "accepted recording id '" << bad << "'";
    EXPECT_EQ(p.error().code, Errc::invalid_argument);
    EXPECT_EQ(p.error().field, "recording_id");
    auto c = recording_prefix(bad, "rec-1");
    ASSERT_FALSE(c) << "accepted computer id '" << bad << "'";
    EXPECT_EQ(c.error().field, "computer_id");
  }
  EXPECT_FALSE(recording_prefix("cc-1", std::string(129, 'a')));
  EXPECT_TRUE(recording_prefix("cc-1", std::string(128, 'a')));
}

TEST(Layout, RefusesBadSeqAndHash) {
  EXPECT_EQ(segment_key("cc-1", "rec-1", -1, kSha).error().field, "seq");
  EXPECT_EQ(segment_key("cc-1", "rec-1", 0, "abc").error().field, "sha256");
  std::string upper = kSha;
  upper[0] = 'A';
  upper[1] = 'B';
  EXPECT_FALSE(segment_key("cc-1", "rec-1", 0, upper));
}

}  // namespace
}  // namespace deskaudit::storage

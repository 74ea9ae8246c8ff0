// Conformance: agents' signing keys (docs/evidence.md) and the signature a
// segment row keeps.
#include "catalog_fixture.hpp"
#include "catalog_helpers.hpp"

namespace deskaudit::catalog::test {
namespace {

AgentKey key(std::string id, std::string computer, EpochMs at) {
  return AgentKey{std::move(id), std::move(computer), "pub-" + std::to_string(at), at, std::nullopt};
}

std::vector<std::string> ids(const std::vector<AgentKey>& keys) {
  std::vector<std::string> out;
  for (const auto& k : keys) out.push_back(k.key_id);
  return out;
}

TEST_P(CatalogTest, AgentKeysRotateAndStayKnown) {
  CAT_OK(cat().create_computer(make_computer("cc-1", "one")));
  CAT_OK(cat().create_computer(make_computer("cc-2", "two")));
  auto first = cat().add_agent_key(key("k1", "cc-1", kT0));
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_TRUE(*first);
  auto again = cat().add_agent_key(key("k1", "cc-1", kT0 + kMinute));
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_FALSE(*again) << "the current key registered again changes nothing";
  EXPECT_EQ(cat().add_agent_key(key("k1", "cc-2", kT0)).error().code, Errc::conflict);

  ASSERT_TRUE(*cat().add_agent_key(key("k2", "cc-1", kT0 + kDay)));
  auto old = cat().get_agent_key("k1");
  ASSERT_TRUE(old) << old.error().message;
  ASSERT_TRUE(old->retired_at.has_value()) << "a newer key retires the older";
  EXPECT_EQ(*old->retired_at, kT0 + kDay);
  EXPECT_EQ(old->computer_id, "cc-1");
  EXPECT_EQ(old->public_key, "pub-" + std::to_string(kT0));
  EXPECT_EQ(cat().add_agent_key(key("k1", "cc-1", kT0 + 2 * kDay)).error().code, Errc::conflict)
      << "a retired key never becomes current again";
  auto current = cat().get_agent_key("k2");
  ASSERT_TRUE(current) << current.error().message;
  EXPECT_FALSE(current->retired_at.has_value());

  ASSERT_TRUE(*cat().add_agent_key(key("k3", "cc-2", kT0)));
  auto listed = cat().list_agent_keys("cc-1");
  ASSERT_TRUE(listed) << listed.error().message;
  EXPECT_EQ(ids(*listed), (std::vector<std::string>{"k1", "k2"})) << "oldest first, this computer's only";
  EXPECT_EQ(cat().get_agent_key("nope").error().code, Errc::not_found);
  EXPECT_TRUE(cat().list_agent_keys("cc-none")->empty());
  EXPECT_EQ(cat().add_agent_key(key("", "cc-1", kT0)).error().code, Errc::invalid_argument);

  // Recordings outlive their computer and stay verifiable: so do its keys.
  CAT_OK(cat().delete_computer("cc-2"));
  auto kept = cat().get_agent_key("k3");
  ASSERT_TRUE(kept) << kept.error().message;
  EXPECT_EQ(kept->computer_id, "cc-2");
}

TEST_P(CatalogTest, SegmentKeepsItsAgentSignature) {
  CAT_OK(cat().create_computer(make_computer("cc-1", "one")));
  CAT_OK(cat().create_recording(make_recording("rec-1", "cc-1", "alice", kT0)));
  Segment signed_seg{"rec-1", 0, "k/0.mp4", 10, sha_of("seg0"), 0, 1000, "{}", kT0, std::nullopt, "k1", "c2lnbmF0dXJl"};
  Segment unsigned_seg{"rec-1", 1, "k/1.mp4", 10, sha_of("seg1"), 1000, 1000, "{}", kT0, std::nullopt, "", ""};
  CAT_OK(cat().add_segment(signed_seg));
  CAT_OK(cat().add_segment(unsigned_seg));
  auto got = cat().get_segment("rec-1", 0);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->signature_key_id, "k1");
  EXPECT_EQ(got->signature, "c2lnbmF0dXJl");
  auto all = cat().list_segments("rec-1");
  ASSERT_TRUE(all) << all.error().message;
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].signature, "c2lnbmF0dXJl");
  EXPECT_EQ((*all)[1].signature_key_id, "");
  EXPECT_EQ((*all)[1].signature, "");
}

}  // namespace
}  // namespace deskaudit::catalog::test

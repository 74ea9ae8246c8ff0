// The agent's signed statement: the exact bytes (docs/evidence.md), the
// header, the media times, and the manifest's canonical text.
#include "evidence/segment_statement.hpp"

#include <gtest/gtest.h>

#include "evidence/manifest.hpp"

namespace deskaudit::evidence {
namespace {

TEST(SegmentStatement, SignedBytesAreTheDocumentedNineLines) {
  SegmentStatement s{"rec-abc", "cc-xyz", 12, std::string(64, 'a'), 1048576, 60000, 120040, "-"};
  EXPECT_EQ(signed_bytes(s), "deskaudit-segment/1\n"
                             "recording_id=rec-abc\n"
                             "computer_id=cc-xyz\n"
                             "seq=12\n"
                             "sha256=" + std::string(64, 'a') + "\n"
                             "size=1048576\n"
                             "first_media_ms=60000\n"
                             "last_media_ms=120040\n"
                             "events_sha256=-\n");
  s.events_sha256 = std::string(64, 'e');
  EXPECT_TRUE(signed_bytes(s).ends_with("\nevents_sha256=" + std::string(64, 'e') + "\n"));
  s.events_sha256.clear();  // absent is "-", never an empty value
  EXPECT_TRUE(signed_bytes(s).ends_with("\nevents_sha256=-\n"));
}

TEST(SegmentStatement, MediaTimesAreFirstTfdtAndEndOfLastFragmentRoundedHalfUp) {
  media::FragmentIndex i;
  i.timescale = 90000;
  i.fragments.push_back({0, 0, 45, 90000, 5, true});           // 0.5 ms -> 1
  i.fragments.push_back({0, 0, 90045, 89954, 5, false});       // ends at 179999 ticks -> 1999.99 ms -> 2000
  const auto t = media_times(i);
  EXPECT_EQ(t.first_ms, 1);
  EXPECT_EQ(t.last_ms, 2000);
  EXPECT_EQ(media_times(media::FragmentIndex{}).last_ms, 0);
}

TEST(SegmentStatement, SignatureHeaderShapeIsChecked) {
  const std::string sig(86, 'A');
  auto ok = parse_signature_header("0123456789abcdef:" + sig + "==");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->key_id, "0123456789abcdef");
  EXPECT_EQ(signature_header(*ok), "0123456789abcdef:" + sig + "==");
  for (const auto& bad : {std::string(""), "0123456789abcdef" + sig, "0123456789ABCDEF:" + sig + "==",
                                "0123456789abcde:" + sig + "==", "0123456789abcdef:" + sig, "0123456789abcdef:" + sig + "=\n"}) {
    EXPECT_FALSE(parse_signature_header(bad)) << bad;
  }
}

TEST(Manifest, CanonicalJsonHasSortedKeysNoWhitespaceAndRoundTrips) {
  Manifest m;
  m.recording_id = "rec-1";
  m.computer_id = "cc-1";
  m.computer_name = "desk \"one\"";
  m.username = "al\xC3\xAD" "ce";
  m.start_time_ms = 1'790'000'000'000;
  m.end_time_ms = 1'790'000'060'000;
  m.status = "complete";
  m.created_at_ms = 1'790'000'070'000;
  m.segments.push_back({0, std::string(64, '1'), 10, 0, 1000, "-", "0123456789abcdef", "sig"});
  m.segments.push_back({1, std::string(64, '2'), 20, 1000, 2000, std::string(64, 'e'), "", ""});
  m.agent_keys.push_back({"0123456789abcdef", "cc-1", "pk", 5, std::nullopt});
  const auto text = manifest_json(m);
  EXPECT_NE(text.find("\"computer_name\":\"desk \\\"one\\\"\""), std::string::npos) << text;
  EXPECT_EQ(text.find('\n'), std::string::npos);
  EXPECT_TRUE(text.starts_with("{\"agent_keys\":[{\"algorithm\":\"ed25519\",\"computer_id\":\"cc-1\""));
  EXPECT_NE(text.find("\"file\":\"segments/000001.m4s\""), std::string::npos);
  EXPECT_NE(text.find("\"agent_key_id\":null,\"agent_signature\":null"), std::string::npos);
  EXPECT_NE(text.find("al\xC3\xAD" "ce"), std::string::npos);  // UTF-8 as is
  auto back = parse_manifest(text);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(manifest_json(*back), text);
  // Out of order or malformed segments are refused, naming the field.
  auto swapped = m;
  std::swap(swapped.segments[0], swapped.segments[1]);
  auto refused = parse_manifest(manifest_json(swapped));
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("segments[1].seq"), std::string::npos);
}

}  // namespace
}  // namespace deskaudit::evidence

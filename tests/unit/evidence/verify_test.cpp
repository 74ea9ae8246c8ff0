// The offline verifier against packages built here as the server builds
// them (real segments from ffmpeg, an agent key and a server key): a good
// package verifies, and each kind of tampering is a named failure that names
// the file at fault.
#include "evidence/verify.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "common/crypto.hpp"
#include "common/fs.hpp"
#include "evidence/manifest.hpp"
#include "evidence/segment_statement.hpp"
#include "keys/key_service.hpp"
#include "media/fmp4.hpp"
#include "sample_media.hpp"
#include "server_process.hpp"

namespace deskaudit::evidence {
namespace {

namespace fs = std::filesystem;

std::unique_ptr<keys::KeyService> make_key(const fs::path& dir, const std::string& name) {
  auto k = keys::KeyService::open({dir / (name + ".key"), dir / (name + ".keys"), ""});
  EXPECT_TRUE(k) << k.error().message;
  return std::move(*k);
}

class VerifyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { segments_ = new std::vector<std::string>(testing::make_segments(3, 3)); }
  static void TearDownTestSuite() { delete segments_; }

  VerifyTest() {
    agent_key_ = make_key(dir_.path(), "agent");
    server_key_ = make_key(dir_.path(), "server");
    other_key_ = make_key(dir_.path(), "other");
    EXPECT_TRUE(write_file_atomic(dir_.path() / "pinned", server_key_->trusted().to_text(), 0644));
  }

  // Writes the package as the server does; `sign` may replace an agent signature.
  void build(const std::function<void(Manifest&)>& edit = {}) {
    std::error_code ec;
    fs::remove_all(pkg(), ec);
    fs::create_directories(pkg() / "segments");
    Manifest m;
    m.recording_id = "rec-test";
    m.computer_id = "cc-test";
    m.computer_name = "desk";
    m.username = "alice";
    m.start_time_ms = 1'790'000'000'000;
    m.end_time_ms = m.start_time_ms + 3000;
    m.status = "complete";
    m.created_at_ms = m.start_time_ms + 4000;
    const auto pub = agent_key_->current();
    m.agent_keys.push_back({pub.key_id, "cc-test", pub.base64(), m.start_time_ms, std::nullopt});
    std::vector<media::PlaylistSegment> plan_segments;
    for (std::size_t i = 0; i < segments_->size(); ++i) {
      const auto& bytes = (*segments_)[i];
      const auto seq = static_cast<std::int64_t>(i);
      EXPECT_TRUE(write_file_atomic(pkg() / segment_file_name(seq), bytes, 0644));
      auto index = media::index_segment(std::as_bytes(std::span(bytes.data(), bytes.size())));
      EXPECT_TRUE(index);
      const auto times = media_times(*index);
      std::string events_sha = "-";
      if (with_events_ && seq == 1) {
        fs::create_directories(pkg() / "events");
        EXPECT_TRUE(write_file_atomic(pkg() / events_file_name(seq), kEventsDocument, 0644));
        events_sha = sha256_hex(kEventsDocument);
      }
      const SegmentStatement st{m.recording_id, m.computer_id,  seq,           sha256_hex(bytes),
                                bytes.size(),   times.first_ms, times.last_ms, events_sha};
      const auto sig = agent_key_->sign(signed_bytes(st));
      m.segments.push_back(
          {seq, st.sha256, st.size_bytes, times.first_ms, times.last_ms, events_sha, sig.key_id, sig.signature});
      plan_segments.push_back({seq, std::move(*index)});
    }
    if (edit) edit(m);
    const auto& first = segments_->front();
    auto plan = media::build_download_plan(
        std::as_bytes(std::span(first.data(), plan_segments.front().index.init_size)), plan_segments,
        [&](std::int64_t seq, std::uint64_t off, std::uint64_t n) -> Result<std::string> {
          return (*segments_)[static_cast<std::size_t>(seq)].substr(off, n);
        });
    ASSERT_TRUE(plan) << plan.error().message;
    std::string mp4;
    for (const auto& p : plan->pieces) {
      mp4 += p.seq ? (*segments_)[static_cast<std::size_t>(*p.seq)].substr(p.offset, p.size) : p.inline_bytes;
    }
    EXPECT_TRUE(write_file_atomic(pkg() / "recording.mp4", mp4, 0644));
    const auto text = manifest_json(m);
    EXPECT_TRUE(write_file_atomic(pkg() / "manifest.json", text, 0644));
    EXPECT_TRUE(write_file_atomic(pkg() / "manifest.sig", manifest_signature_json(server_key_->sign(text)), 0644));
    EXPECT_TRUE(write_file_atomic(pkg() / "keys.json", keys_json(server_key_->trusted(), m.agent_keys), 0644));
  }

  VerifyReport verify(bool pinned = true) {
    VerifyOptions o;
    o.dir = pkg();
    if (pinned) o.server_key_file = dir_.path() / "pinned";
    auto r = verify_package(o);
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : VerifyReport{};
  }
  static std::string codes(const VerifyReport& r) {
    std::string out;
    for (const auto& f : r.failures) out += f.code + "[" + f.file + "] ";
    return out;
  }
  void flip_byte(const fs::path& file, std::uint64_t at) {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(at));
    char c = 0;
    f.get(c);
    f.seekp(static_cast<std::streamoff>(at));
    f.put(static_cast<char>(c ^ 0x01));
  }
  fs::path pkg() const { return dir_.path() / "pkg"; }

  static constexpr std::string_view kEventsDocument =
      R"({"recording_id":"rec-test","seq":1,"events":[{"t_ms":1200,"type":"app_focus","app":"firefox"}]})";
  bool with_events_ = false;  // segment 1 carries an events document
  static inline std::vector<std::string>* segments_ = nullptr;
  testing::TempDir dir_{"verify"};
  std::unique_ptr<keys::KeyService> agent_key_, server_key_, other_key_;
};

TEST_F(VerifyTest, AnIntactPackageVerifiesWithThePinnedKeyAndWarnsWhenTrustingThePackage) {
  build();
  auto r = verify();
  EXPECT_TRUE(r.ok) << codes(r);
  EXPECT_EQ(r.segments, 3);
  EXPECT_EQ(r.unsigned_segments, 0);
  EXPECT_FALSE(r.trusted_on_package);
  EXPECT_TRUE(r.warnings.empty());
  EXPECT_GT(r.mp4_bytes, 0u);
  auto trusting = verify(false);
  EXPECT_TRUE(trusting.ok) << codes(trusting);
  EXPECT_TRUE(trusting.trusted_on_package);
  ASSERT_EQ(trusting.warnings.size(), 1u);
  EXPECT_NE(trusting.warnings[0].find("trust on package"), std::string::npos);
}

TEST_F(VerifyTest, AChangedByteInASegmentNamesThatFile) {
  build();
  flip_byte(pkg() / "segments/000001.m4s", 2000);
  auto r = verify();
  EXPECT_FALSE(r.ok);
  ASSERT_EQ(r.failures.size(), 1u) << codes(r);
  EXPECT_EQ(r.failures[0].code, "segment_hash_mismatch");
  EXPECT_EQ(r.failures[0].file, "segments/000001.m4s");
}

TEST_F(VerifyTest, EventDocumentsAreCheckedAgainstTheSignedEventsDigest) {
  with_events_ = true;
  build();
  auto r = verify();
  EXPECT_TRUE(r.ok) << codes(r);
  EXPECT_EQ(r.event_documents, 1);
  EXPECT_TRUE(r.warnings.empty());

  flip_byte(pkg() / "events/000001.json", 10);
  r = verify();
  ASSERT_EQ(r.failures.size(), 1u) << codes(r);
  EXPECT_EQ(r.failures[0].code, "events_hash_mismatch");
  EXPECT_EQ(r.failures[0].file, "events/000001.json");

  build();
  fs::remove(pkg() / "events/000001.json");
  r = verify();
  EXPECT_TRUE(r.ok) << codes(r);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("no events document"), std::string::npos) << r.warnings[0];

  build();
  ASSERT_TRUE(write_file_atomic(pkg() / events_file_name(2), std::string(kEventsDocument), 0644));
  r = verify();
  ASSERT_EQ(r.failures.size(), 1u) << codes(r);
  EXPECT_EQ(r.failures[0].code, "events_extra");
  EXPECT_EQ(r.failures[0].file, "events/000002.json");
}

TEST_F(VerifyTest, AChangedByteInTheMp4NamesItsOffset) {
  build();
  flip_byte(pkg() / "recording.mp4", 5000);
  auto r = verify();
  ASSERT_EQ(r.failures.size(), 1u) << codes(r);
  EXPECT_EQ(r.failures[0].code, "mp4_mismatch");
  EXPECT_NE(r.failures[0].message.find("at byte 5000"), std::string::npos) << r.failures[0].message;
}

TEST_F(VerifyTest, ARemovedSegmentIsNamed) {
  build();
  fs::remove(pkg() / "segments/000002.m4s");
  auto r = verify();
  ASSERT_EQ(r.failures.size(), 1u) << codes(r);
  EXPECT_EQ(r.failures[0].code, "segment_missing");
  EXPECT_EQ(r.failures[0].file, "segments/000002.m4s");
}

TEST_F(VerifyTest, SwappedSegmentsAreNamedAsReordered) {
  build();
  fs::rename(pkg() / "segments/000000.m4s", pkg() / "tmp");
  fs::rename(pkg() / "segments/000001.m4s", pkg() / "segments/000000.m4s");
  fs::rename(pkg() / "tmp", pkg() / "segments/000001.m4s");
  auto r = verify();
  ASSERT_EQ(r.failures.size(), 2u) << codes(r);
  EXPECT_EQ(r.failures[0].code, "segments_swapped");
  EXPECT_EQ(r.failures[0].file, "segments/000000.m4s");
  EXPECT_NE(r.failures[0].message.find("bytes of segment 1"), std::string::npos);
  EXPECT_EQ(r.failures[1].code, "segments_swapped");
}

TEST_F(VerifyTest, AManifestEditedAndRehashedWithoutTheKeyFailsItsSignature) {
  build();
  // Change a segment, then put its new hash into the manifest: the file
  // checks out against the manifest, but the manifest no longer against the key.
  flip_byte(pkg() / "segments/000001.m4s", 2000);
  const auto new_sha = sha256_file_hex(pkg() / "segments/000001.m4s").value();
  auto text = read_file(pkg() / "manifest.json").value();
  const auto old_sha = sha256_hex((*segments_)[1]);
  text.replace(text.find(old_sha), old_sha.size(), new_sha);
  ASSERT_TRUE(write_file_atomic(pkg() / "manifest.json", text, 0644));
  auto r = verify();
  ASSERT_EQ(r.failures.size(), 1u) << codes(r);
  EXPECT_EQ(r.failures[0].code, "manifest_signature_invalid");
  EXPECT_EQ(r.failures[0].file, "manifest.json");
  // Re-signed with a key of one's own and that key put into keys.json: the
  // pinned key refuses it; trusting the package would not (hence the warning).
  ASSERT_TRUE(write_file_atomic(pkg() / "manifest.sig", manifest_signature_json(other_key_->sign(text)), 0644));
  ASSERT_TRUE(write_file_atomic(pkg() / "keys.json", keys_json(other_key_->trusted(), {}), 0644));
  auto pinned = verify();
  ASSERT_EQ(pinned.failures.size(), 1u) << codes(pinned);
  EXPECT_EQ(pinned.failures[0].code, "server_key_untrusted");
}

TEST_F(VerifyTest, AnAgentSignatureByAnotherKeyOrAnUnlistedKeyIsNamed) {
  build([&](Manifest& m) {
    const SegmentStatement st{m.recording_id, m.computer_id, 1, m.segments[1].sha256, m.segments[1].size_bytes,
                              m.segments[1].first_media_ms, m.segments[1].last_media_ms, "-"};
    m.segments[1].agent_signature = other_key_->sign(signed_bytes(st)).signature;  // wrong key, same key id
    m.segments[2].agent_key_id = other_key_->current().key_id;                     // a key not listed
  });
  auto r = verify();
  ASSERT_EQ(r.failures.size(), 2u) << codes(r);
  EXPECT_EQ(r.failures[0].code, "agent_signature_invalid");
  EXPECT_EQ(r.failures[0].file, "segments/000001.m4s");
  EXPECT_EQ(r.failures[1].code, "agent_key_unknown");
}

TEST_F(VerifyTest, UnsignedSegmentsAreAWarningAndExtraFilesAFailure) {
  build([](Manifest& m) {
    m.segments[0].agent_key_id.clear();
    m.segments[0].agent_signature.clear();
  });
  auto r = verify();
  EXPECT_TRUE(r.ok) << codes(r);
  EXPECT_EQ(r.unsigned_segments, 1);
  ASSERT_EQ(r.warnings.size(), 1u);
  ASSERT_TRUE(write_file_atomic(pkg() / "segments/000009.m4s", "x", 0644));
  auto extra = verify();
  ASSERT_EQ(extra.failures.size(), 1u) << codes(extra);
  EXPECT_EQ(extra.failures[0].code, "segment_extra");
}

TEST_F(VerifyTest, MissingManifestOrSignatureAndABadKeyFileAreNamed) {
  build();
  fs::remove(pkg() / "manifest.sig");
  EXPECT_EQ(verify().failures.at(0).code, "manifest_signature_missing");
  fs::remove(pkg() / "manifest.json");
  EXPECT_EQ(verify().failures.at(0).code, "manifest_missing");
  VerifyOptions o{pkg(), dir_.path() / "absent"};
  EXPECT_FALSE(verify_package(o));
  o = {dir_.path() / "no-such-dir", std::nullopt};
  EXPECT_EQ(verify_package(o).error().code, Errc::invalid_argument);
}

}  // namespace
}  // namespace deskaudit::evidence

// Evidence against the in-memory fakes: the agent's segment signature at
// upload (accepted and stored; missing, malformed, unknown, foreign, retired
// and bad keys refused with their codes; retries; agents without a key), the
// signed manifest (written once, kept), and the evidence package (scoped,
// audited before a byte, 503 without the audit entry) that the offline
// verifier accepts.
#include "service/evidence_service.hpp"

#include <gtest/gtest.h>

#include "common/fs.hpp"
#include "evidence/segment_statement.hpp"
#include "evidence/tar.hpp"
#include "evidence/verify.hpp"
#include "recordings_fixture.hpp"
#include "server_process.hpp"
#include "service/agent_service.hpp"
#include "service/event_service.hpp"

namespace deskaudit::service::test {
namespace {

using namespace catalog;

std::unique_ptr<keys::KeyService> key_in(const std::filesystem::path& dir, const std::string& name) {
  auto k = keys::KeyService::open({dir / (name + ".key"), dir / (name + ".keys"), ""});
  EXPECT_TRUE(k) << k.error().message;
  return std::move(*k);
}

class EvidenceTest : public RecordingsTest {
 protected:
  EvidenceTest() {
    EnrollmentToken t;
    t.id = "enr-1";
    t.token_sha256 = sha256_hex("det_x");
    t.pool_id = "pool-a";
    t.created_at = kT0;
    EXPECT_TRUE(catalog.create_enrollment_token(t));
    agent_key = key_in(dir.path(), "agent");
    other_key = key_in(dir.path(), "other");
    auto e = agents.enroll({"det_x", "desk-1", "Linux", "0.2.0", "", agent_key->current().base64()});
    EXPECT_TRUE(e) << e.error().message;
    agent = Caller{"agent:" + e->computer.id, "", e->computer.id, {}};
    auto o = agents.enroll({"det_x", "desk-2", "Linux", "0.2.0", "", other_key->current().base64()});
    EXPECT_TRUE(o) << o.error().message;
    other = Caller{"agent:" + o->computer.id, "", o->computer.id, {}};
    auto old = agents.enroll({"det_x", "desk-old", "Linux", "0.1.0", ""});  // an agent from before: no key
    EXPECT_TRUE(old);
    legacy = Caller{"agent:" + old->computer.id, "", old->computer.id, {}};
  }

  Recording start(const Caller& who) { return agents.start_recording(who, {"alice", kT0}).value(); }

  // The upload of sample segment `seq`, signed by `key` (nullptr: unsigned).
  ReceivedSegment upload(const Recording& rec, std::int64_t seq, const keys::KeyService* key,
                         std::optional<std::string> events_sha256 = std::nullopt) {
    const auto& bytes = sample_segments().at(static_cast<std::size_t>(seq));
    const auto file = dir.path() / ("up-" + random_id(""));
    EXPECT_TRUE(write_file_atomic(file, bytes, 0600));
    const auto sha = sha256_hex(bytes);
    ReceivedSegment in{seq,          sha,  sha,
                       bytes.size(), file, storage::segment_key(rec.computer_id, rec.id, seq, sha).value(),
                       events_sha256};
    if (key != nullptr) {
      auto index = media::index_segment(std::as_bytes(std::span(bytes.data(), bytes.size())));
      const auto t = evidence::media_times(*index);
      const auto sig = key->sign(evidence::signed_bytes(
          {rec.id, rec.computer_id, seq, sha, bytes.size(), t.first_ms, t.last_ms, events_sha256.value_or("-")}));
      in.signature = evidence::signature_header({sig.key_id, sig.signature});
    }
    return in;
  }
  static std::string reason(const Result<SegmentAccepted>& r) {
    return r ? std::string("accepted") : std::string(signature_refusal(r.error()));
  }

  deskaudit::testing::TempDir dir{"evidence-svc"};
  std::unique_ptr<keys::KeyService> server_key = key_in(dir.path(), "server");
  std::unique_ptr<keys::KeyService> agent_key, other_key;
  AgentService agents{catalog, store, audit, clock, AgentSettings{}};
  EvidenceService evidence_svc{catalog, store, audit, clock, *server_key, recordings, media};
  EventService events{catalog, store, audit, clock, recordings};
  Caller agent, other, legacy;
};

TEST_F(EvidenceTest, EnrollmentRegistersTheKeyAndANewKeyRetiresTheOldOne) {
  auto keys = catalog.list_agent_keys(agent.computer_id).value();
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].key_id, agent_key->current().key_id);
  EXPECT_FALSE(keys[0].retired_at);
  // Another computer cannot take that key.
  EXPECT_EQ(agents.register_key(other, agent_key->current().base64()).error().code, Errc::conflict);
  EXPECT_EQ(agents.register_key(agent, "not a key").error().code, Errc::invalid_argument);
  auto same = agents.register_key(agent, agent_key->current().base64());
  ASSERT_TRUE(same);
  EXPECT_FALSE(same->inserted);
  clock->advance(1000);
  const auto old_id = agent_key->current().key_id;
  ASSERT_TRUE(agent_key->rotate());
  auto fresh = agents.register_key(agent, agent_key->current().base64());
  ASSERT_TRUE(fresh) << fresh.error().message;
  EXPECT_TRUE(fresh->inserted);
  keys = catalog.list_agent_keys(agent.computer_id).value();
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].key_id, old_id);
  EXPECT_EQ(keys[0].retired_at, kT0 + 1000);
  EXPECT_FALSE(keys[1].retired_at);
  EXPECT_EQ(audit_entries("agent.key_register").size(), 1u);
}

TEST_F(EvidenceTest, SignedUploadsAreVerifiedAndKeptAndBadOnesRefusedWithTheirCode) {
  const auto rec = start(agent);
  auto ok = agents.accept_segment(agent, rec, upload(rec, 0, agent_key.get()));
  ASSERT_TRUE(ok) << ok.error().message;
  const auto stored = catalog.get_segment(rec.id, 0).value();
  EXPECT_EQ(stored.signature_key_id, agent_key->current().key_id);
  EXPECT_FALSE(stored.events_sha256.has_value());
  EXPECT_FALSE(stored.signature.empty());
  // A retry with the same bytes: already there.
  auto again = agents.accept_segment(agent, rec, upload(rec, 0, agent_key.get()));
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->inserted);

  EXPECT_EQ(reason(agents.accept_segment(agent, rec, upload(rec, 1, nullptr))), "signature_missing");
  auto foreign = agents.accept_segment(agent, rec, upload(rec, 1, other_key.get()));
  EXPECT_EQ(reason(foreign), "signature_key_foreign");
  EXPECT_EQ(foreign.error().code, Errc::permission_denied);
  auto bad = upload(rec, 1, agent_key.get());
  bad.signature = bad.signature->substr(0, 17) + (bad.signature->at(17) == 'A' ? "B" : "A") + bad.signature->substr(18);
  auto invalid = agents.accept_segment(agent, rec, bad);
  EXPECT_EQ(reason(invalid), "signature_invalid");
  EXPECT_EQ(invalid.error().code, Errc::unprocessable);
  // Signed for another seq (a replayed signature): does not verify for this one.
  auto replayed = upload(rec, 1, agent_key.get());
  replayed.signature = upload(rec, 0, agent_key.get()).signature;
  EXPECT_EQ(reason(agents.accept_segment(agent, rec, replayed)), "signature_invalid");
  auto malformed = upload(rec, 1, agent_key.get());
  malformed.signature = "nope";
  EXPECT_EQ(reason(agents.accept_segment(agent, rec, malformed)), "signature_malformed");
  auto unknown_key = key_in(dir.path(), "unknown");
  EXPECT_EQ(reason(agents.accept_segment(agent, rec, upload(rec, 1, unknown_key.get()))), "signature_key_unknown");
  EXPECT_FALSE(catalog.get_segment(rec.id, 1));
  const auto refused = audit_entries("segment.signature_refused");
  EXPECT_EQ(refused.size(), 6u);
  // After a rotation the new key uploads.
  ASSERT_TRUE(other_key->rotate());
  const auto other_rec = start(other);
  ASSERT_TRUE(agents.register_key(other, other_key->current().base64()));
  EXPECT_EQ(reason(agents.accept_segment(other, other_rec, upload(other_rec, 0, other_key.get()))), "accepted");
}

TEST_F(EvidenceTest, AgentsWithoutAKeyUploadUnsignedSegments) {
  const auto rec = start(legacy);
  auto r = agents.accept_segment(legacy, rec, upload(rec, 0, nullptr));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(catalog.get_segment(rec.id, 0)->signature_key_id.empty());
  // A signature naming someone else's key is still refused.
  EXPECT_EQ(reason(agents.accept_segment(legacy, rec, upload(rec, 1, agent_key.get()))), "signature_key_foreign");
}

TEST_F(EvidenceTest, ARetiredKeyIsRefused) {
  const auto rec = start(agent);
  auto old_copy = key_in(dir.path(), "agent-old");
  // Register a second key, retiring the enrolled one; then sign with the enrolled one.
  clock->advance(1000);
  ASSERT_TRUE(agents.register_key(agent, old_copy->current().base64()));
  auto retired = agents.accept_segment(agent, rec, upload(rec, 0, agent_key.get()));
  EXPECT_EQ(reason(retired), "signature_key_retired");
  EXPECT_EQ(retired.error().code, Errc::permission_denied);
  EXPECT_EQ(reason(agents.accept_segment(agent, rec, upload(rec, 0, old_copy.get()))), "accepted");
}

TEST_F(EvidenceTest, TheManifestIsWrittenOnceSignedByTheServerKey) {
  auto rec = start(agent);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(agents.accept_segment(agent, rec, upload(rec, i, agent_key.get())));
  auto open = evidence_svc.manifest(catalog.get_recording(rec.id).value());
  ASSERT_TRUE(open) << open.error().message;
  EXPECT_FALSE(open->stored);
  EXPECT_FALSE(memory_store.head(storage::manifest_key(rec.computer_id, rec.id).value()).value());
  rec = agents.finish_recording(agent, rec.id, {kT0 + 18'000, RecordingStatus::complete}).value();
  auto m = evidence_svc.manifest(rec);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_TRUE(m->stored);
  EXPECT_TRUE(server_key->verify(m->signature.key_id, m->manifest_json, m->signature.signature));
  auto parsed = evidence::parse_manifest(m->manifest_json).value();
  ASSERT_EQ(parsed.segments.size(), 3u);
  EXPECT_EQ(parsed.segments[2].agent_key_id, agent_key->current().key_id);
  EXPECT_EQ(parsed.status, "complete");
  ASSERT_EQ(parsed.agent_keys.size(), 1u);
  clock->advance(60'000);
  auto again = evidence_svc.manifest(rec);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->manifest_json, m->manifest_json);  // kept, not rewritten
  // A stored manifest that no longer parses is corrupt, not replaced.
  ASSERT_TRUE(put_text(memory_store, storage::manifest_key(rec.computer_id, rec.id).value(), "{}"));
  EXPECT_EQ(evidence_svc.manifest(rec).error().code, Errc::corrupt);
}

TEST_F(EvidenceTest, TheExportIsScopedAuditedAndVerifiesOffline) {
  auto rec = start(agent);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(agents.accept_segment(agent, rec, upload(rec, i, agent_key.get())));
  rec = agents.finish_recording(agent, rec.id, {kT0 + 18'000, RecordingStatus::complete}).value();
  const auto outsider = admin_caller("bob", "auditor-download", "pool-b");
  EXPECT_EQ(evidence_svc.export_package(outsider, rec.id).error().code, Errc::not_found);
  EXPECT_EQ(evidence_svc.export_package(auditor_a, rec.id).error().code, Errc::not_found);  // no download permission
  catalog.fail_next("append_audit", Error{Errc::unavailable, "audit down"});
  EXPECT_EQ(evidence_svc.export_package(admin, rec.id).error().code, Errc::unavailable);
  auto file = evidence_svc.export_package(admin, rec.id);
  ASSERT_TRUE(file) << file.error().message;
  EXPECT_TRUE(file->file_name.ends_with("_evidence.tar"));
  const auto exports = audit_entries("recording.export");
  ASSERT_EQ(exports.size(), 1u);
  EXPECT_EQ(exports[0].target, rec.id);
  std::string tar;
  ASSERT_TRUE(file->read(0, file->size_bytes, [&](std::span<const std::byte> b) {
    tar.append(reinterpret_cast<const char*>(b.data()), b.size());
    return true;
  }));
  ASSERT_TRUE(write_file_atomic(dir.path() / "p.tar", tar, 0600));
  auto names = evidence::untar(dir.path() / "p.tar", dir.path() / "pkg");
  ASSERT_TRUE(names) << names.error().message;
  EXPECT_EQ(*names, (std::vector<std::string>{"recording.mp4", "segments/000000.m4s", "segments/000001.m4s",
                                              "segments/000002.m4s", "manifest.json", "manifest.sig", "keys.json"}));
  ASSERT_TRUE(write_file_atomic(dir.path() / "pinned", server_key->trusted().to_text(), 0644));
  auto report = evidence::verify_package({dir.path() / "pkg", dir.path() / "pinned"});
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_TRUE(report->ok) << evidence::to_json(*report).dump();
  EXPECT_EQ(report->segments, 3);
  EXPECT_EQ(report->unsigned_segments, 0);
  // recording.mp4 is the download, byte for byte.
  auto download = media.download(admin, rec.id, ReadExtent::whole).value();
  std::string mp4;
  ASSERT_TRUE(download.read(0, download.size_bytes, [&](std::span<const std::byte> b) {
    mp4.append(reinterpret_cast<const char*>(b.data()), b.size());
    return true;
  }));
  EXPECT_EQ(read_file(dir.path() / "pkg" / "recording.mp4", 64u << 20).value(), mp4);
}

TEST_F(EvidenceTest, TheExportCarriesEachStoredEventsDocumentAndVerifyChecksIt) {
  auto rec = start(agent);
  // Segment 1 as agents write it (version 2), segment 2 as older ones did.
  const auto body = nlohmann::json{{"format", "deskaudit-events/2"},
                                   {"recording_id", rec.id},
                                   {"seq", 1},
                                   {"events", nlohmann::json::parse(R"([[10,"s","xterm",7],[5,"x",7]])")}}
                        .dump();
  const auto body_v1 =
      nlohmann::json{{"format", "deskaudit-events/1"},
                     {"recording_id", rec.id},
                     {"seq", 2},
                     {"events", {{{"t_ms", 10}, {"type", "app.start"}, {"process", "xterm"}, {"pid", 7}}}}}
          .dump();
  ASSERT_TRUE(events.accept_document(agent, rec, {1, sha256_hex(body), body}));
  ASSERT_TRUE(events.accept_document(agent, rec, {2, sha256_hex(body_v1), body_v1}));
  for (int i = 0; i < 3; ++i) {
    auto up = upload(rec, i, agent_key.get(),
                     i == 1   ? std::optional(sha256_hex(body))
                     : i == 2 ? std::optional(sha256_hex(body_v1))
                              : std::nullopt);
    auto accepted = agents.accept_segment(agent, rec, up);
    ASSERT_TRUE(accepted) << accepted.error().message;
  }
  rec = agents.finish_recording(agent, rec.id, {kT0 + 18'000, RecordingStatus::complete}).value();
  auto file = evidence_svc.export_package(admin, rec.id);
  ASSERT_TRUE(file) << file.error().message;
  std::string tar;
  ASSERT_TRUE(file->read(0, file->size_bytes, [&](std::span<const std::byte> b) {
    tar.append(reinterpret_cast<const char*>(b.data()), b.size());
    return true;
  }));
  ASSERT_TRUE(write_file_atomic(dir.path() / "p.tar", tar, 0600));
  auto names = evidence::untar(dir.path() / "p.tar", dir.path() / "pkg");
  ASSERT_TRUE(names) << names.error().message;
  EXPECT_EQ(*names, (std::vector<std::string>{"recording.mp4", "segments/000000.m4s", "segments/000001.m4s",
                                              "segments/000002.m4s", "events/000001.json", "events/000002.json",
                                              "manifest.json", "manifest.sig", "keys.json"}));
  EXPECT_EQ(read_file(dir.path() / "pkg" / "events/000001.json", 1u << 20).value(), body);
  EXPECT_EQ(read_file(dir.path() / "pkg" / "events/000002.json", 1u << 20).value(), body_v1);
  EXPECT_EQ(audit_entries("recording.export").at(0).details_json.find("\"event_documents\":2") != std::string::npos,
            true);
  ASSERT_TRUE(write_file_atomic(dir.path() / "pinned", server_key->trusted().to_text(), 0644));
  auto report = evidence::verify_package({dir.path() / "pkg", dir.path() / "pinned"});
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_TRUE(report->ok) << evidence::to_json(*report).dump();
  EXPECT_EQ(report->event_documents, 2);
  // A changed events document is named.
  auto edited = body;
  edited.replace(edited.find("xterm"), 5, "xkill");
  ASSERT_TRUE(write_file_atomic(dir.path() / "pkg" / "events/000001.json", edited, 0644));
  report = evidence::verify_package({dir.path() / "pkg", dir.path() / "pinned"});
  ASSERT_TRUE(report);
  EXPECT_FALSE(report->ok);
  ASSERT_EQ(report->failures.size(), 1u) << evidence::to_json(*report).dump();
  EXPECT_EQ(report->failures[0].code, "events_hash_mismatch");
  EXPECT_EQ(report->failures[0].file, "events/000001.json");
}

}  // namespace
}  // namespace deskaudit::service::test

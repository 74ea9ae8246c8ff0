#include "service/evidence_service.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "auth/permissions.hpp"

#include "evidence/segment_statement.hpp"
#include "evidence/tar.hpp"
#include "media/fmp4.hpp"
#include "storage/layout.hpp"

namespace deskaudit::service {
namespace {

using catalog::Recording;
using Json = nlohmann::json;

constexpr std::string_view kStoredFormat = "deskaudit-stored-manifest/1";
constexpr std::uint64_t kMaxStoredManifestBytes = 256u << 20;

std::string stored_text(const SignedManifest& m) {
  return Json{{"format", std::string(kStoredFormat)},
              {"manifest", m.manifest_json},
              {"signature", {{"key_id", m.signature.key_id}, {"signature", m.signature.signature}}}}
      .dump();
}

Result<SignedManifest> from_stored(std::string_view text, std::string_view key) {
  const auto j = Json::parse(text, nullptr, false);
  const auto bad = [&] { return fail(Errc::corrupt, "the stored manifest " + std::string(key) + " is unreadable"); };
  if (j.is_discarded() || !j.is_object() || j.value("format", "") != kStoredFormat) return bad();
  const auto m = j.find("manifest");
  const auto s = j.find("signature");
  if (m == j.end() || !m->is_string() || s == j.end() || !s->is_object()) return bad();
  const auto key_id = s->find("key_id");
  const auto sig = s->find("signature");
  if (key_id == s->end() || !key_id->is_string() || sig == s->end() || !sig->is_string()) return bad();
  SignedManifest out;
  out.manifest_json = m->get<std::string>();
  out.signature = {key_id->get<std::string>(), sig->get<std::string>()};
  auto parsed = evidence::parse_manifest(out.manifest_json);
  if (!parsed) return std::unexpected(with_context(parsed.error(), "the stored manifest " + std::string(key)));
  out.agent_keys = std::move(parsed->agent_keys);
  out.stored = true;
  return out;
}

}  // namespace

EvidenceService::EvidenceService(catalog::Catalog& catalog, storage::ObjectStore& store, AuditLog& audit,
                                 std::shared_ptr<const Clock> clock, const keys::KeyService& keys,
                                 RecordingService& recordings, MediaService& media)
    : catalog_(catalog),
      store_(store),
      audit_(audit),
      clock_(std::move(clock)),
      keys_(keys),
      recordings_(recordings),
      media_(media) {}

Result<SignedManifest> EvidenceService::build(const Recording& rec) {
  auto segments = catalog_.list_segments(rec.id);
  if (!segments) return std::unexpected(segments.error());
  auto agent_keys = catalog_.list_agent_keys(rec.computer_id);
  if (!agent_keys) return std::unexpected(agent_keys.error());
  evidence::Manifest m;
  m.recording_id = rec.id;
  m.computer_id = rec.computer_id;
  m.computer_name = rec.computer_name;
  m.pool_id = rec.pool_id;
  m.policy_id = rec.policy_id;
  m.policy_name = rec.policy_name;
  m.username = rec.username;
  m.start_time_ms = rec.start_time;
  m.end_time_ms = rec.end_time;
  m.status = std::string(catalog::to_string(rec.status));
  m.created_at_ms = clock_->now_ms();
  for (const auto& seg : *segments) {
    auto index = media::fragment_index_from_json(Json::parse(seg.index_json, nullptr, false));
    if (!index) return std::unexpected(with_context(index.error(), "segment " + std::to_string(seg.seq) + " index"));
    const auto times = evidence::media_times(*index);
    evidence::ManifestSegment ms;
    ms.seq = seg.seq;
    ms.sha256 = seg.sha256;
    ms.size_bytes = static_cast<std::uint64_t>(std::max<std::int64_t>(0, seg.size_bytes));
    ms.first_media_ms = times.first_ms;
    ms.last_media_ms = times.last_ms;
    ms.events_sha256 = seg.events_sha256.value_or(std::string(evidence::kNoEvents));
    ms.agent_key_id = seg.signature_key_id;
    ms.agent_signature = seg.signature;
    m.segments.push_back(std::move(ms));
  }
  for (const auto& k : *agent_keys) {
    m.agent_keys.push_back({k.key_id, k.computer_id, k.public_key, k.created_at, k.retired_at});
  }
  SignedManifest out;
  out.manifest_json = evidence::manifest_json(m);
  out.signature = keys_.sign(out.manifest_json);
  out.agent_keys = std::move(m.agent_keys);
  return out;
}

Result<SignedManifest> EvidenceService::manifest(const Recording& rec) {
  if (rec.status == catalog::RecordingStatus::recording) return build(rec);
  auto key = storage::manifest_key(rec.computer_id, rec.id);
  if (!key) return std::unexpected(key.error());
  std::string text;
  auto read = store_.read(*key, {}, [&](std::span<const std::byte> b) {
    if (text.size() + b.size() > kMaxStoredManifestBytes) return false;
    text.append(reinterpret_cast<const char*>(b.data()), b.size());
    return true;
  });
  if (read) return from_stored(text, *key);
  if (read.error().code != Errc::not_found) return std::unexpected(read.error());
  auto built = build(rec);
  if (!built) return built;
  const auto body = stored_text(*built);
  if (auto st = store_.put_bytes(*key, std::as_bytes(std::span(body.data(), body.size()))); !st) {
    return std::unexpected(st.error());
  }
  built->stored = true;
  spdlog::info("manifest of recording {} written ({} bytes, key {})", rec.id, body.size(), built->signature.key_id);
  return built;
}

Result<MediaFile> EvidenceService::export_package(const Caller& who, std::string_view recording_id) {
  auto rec = recordings_.find(who, recording_id, auth::perm::recording_download);
  if (!rec) return std::unexpected(rec.error());
  auto mp4 = media_.whole_file(*rec);
  if (!mp4) return std::unexpected(mp4.error());
  auto signed_manifest = manifest(*rec);
  if (!signed_manifest) return std::unexpected(signed_manifest.error());
  auto segments = catalog_.list_segments(rec->id);
  if (!segments) return std::unexpected(segments.error());
  const std::int64_t mtime_s = rec->end_time.value_or(rec->start_time) / 1000;
  std::vector<evidence::TarMember> members;
  members.push_back({std::string(evidence::kRecordingFile), mp4->size_bytes, mtime_s,
                     [read = mp4->read](std::uint64_t offset, std::uint64_t length, const evidence::TarSink& sink) {
                       return read(offset, length, sink);
                     }});
  for (const auto& seg : *segments) {
    if (seg.size_bytes < 0) return fail(Errc::corrupt, "segment " + std::to_string(seg.seq) + " has a negative size");
    members.push_back({evidence::segment_file_name(seg.seq), static_cast<std::uint64_t>(seg.size_bytes), mtime_s,
                       [this, key = seg.object_key](std::uint64_t offset, std::uint64_t length,
                                                    const evidence::TarSink& sink) {
                         auto r = store_.read(key, {offset, length}, sink);
                         if (!r) spdlog::error("evidence export: reading {} failed: {}", key, r.error().message);
                         return r.has_value();
                       }});
  }
  // Each segment's events document, when the server has it: the manifest
  // carries its signed digest, which deskaudit verify checks it against.
  std::int64_t event_documents = 0;
  for (const auto& seg : *segments) {
    if (!seg.events_sha256) continue;
    auto doc = catalog_.get_event_document(rec->id, seg.seq);
    if (!doc) {
      if (doc.error().code == Errc::not_found) continue;
      return std::unexpected(doc.error());
    }
    if (doc->size_bytes < 0)
      return fail(Errc::corrupt, "events document " + std::to_string(seg.seq) + " has a negative size");
    members.push_back(
        {evidence::events_file_name(seg.seq), static_cast<std::uint64_t>(doc->size_bytes), mtime_s,
         [this, key = doc->object_key](std::uint64_t offset, std::uint64_t length, const evidence::TarSink& sink) {
           auto r = store_.read(key, {offset, length}, sink);
           if (!r) spdlog::error("evidence export: reading {} failed: {}", key, r.error().message);
           return r.has_value();
         }});
    ++event_documents;
  }
  auto add_text = [&](std::string_view name, std::string text) {
    const auto size = text.size();
    members.push_back({std::string(name), size, mtime_s, evidence::bytes_reader(std::move(text))});
  };
  add_text(evidence::kManifestFile, signed_manifest->manifest_json);
  add_text(evidence::kManifestSigFile, evidence::manifest_signature_json(signed_manifest->signature));
  add_text(evidence::kKeysFile, evidence::keys_json(keys_.trusted(), signed_manifest->agent_keys));
  auto archive = evidence::TarArchive::plan(std::move(members));
  if (!archive) return std::unexpected(archive.error());
  auto shared = std::make_shared<const evidence::TarArchive>(std::move(*archive));
  const Json details = {{"computer_id", rec->computer_id},
                        {"bytes", shared->size_bytes()},
                        {"segments", segments->size()},
                        {"event_documents", event_documents},
                        {"manifest_key_id", signed_manifest->signature.key_id}};
  if (auto st = audit_.record_required(who, "recording.export", rec->id, details); !st) {
    return std::unexpected(st.error());
  }
  MediaFile file;
  file.size_bytes = shared->size_bytes();
  file.file_name = mp4->file_name.substr(0, mp4->file_name.size() - 4) + "_evidence.tar";
  file.read = [shared](std::uint64_t offset, std::uint64_t length, const storage::ByteSink& sink) {
    return shared->read(offset, length, sink);
  };
  return file;
}

}  // namespace deskaudit::service

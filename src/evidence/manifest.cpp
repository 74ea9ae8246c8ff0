#include "evidence/manifest.hpp"

#include <fmt/format.h>

#include "common/crypto.hpp"
#include "common/time.hpp"
#include "evidence/segment_statement.hpp"

namespace deskaudit::evidence {
namespace {

using Json = nlohmann::json;

Json opt_text(const std::optional<std::string>& v) { return v ? Json(*v) : Json(nullptr); }
Json opt_int(const std::optional<std::int64_t>& v) { return v ? Json(*v) : Json(nullptr); }

Json key_json(const AgentKeyInfo& k) {
  return {{"key_id", k.key_id},
          {"computer_id", k.computer_id},
          {"algorithm", "ed25519"},
          {"public_key", k.public_key},
          {"created_at_ms", k.created_at_ms},
          {"retired_at_ms", opt_int(k.retired_at_ms)}};
}

// Field readers that name what is wrong.
struct Reader {
  const Json& j;
  std::string where;
  Result<std::string> text(const char* key) const {
    const auto it = j.find(key);
    if (it == j.end() || !it->is_string()) return fail(Errc::corrupt, where + "." + key + " must be a string");
    return it->get<std::string>();
  }
  Result<std::optional<std::string>> opt_text(const char* key) const {
    const auto it = j.find(key);
    if (it != j.end() && it->is_null()) return std::optional<std::string>();
    auto v = text(key);
    if (!v) return std::unexpected(v.error());
    return std::optional<std::string>(std::move(*v));
  }
  Result<std::int64_t> integer(const char* key) const {
    const auto it = j.find(key);
    if (it == j.end() || !it->is_number_integer()) return fail(Errc::corrupt, where + "." + key + " must be an integer");
    return it->get<std::int64_t>();
  }
  Result<std::optional<std::int64_t>> opt_integer(const char* key) const {
    const auto it = j.find(key);
    if (it != j.end() && it->is_null()) return std::optional<std::int64_t>();
    auto v = integer(key);
    if (!v) return std::unexpected(v.error());
    return std::optional<std::int64_t>(*v);
  }
};

#define EVIDENCE_TRY(var, expr)                         \
  auto var##_r = (expr);                                \
  if (!var##_r) return std::unexpected(var##_r.error()); \
  auto var = std::move(*var##_r)

}  // namespace

std::string segment_file_name(std::int64_t seq) { return fmt::format("segments/{:06}.m4s", seq); }
std::string events_file_name(std::int64_t seq) { return fmt::format("events/{:06}.json", seq); }

std::string manifest_json(const Manifest& m) {
  Json segments = Json::array();
  for (const auto& s : m.segments) {
    segments.push_back({{"seq", s.seq},
                        {"file", segment_file_name(s.seq)},
                        {"sha256", s.sha256},
                        {"size_bytes", s.size_bytes},
                        {"first_media_ms", s.first_media_ms},
                        {"last_media_ms", s.last_media_ms},
                        {"events_sha256", s.events_sha256},
                        {"agent_key_id", s.agent_key_id.empty() ? Json(nullptr) : Json(s.agent_key_id)},
                        {"agent_signature", s.agent_key_id.empty() ? Json(nullptr) : Json(s.agent_signature)}});
  }
  Json keys = Json::array();
  for (const auto& k : m.agent_keys) keys.push_back(key_json(k));
  const Json j = {{"format", std::string(kManifestFormat)},
                  {"recording",
                   {{"id", m.recording_id},
                    {"computer_id", m.computer_id},
                    {"computer_name", m.computer_name},
                    {"pool_id", opt_text(m.pool_id)},
                    {"policy_id", opt_text(m.policy_id)},
                    {"policy_name", m.policy_name},
                    {"username", m.username},
                    {"start_time_ms", m.start_time_ms},
                    {"start_time", format_rfc3339(m.start_time_ms)},
                    {"end_time_ms", opt_int(m.end_time_ms)},
                    {"end_time", m.end_time_ms ? Json(format_rfc3339(*m.end_time_ms)) : Json(nullptr)},
                    {"status", m.status}}},
                  {"created_at_ms", m.created_at_ms},
                  {"segments", std::move(segments)},
                  {"agent_keys", std::move(keys)}};
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Result<Manifest> parse_manifest(std::string_view text) {
  const Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail(Errc::corrupt, "manifest.json is not a JSON object");
  const Reader top{j, "manifest"};
  EVIDENCE_TRY(format, top.text("format"));
  if (format != kManifestFormat) return fail(Errc::corrupt, "manifest.format is \"" + format + "\", not " + std::string(kManifestFormat));
  const auto rec_it = j.find("recording");
  if (rec_it == j.end() || !rec_it->is_object()) return fail(Errc::corrupt, "manifest.recording must be an object");
  const Reader rec{*rec_it, "manifest.recording"};
  Manifest m;
  EVIDENCE_TRY(id, rec.text("id"));
  EVIDENCE_TRY(computer_id, rec.text("computer_id"));
  EVIDENCE_TRY(computer_name, rec.text("computer_name"));
  EVIDENCE_TRY(pool_id, rec.opt_text("pool_id"));
  EVIDENCE_TRY(policy_id, rec.opt_text("policy_id"));
  EVIDENCE_TRY(policy_name, rec.text("policy_name"));
  EVIDENCE_TRY(username, rec.text("username"));
  EVIDENCE_TRY(start, rec.integer("start_time_ms"));
  EVIDENCE_TRY(end, rec.opt_integer("end_time_ms"));
  EVIDENCE_TRY(status, rec.text("status"));
  EVIDENCE_TRY(created, top.integer("created_at_ms"));
  m.recording_id = id;
  m.computer_id = computer_id;
  m.computer_name = computer_name;
  m.pool_id = pool_id;
  m.policy_id = policy_id;
  m.policy_name = policy_name;
  m.username = username;
  m.start_time_ms = start;
  m.end_time_ms = end;
  m.status = status;
  m.created_at_ms = created;
  const auto segs = j.find("segments");
  if (segs == j.end() || !segs->is_array()) return fail(Errc::corrupt, "manifest.segments must be an array");
  for (std::size_t i = 0; i < segs->size(); ++i) {
    const auto& sj = (*segs)[i];
    if (!sj.is_object()) return fail(Errc::corrupt, "manifest.segments[" + std::to_string(i) + "] must be an object");
    const Reader r{sj, "manifest.segments[" + std::to_string(i) + "]"};
    ManifestSegment s;
    EVIDENCE_TRY(seq, r.integer("seq"));
    EVIDENCE_TRY(sha, r.text("sha256"));
    EVIDENCE_TRY(size, r.integer("size_bytes"));
    EVIDENCE_TRY(first, r.integer("first_media_ms"));
    EVIDENCE_TRY(last, r.integer("last_media_ms"));
    EVIDENCE_TRY(events, r.text("events_sha256"));
    EVIDENCE_TRY(key_id, r.opt_text("agent_key_id"));
    EVIDENCE_TRY(sig, r.opt_text("agent_signature"));
    if (seq < 0 || (!m.segments.empty() && seq <= m.segments.back().seq)) {
      return fail(Errc::corrupt, r.where + ".seq must be >= 0 and above the segment before");
    }
    if (!is_sha256_hex(sha)) return fail(Errc::corrupt, r.where + ".sha256 must be 64 lowercase hex digits");
    if (size < 0) return fail(Errc::corrupt, r.where + ".size_bytes must be >= 0");
    if (!is_events_digest(events)) return fail(Errc::corrupt, r.where + ".events_sha256 must be \"-\" or 64 hex digits");
    if (key_id.has_value() != sig.has_value()) {
      return fail(Errc::corrupt, r.where + ": agent_key_id and agent_signature are both null or both set");
    }
    s.seq = seq;
    s.sha256 = sha;
    s.size_bytes = static_cast<std::uint64_t>(size);
    s.first_media_ms = first;
    s.last_media_ms = last;
    s.events_sha256 = events;
    s.agent_key_id = key_id.value_or("");
    s.agent_signature = sig.value_or("");
    m.segments.push_back(std::move(s));
  }
  const auto keys = j.find("agent_keys");
  if (keys == j.end() || !keys->is_array()) return fail(Errc::corrupt, "manifest.agent_keys must be an array");
  for (std::size_t i = 0; i < keys->size(); ++i) {
    const auto& kj = (*keys)[i];
    if (!kj.is_object()) return fail(Errc::corrupt, "manifest.agent_keys[" + std::to_string(i) + "] must be an object");
    const Reader r{kj, "manifest.agent_keys[" + std::to_string(i) + "]"};
    AgentKeyInfo k;
    EVIDENCE_TRY(key_id, r.text("key_id"));
    EVIDENCE_TRY(cid, r.text("computer_id"));
    EVIDENCE_TRY(pk, r.text("public_key"));
    EVIDENCE_TRY(created_at, r.integer("created_at_ms"));
    EVIDENCE_TRY(retired, r.opt_integer("retired_at_ms"));
    k.key_id = key_id;
    k.computer_id = cid;
    k.public_key = pk;
    k.created_at_ms = created_at;
    k.retired_at_ms = retired;
    m.agent_keys.push_back(std::move(k));
  }
  return m;
}

std::string manifest_signature_json(const keys::Signature& s) {
  return Json{{"format", std::string(kManifestSignatureFormat)},
              {"algorithm", "ed25519"},
              {"signed_file", std::string(kManifestFile)},
              {"key_id", s.key_id},
              {"signature", s.signature}}
      .dump();
}

Result<keys::Signature> parse_manifest_signature(std::string_view text) {
  const Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail(Errc::corrupt, "manifest.sig is not a JSON object");
  const Reader r{j, "manifest.sig"};
  EVIDENCE_TRY(format, r.text("format"));
  EVIDENCE_TRY(algorithm, r.text("algorithm"));
  EVIDENCE_TRY(key_id, r.text("key_id"));
  EVIDENCE_TRY(sig, r.text("signature"));
  if (format != kManifestSignatureFormat || algorithm != "ed25519") {
    return fail(Errc::corrupt, "manifest.sig is not an ed25519 " + std::string(kManifestSignatureFormat));
  }
  return keys::Signature{key_id, sig};
}

std::string keys_json(const keys::Keyring& server_keys, const std::vector<AgentKeyInfo>& agent_keys) {
  Json server = Json::array();
  for (const auto& k : server_keys.keys()) {
    server.push_back({{"key_id", k.key_id}, {"algorithm", "ed25519"}, {"public_key", k.base64()}});
  }
  Json agents = Json::array();
  for (const auto& k : agent_keys) agents.push_back(key_json(k));
  return Json{{"format", std::string(kKeysFormat)}, {"server_keys", std::move(server)}, {"agent_keys", std::move(agents)}}.dump(2);
}

Result<keys::Keyring> parse_server_keys(std::string_view text) {
  const Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("server_keys") || !j["server_keys"].is_array()) {
    return fail(Errc::corrupt, "keys.json has no server_keys list");
  }
  keys::Keyring ring;
  for (const auto& k : j["server_keys"]) {
    if (!k.is_object() || !k.contains("public_key") || !k["public_key"].is_string()) {
      return fail(Errc::corrupt, "keys.json: a server key has no public_key");
    }
    auto key = keys::public_key_from_base64(k["public_key"].get<std::string>());
    if (!key) return fail(Errc::corrupt, "keys.json: " + key.error().message);
    ring.add(*key);
  }
  return ring;
}

}  // namespace deskaudit::evidence

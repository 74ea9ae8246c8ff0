#include "audit/json.hpp"

namespace deskaudit::audit {
namespace {

Status need(const nlohmann::json& j, const char* field, bool string) {
  if (!j.is_object() || !j.contains(field) || (string ? !j[field].is_string() : !j[field].is_number_integer())) {
    return fail(
        Errc::invalid_argument,
        std::string("audit record field '") + field + "' is missing or not " + (string ? "a string" : "an integer"),
        field);
  }
  return {};
}

}  // namespace

nlohmann::json to_json(const Entry& e) {
  return {{"seq", e.seq},
          {"time_ms", e.time},
          {"actor", e.actor},
          {"action", e.action},
          {"target", e.target},
          {"details_json", e.details_json},
          {"prev_hash", e.prev_hash},
          {"hash", e.hash}};
}

nlohmann::json to_json(const Checkpoint& cp) {
  return {{"n", cp.n},
          {"seq", cp.seq},
          {"entry_hash", cp.entry_hash},
          {"prev_signature", cp.prev_signature},
          {"signed_at_ms", cp.signed_at},
          {"signed_at", format_rfc3339(cp.signed_at)},
          {"kind", cp.kind},
          {"replica", cp.replica},
          {"key_id", cp.key_id},
          {"signature", cp.signature}};
}

nlohmann::json to_json(const Report& r) {
  nlohmann::json j = {{"ok", r.ok},
                      {"entries", r.entries},
                      {"last_hash", r.last_hash},
                      {"checkpoints", r.checkpoints},
                      {"signed_through_seq", r.signed_through},
                      {"unsigned_entries", r.unsigned_entries},
                      {"key_ids", r.key_ids}};
  if (!r.ok) {
    j["first_bad_seq"] = r.first_bad_seq;
    j["untrusted_through_seq"] = r.untrusted_through_seq;
    j["reason"] = r.reason;
  }
  return j;
}

Result<Entry> entry_from_json(const nlohmann::json& j) {
  for (const char* f : {"seq", "time_ms"}) {
    if (auto st = need(j, f, false); !st) return std::unexpected(st.error());
  }
  for (const char* f : {"actor", "action", "target", "details_json", "prev_hash", "hash"}) {
    if (auto st = need(j, f, true); !st) return std::unexpected(st.error());
  }
  return Entry{j["seq"].get<std::int64_t>(),      j["time_ms"].get<std::int64_t>(),
               j["actor"].get<std::string>(),     j["action"].get<std::string>(),
               j["target"].get<std::string>(),    j["details_json"].get<std::string>(),
               j["prev_hash"].get<std::string>(), j["hash"].get<std::string>()};
}

Result<Checkpoint> checkpoint_from_json(const nlohmann::json& j) {
  for (const char* f : {"n", "seq", "signed_at_ms"}) {
    if (auto st = need(j, f, false); !st) return std::unexpected(st.error());
  }
  for (const char* f : {"entry_hash", "prev_signature", "kind", "replica", "key_id", "signature"}) {
    if (auto st = need(j, f, true); !st) return std::unexpected(st.error());
  }
  return Checkpoint{j["n"].get<std::int64_t>(),
                    j["seq"].get<std::int64_t>(),
                    j["entry_hash"].get<std::string>(),
                    j["prev_signature"].get<std::string>(),
                    j["signed_at_ms"].get<std::int64_t>(),
                    j["kind"].get<std::string>(),
                    j["replica"].get<std::string>(),
                    j["key_id"].get<std::string>(),
                    j["signature"].get<std::string>()};
}

}  // namespace deskaudit::audit

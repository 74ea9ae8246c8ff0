#include "server/views.hpp"

#include "common/text.hpp"
#include "media/fmp4.hpp"
#include "service/access_service.hpp"
#include "service/policy_service.hpp"

namespace deskaudit::server {

using namespace catalog;

namespace {
Json opt(const std::optional<std::string>& v) { return v ? Json(*v) : Json(nullptr); }
Json opt_time(const std::optional<EpochMs>& v) { return v ? Json(format_rfc3339(*v)) : Json(nullptr); }
Json time_or_null(EpochMs v) { return v > 0 ? Json(format_rfc3339(v)) : Json(nullptr); }
Json parsed_or_null(const std::string& text) {
  Json j = Json::parse(text, nullptr, false);
  return j.is_discarded() ? Json(nullptr) : j;
}
}  // namespace

Json to_json(const RecordingRule& r) { return policy::rule_to_json(r); }

Json to_json(const Policy& p) { return service::policy_json(p); }

Json to_json(const Pool& p) {
  return {{"id", p.id}, {"name", p.name}, {"description", p.description}, {"created_at", format_rfc3339(p.created_at)}};
}

Json to_json(const Recording& r) {
  Json j = {{"id", r.id},
          {"computer_id", r.computer_id},
          {"computer_name", r.computer_name},
          {"pool_id", opt(r.pool_id)},
          {"policy_id", opt(r.policy_id)},
          {"policy_name", r.policy_name},
          {"username", r.username},
          {"start_time", format_rfc3339(r.start_time)},
          {"end_time", opt_time(r.end_time)},
          {"status", std::string(to_string(r.status))},
          {"size_bytes", r.size_bytes},
          {"segment_count", r.segment_count},
          {"duration_ms", r.duration_ms},
          {"retention_days", r.retention_days},
          {"expires_at", opt_time(r.expires_at)},
          {"legal_hold", r.legal_hold}};
  if (r.first_match_ms) j["first_match_ms"] = *r.first_match_ms;
  return j;
}

void add_media_summary(Json& j, const std::vector<Segment>& segments) {
  j["has_audio"] = false;
  j["codecs"] = nullptr;
  if (segments.empty()) return;
  auto index = media::fragment_index_from_json(Json::parse(segments.front().index_json, nullptr, false));
  if (!index) return;
  j["has_audio"] = index->has_audio();
  j["codecs"] = index->codecs();
}

Json to_json(const Segment& s) {
  return {{"seq", s.seq},
          {"size_bytes", s.size_bytes},
          {"sha256", s.sha256},
          {"start_offset_ms", s.start_offset_ms},
          {"duration_ms", s.duration_ms}};
}

Json to_json(const RecordingEvent& e, EpochMs recording_start) {
  Json j = events::to_json(e.event);
  j["time"] = format_rfc3339(recording_start + e.event.t_ms);
  j["seq"] = e.seq;
  return j;
}

Json to_json(const EventHit& h) {
  Json j = to_json(h.event, h.recording_start);
  j["recording_id"] = h.event.recording_id;
  j["computer_id"] = h.computer_id;
  j["computer_name"] = h.computer_name;
  j["pool_id"] = opt(h.pool_id);
  j["username"] = h.username;
  return j;
}

Json to_json(const RoleGrant& g) { return service::grant_json(g); }

Json to_json(const User& u, const std::vector<RoleGrant>& grants) {
  return {{"id", u.id},
          {"username", u.username},
          {"disabled", u.disabled},
          {"created_at", format_rfc3339(u.created_at)},
          {"roles", service::grants_json(grants)}};
}

Json to_json(const Role& r) { return service::role_json(r); }

Json to_json(const ApiToken& t) {
  return {{"id", t.id},
          {"user_id", t.user_id},
          {"kind", t.kind == TokenKind::api ? "api" : "session"},
          {"name", t.name},
          {"created_at", format_rfc3339(t.created_at)},
          {"expires_at", opt_time(t.expires_at)},
          {"last_used_at", time_or_null(t.last_used_at)},
          {"revoked", t.revoked}};
}

Json to_json(const AuditEntry& e) {
  return {{"seq", e.seq},
          {"time", format_rfc3339(e.time)},
          {"actor", e.actor},
          {"action", e.action},
          {"target", e.target},
          {"details", parsed_or_null(e.details_json)},
          {"prev_hash", e.prev_hash},
          {"hash", e.hash}};
}

Json to_json(const EnrollmentToken& t) {
  return {{"id", t.id},
          {"pool_id", opt(t.pool_id)},
          {"expires_at", opt_time(t.expires_at)},
          {"max_uses", t.max_uses ? Json(*t.max_uses) : Json(nullptr)},
          {"uses", t.uses},
          {"created_at", format_rfc3339(t.created_at)},
          {"revoked", t.revoked}};
}

Json to_json(const Computer& c, EpochMs now, std::int64_t offline_after_ms) {
  const auto& a = c.agent;
  const bool online = a.last_seen_at > 0 && now - a.last_seen_at <= offline_after_ms;
  const Json session = parsed_or_null(a.session_json);
  return {{"id", c.id},
          {"name", c.name},
          {"hostname", c.hostname},
          {"os", c.os},
          {"pool_id", opt(c.pool_id)},
          {"enrolled", c.enrolled},
          {"created_at", format_rfc3339(c.created_at)},
          {"agent",
           {{"version", a.agent_version},
            {"online", online},
            {"last_seen_at", time_or_null(a.last_seen_at)},
            {"capture", parsed_or_null(a.capture_json)},
            {"spool_bytes", a.spool_bytes},
            {"last_error", a.last_error},
            {"session", online ? session : Json(nullptr)},
            {"last_upload_at", time_or_null(a.last_upload_at)},
            {"last_upload_error", a.last_upload_error},
            {"last_session_at", time_or_null(a.last_session_at)}}},
          {"recording_now", online && session.is_object() && session.contains("recording_id")}};
}

Json to_json(const service::ComputerView& v, EpochMs now, std::int64_t offline_after_ms) {
  Json j = to_json(v.computer, now, offline_after_ms);
  const auto& eff = v.policy;
  j["effective_policy"] = {{"source", std::string(to_string(eff.source))},
                           {"policy_id", eff.policy ? Json(eff.policy->id) : Json(nullptr)},
                           {"policy_name", eff.policy ? Json(eff.policy->name) : Json(nullptr)},
                           {"mode", eff.policy ? Json(std::string(to_string(eff.policy->recording.mode))) : Json("off")}};
  return j;
}

Json to_json(const service::RecordingStatusReport& report) {
  Json checks = Json::array();
  for (const auto& c : report.checks) {
    checks.push_back({{"id", c.id}, {"label", c.label}, {"ok", c.ok}, {"detail", c.detail}});
  }
  return {{"computer_id", report.computer_id}, {"ok", report.ok}, {"checks", std::move(checks)}};
}

Json to_json(const service::AgentPolicy& p) {
  const auto& eff = p.effective;
  return {{"policy", eff.policy ? to_json(*eff.policy) : Json(nullptr)},
          {"source", eff.policy ? Json(std::string(to_string(eff.source))) : Json("none")},
          {"etag", p.etag}};
}

Result<std::string> get_name(const Json& body, std::string_view field) {
  auto name = get_string(body, field);
  if (!name) return name;
  if (auto st = check_name(*name, field); !st) return std::unexpected(st.error());
  return name;
}

Result<std::optional<EpochMs>> get_time(const Json& j, std::string_view field) {
  auto s = get_string(j, field, false);
  if (!s) return std::unexpected(s.error());
  if (s->empty()) return std::optional<EpochMs>{};
  auto t = parse_rfc3339(*s);
  if (!t) return fail(Errc::unprocessable, std::string(field) + ": " + t.error().message, std::string(field));
  return std::optional<EpochMs>{*t};
}

}  // namespace deskaudit::server

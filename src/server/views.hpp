#pragma once
// JSON shapes of catalog records (api.md names) and validation of the
// values administrators send.
#include <optional>

#include "catalog/types.hpp"
#include "common/text.hpp"
#include "server/http.hpp"
#include "service/agent_service.hpp"
#include "service/inventory_service.hpp"

namespace deskaudit::server {

Json to_json(const catalog::RecordingRule& rule);
Json to_json(const catalog::Policy& policy);
Json to_json(const catalog::Pool& pool);
Json to_json(const catalog::Recording& recording);
// A recording's media summary from its first segment's index: "has_audio"
// (an audio track) and "codecs" (the HLS CODECS value, "avc1.64001f,opus";
// null without segments).
void add_media_summary(Json& recording, const std::vector<catalog::Segment>& segments);
Json to_json(const catalog::Segment& segment);
// An activity event: t_ms, time (recording_start + t_ms, RFC 3339), type,
// seq and the fields its type has.
Json to_json(const catalog::RecordingEvent& event, EpochMs recording_start);
// The same with its recording: recording_id, computer_id, computer_name,
// pool_id, username.
Json to_json(const catalog::EventHit& hit);
Json to_json(const catalog::User& user, const std::vector<catalog::RoleGrant>& grants);
Json to_json(const catalog::Role& role);
Json to_json(const catalog::ApiToken& token);
Json to_json(const catalog::AuditEntry& entry);
Json to_json(const catalog::EnrollmentToken& token);
Json to_json(const catalog::RoleGrant& grant);
// A computer with its agent state; online when seen within offline_after_ms.
Json to_json(const catalog::Computer& computer, EpochMs now, std::int64_t offline_after_ms);
// The same with "effective_policy": where the policy in force comes from.
Json to_json(const service::ComputerView& view, EpochMs now, std::int64_t offline_after_ms);
Json to_json(const service::RecordingStatusReport& report);
// What an agent receives: {"policy", "source", "etag"}.
Json to_json(const service::AgentPolicy& policy);

// The body's string field `field`, required and valid as a name.
Result<std::string> get_name(const Json& body, std::string_view field);
// Optional RFC 3339 string field -> time; unprocessable naming the field.
Result<std::optional<EpochMs>> get_time(const Json& j, std::string_view field);

}  // namespace deskaudit::server

#pragma once
// The agent's side of the REST API (/api/v1/agent/..., docs/api.md).
// HTTP statuses become Result errors by errc_for_status (common/
// http_status.hpp): transport failures, 408 and 5xx are Errc::unavailable
// and 429 too_many_requests (both is_transient: retry later), 401
// unauthenticated, 404 not_found, 409 conflict, 413 too_large, 422
// unprocessable; the message carries the server's error text. last_reply() keeps the HTTP status (and
// Retry-After) of the last call, so a caller can tell a refusal for good
// from one worth retrying. The agent token is sent, never logged.
// Not thread-safe (one HttpClient inside): one AgentApi per thread.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "agent/policy.hpp"
#include "client/http.hpp"
#include "common/error.hpp"
#include "common/time.hpp"

namespace deskaudit::agent {

inline constexpr std::string_view kAgentVersion = DESKAUDIT_AGENT_VERSION;

struct Enrollment {
  std::string computer_id;
  std::string agent_token;
};

struct NewRecording {
  std::string local_id;  // sent as agent_recording_id: lets a server dedupe a retried create
  std::string username;
  EpochMs start_time = 0;
  std::string policy_id;
  std::int64_t policy_version = 0;
};

// The server's answer to the last call.
struct LastReply {
  long http_status = 0;                             // 0: no answer (network, TLS, or a local failure)
  std::optional<std::chrono::seconds> retry_after;  // from a 429 or 503
};

// True for a 4xx that repeating the same request cannot change (the
// recording is gone, refused as invalid, conflicts): not 401/403 (a
// credential an operator may fix), 408 or 429 (try again later).
bool permanent_rejection(long http_status);

// Retry-After as delta-seconds or an HTTP-date (RFC 9110 section 10.2.3);
// nullopt when absent or malformed. now_ms turns a date into a delay.
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value, EpochMs now_ms);

class AgentApi {
 public:
  // server_url: "https://host:port" (a trailing slash is ignored); http
  // carries TLS settings (a private CA).
  AgentApi(std::string server_url, std::string agent_token, client::HttpClientOptions http = {});

  const LastReply& last_reply() const { return last_; }

  // public_key: the agent's Ed25519 public key (base64), registered with
  // the new computer.
  Result<Enrollment> enroll(const std::string& enrollment_token, const std::string& hostname,
                            const std::string& os, const std::string& public_key);
  // Registers the agent's current public key (idempotent); returns its key id.
  Result<std::string> register_key(const std::string& public_key);
  // Returns the policy_etag of the reply.
  Result<std::string> heartbeat(const nlohmann::json& body);
  Result<PolicyState> policy();
  Result<std::string> create_recording(const NewRecording& recording);
  // Streams the file from disk; sha256_hex is sent as X-Content-SHA256.
  // Success = the server holds these bytes under seq (also when it already
  // had them); Errc::conflict = it holds different bytes.
  // events_sha256_hex (non-empty): the segment's events document, uploaded
  // first with put_events(), sent as X-Deskaudit-Events-SHA256; signature
  // (non-empty) is sent as X-Deskaudit-Signature (docs/evidence.md).
  Status put_segment(const std::string& recording_id, std::int64_t seq, const std::filesystem::path& file,
                     std::uint64_t size_bytes, const std::string& sha256_hex,
                     const std::string& events_sha256_hex = {}, const std::string& signature = {});
  // PUT .../segments/{seq}/events: the segment's activity events document
  // (events/event.hpp), before the segment. Success = the server holds these
  // bytes (also when it had them); Errc::conflict = other bytes.
  // A refusal keeps the server's `field` (the other calls clear it).
  Status put_events(const std::string& recording_id, std::int64_t seq, const std::string& document,
                    const std::string& sha256_hex);
  Status finish(const std::string& recording_id, EpochMs end_time, std::string_view status);

 private:
  Result<nlohmann::json> call(std::string method, const std::string& path, const nlohmann::json* body,
                              bool authenticated = true);
  Result<client::HttpResponse> send(client::HttpRequest request, bool authenticated);

  std::string base_;
  std::string token_;
  client::HttpClient http_;
  LastReply last_;
};

// Normalises and checks a server URL: http(s)://host[:port], no trailing slash.
Result<std::string> normalize_server_url(std::string_view url);

}  // namespace deskaudit::agent

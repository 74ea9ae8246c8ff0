#include "agent/api.hpp"
#include "common/posix_compat.hpp"

#include <charconv>
#include <ctime>

namespace deskaudit::agent {
namespace {

using nlohmann::json;

Error http_error(const client::HttpResponse& r, std::string_view what) {
  Error e = client::api_error(r);
  const std::string detail = e.message.empty() ? r.body.substr(0, 200) : e.message;
  e.message = std::string(what) + ": HTTP " + std::to_string(r.status) + (detail.empty() ? "" : ": " + detail);
  e.field.clear();
  return e;
}

}  // namespace

bool permanent_rejection(long status) {
  return status >= 400 && status <= 499 && status != 401 && status != 403 && status != 408 && status != 429;
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value, EpochMs now_ms) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (value.front() >= '0' && value.front() <= '9') {
    std::int64_t seconds = 0;
    const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec != std::errc{} || ptr != value.data() + value.size()) return std::nullopt;
    return std::chrono::seconds(seconds);
  }
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
  std::tm tm{};
  const std::string text(value);
  const char* end = ::strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  const std::int64_t at_s = ::timegm(&tm);
  const std::int64_t now_s = now_ms / 1000;
  return std::chrono::seconds(at_s > now_s ? at_s - now_s : 0);
}

Result<std::string> normalize_server_url(std::string_view url) {
  std::string u(url);
  while (!u.empty() && u.back() == '/') u.pop_back();
  const bool http = u.starts_with("http://"), https = u.starts_with("https://");
  if (!http && !https) return fail(Errc::invalid_argument, "server URL '" + u + "' must start with http:// or https://", "server");
  const auto host = u.substr(http ? 7 : 8);
  if (host.empty()) return fail(Errc::invalid_argument, "server URL '" + u + "' names no host", "server");
  return u;
}

AgentApi::AgentApi(std::string server_url, std::string agent_token, client::HttpClientOptions http)
    : base_(std::move(server_url)), token_(std::move(agent_token)), http_(std::move(http)) {
  while (!base_.empty() && base_.back() == '/') base_.pop_back();
}

Result<client::HttpResponse> AgentApi::send(client::HttpRequest request, bool authenticated) {
  if (authenticated) request.headers.emplace_back("Authorization", "Bearer " + token_);
  last_ = LastReply{};
  auto r = http_.send(request);
  // The client's error already names the method and the URL (without its query).
  if (!r) return std::unexpected(r.error());
  last_.http_status = r->status;
  if (const auto it = r->headers.find("retry-after"); it != r->headers.end()) {
    last_.retry_after = parse_retry_after(it->second, SystemClock().now_ms());
  }
  return r;
}

Result<json> AgentApi::call(std::string method, const std::string& path, const json* body, bool authenticated) {
  client::HttpRequest req;
  req.method = std::move(method);
  req.url = base_ + path;
  req.headers.emplace_back("Accept", "application/json");
  // Small JSON calls: a hung server must not hold the heartbeat (or a
  // shutdown) for long.
  req.timeout_ms = 15000;
  if (body) {
    req.headers.emplace_back("Content-Type", "application/json");
    req.body = body->dump();
  }
  auto r = send(std::move(req), authenticated);
  if (!r) return std::unexpected(r.error());
  if (r->status < 200 || r->status > 299) return std::unexpected(http_error(*r, path));
  if (r->body.empty()) return json::object();
  auto doc = json::parse(r->body, nullptr, false);
  if (doc.is_discarded()) return fail(Errc::corrupt, path + ": the server's reply is not JSON");
  return doc;
}

Result<Enrollment> AgentApi::enroll(const std::string& enrollment_token, const std::string& hostname,
                                    const std::string& os, const std::string& public_key) {
  json body = {{"enrollment_token", enrollment_token},
               {"hostname", hostname},
               {"os", os},
               {"agent_version", kAgentVersion}};
  if (!public_key.empty()) body["public_key"] = public_key;
  auto doc = call("POST", "/api/v1/agent/enroll", &body, false);
  if (!doc) return std::unexpected(doc.error());
  Enrollment e;
  if (doc->contains("computer_id") && (*doc)["computer_id"].is_string()) e.computer_id = (*doc)["computer_id"];
  if (doc->contains("agent_token") && (*doc)["agent_token"].is_string()) e.agent_token = (*doc)["agent_token"];
  if (e.computer_id.empty() || e.agent_token.empty()) {
    return fail(Errc::corrupt, "enroll: the server's reply has no computer_id or agent_token");
  }
  return e;
}

Result<std::string> AgentApi::register_key(const std::string& public_key) {
  const json body = {{"public_key", public_key}};
  auto doc = call("POST", "/api/v1/agent/keys", &body);
  if (!doc) return std::unexpected(doc.error());
  const auto it = doc->find("key_id");
  if (it == doc->end() || !it->is_string()) return fail(Errc::corrupt, "register key: the server's reply has no key_id");
  return it->get<std::string>();
}

Result<std::string> AgentApi::heartbeat(const json& body) {
  auto doc = call("POST", "/api/v1/agent/heartbeat", &body);
  if (!doc) return std::unexpected(doc.error());
  const auto it = doc->find("policy_etag");
  if (it == doc->end() || it->is_null()) return std::string();
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer()) return std::to_string(it->get<std::int64_t>());
  return fail(Errc::corrupt, "heartbeat: policy_etag is neither a string nor a number");
}

Result<PolicyState> AgentApi::policy() {
  auto doc = call("GET", "/api/v1/agent/policy", nullptr);
  if (!doc) return std::unexpected(doc.error());
  auto state = parse_policy_state(*doc);
  if (!state) return std::unexpected(with_context(state.error(), "GET /api/v1/agent/policy"));
  return state;
}

Result<std::string> AgentApi::create_recording(const NewRecording& rec) {
  json body = {{"username", rec.username},
               {"start_time", format_rfc3339(rec.start_time)},
               {"agent_recording_id", rec.local_id}};
  if (!rec.policy_id.empty()) {
    body["policy_id"] = rec.policy_id;
    body["policy_version"] = rec.policy_version;
  }
  auto doc = call("POST", "/api/v1/agent/recordings", &body);
  if (!doc) return std::unexpected(doc.error());
  const auto it = doc->find("id");
  if (it == doc->end() || !it->is_string() || it->get_ref<const std::string&>().empty()) {
    return fail(Errc::corrupt, "create recording: the server's reply has no id");
  }
  return it->get<std::string>();
}

Status AgentApi::put_segment(const std::string& recording_id, std::int64_t seq, const std::filesystem::path& file,
                             std::uint64_t size_bytes, const std::string& sha256_hex,
                             const std::string& events_sha256_hex, const std::string& signature) {
  client::HttpRequest req;
  req.method = "PUT";
  req.url = base_ + "/api/v1/agent/recordings/" + client::url_encode(recording_id) + "/segments/" + std::to_string(seq);
  req.headers.emplace_back("Content-Type", "video/mp4");
  req.headers.emplace_back("Content-Length", std::to_string(size_bytes));
  req.headers.emplace_back("X-Content-SHA256", sha256_hex);
  if (!events_sha256_hex.empty()) req.headers.emplace_back("X-Deskaudit-Events-SHA256", events_sha256_hex);
  if (!signature.empty()) req.headers.emplace_back("X-Deskaudit-Signature", signature);
  req.file = client::FileBody{file, 0, size_bytes};
  // A slow uplink must not time out a big segment: 60 s plus 1 s per 64 KiB.
  req.timeout_ms = static_cast<long>(60000 + size_bytes / 64);
  auto r = send(std::move(req), true);
  if (!r) return std::unexpected(r.error());
  if (r->status >= 200 && r->status <= 299) return {};
  return std::unexpected(http_error(*r, "PUT segment " + std::to_string(seq)));
}

Status AgentApi::put_events(const std::string& recording_id, std::int64_t seq, const std::string& document,
                            const std::string& sha256_hex) {
  client::HttpRequest req;
  req.method = "PUT";
  req.url = base_ + "/api/v1/agent/recordings/" + client::url_encode(recording_id) + "/segments/" +
            std::to_string(seq) + "/events";
  req.headers.emplace_back("Content-Type", "application/json");
  req.headers.emplace_back("X-Content-SHA256", sha256_hex);
  req.body = document;
  auto r = send(std::move(req), true);
  if (!r) return std::unexpected(r.error());
  if (r->status >= 200 && r->status <= 299) return {};
  Error e = http_error(*r, "PUT events of segment " + std::to_string(seq));
  e.field = client::api_error(*r).field;  // "format": a server older than the document's version
  return std::unexpected(std::move(e));
}

Status AgentApi::finish(const std::string& recording_id, EpochMs end_time, std::string_view status) {
  const json body = {{"end_time", format_rfc3339(end_time)}, {"status", status}};
  auto doc = call("POST", "/api/v1/agent/recordings/" + client::url_encode(recording_id) + "/finish", &body);
  if (!doc) return std::unexpected(doc.error());
  return {};
}

}  // namespace deskaudit::agent

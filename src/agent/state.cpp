#include "agent/state.hpp"

#include <cerrno>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/fs.hpp"
#include "common/text.hpp"
#include "common/posix_compat.hpp"

namespace deskaudit::agent {
namespace {

using nlohmann::json;

// Reads a small JSON state file; nullopt when it does not exist.
Result<std::optional<json>> load_json(const std::filesystem::path& path) {
  auto text = read_file(path, 1 << 20);
  if (!text) {
    if (text.error().code == Errc::not_found) return std::optional<json>{};
    return std::unexpected(text.error());
  }
  auto doc = json::parse(*text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return fail(Errc::corrupt, path.string() + " is not a JSON object");
  return std::optional<json>(std::move(doc));
}

Result<std::string> required_string(const json& doc, const char* key, const std::filesystem::path& path) {
  const auto it = doc.find(key);
  if (it == doc.end() || !it->is_string() || it->get_ref<const std::string&>().empty()) {
    return fail(Errc::corrupt, path.string() + " has no " + key);
  }
  return it->get<std::string>();
}

}  // namespace

Result<std::optional<Credential>> load_credential(const StatePaths& paths) {
  auto doc = load_json(paths.credential());
  if (!doc) return std::unexpected(doc.error());
  if (!*doc) return std::optional<Credential>{};
  Credential c;
  for (auto [key, out] : {std::pair{"server_url", &c.server_url}, std::pair{"computer_id", &c.computer_id},
                          std::pair{"agent_token", &c.agent_token}}) {
    auto v = required_string(**doc, key, paths.credential());
    if (!v) return std::unexpected(v.error());
    *out = std::move(*v);
  }
  return std::optional<Credential>(std::move(c));
}

Status save_credential(const StatePaths& paths, const Credential& c) {
  const json doc = {{"server_url", c.server_url}, {"computer_id", c.computer_id}, {"agent_token", c.agent_token}};
  return write_file_atomic(paths.credential(), doc.dump(2) + "\n", 0600);
}

Result<std::optional<PolicyState>> load_policy_cache(const StatePaths& paths) {
  auto doc = load_json(paths.policy());
  if (!doc) return std::unexpected(doc.error());
  if (!*doc) return std::optional<PolicyState>{};
  auto state = parse_policy_state(**doc);
  if (!state) return std::unexpected(with_context(state.error(), paths.policy().string()));
  return std::optional<PolicyState>(std::move(*state));
}

Status save_policy_cache(const StatePaths& paths, const PolicyState& state) {
  return write_file_atomic(paths.policy(), policy_state_to_json(state).dump(2) + "\n", 0600);
}

Result<std::optional<UserSession>> load_session(const StatePaths& paths) {
  auto doc = load_json(paths.session());
  if (!doc) return std::unexpected(doc.error());
  if (!*doc) return std::optional<UserSession>{};
  auto user = required_string(**doc, "username", paths.session());
  if (!user) return std::unexpected(user.error());
  auto started = required_string(**doc, "started_at", paths.session());
  if (!started) return std::unexpected(started.error());
  auto ms = parse_rfc3339(*started);
  if (!ms) return std::unexpected(with_context(ms.error(), paths.session().string()));
  return std::optional<UserSession>(UserSession{*user, *ms});
}

Status save_session(const StatePaths& paths, const std::optional<UserSession>& session) {
  if (!session) {
    if (::unlink(paths.session().c_str()) != 0 && errno != ENOENT) {
      return fail(Errc::io, errno_message("unlink " + paths.session().string(), errno));
    }
    return {};
  }
  const json doc = {{"username", session->username}, {"started_at", format_rfc3339(session->started_at)}};
  return write_file_atomic(paths.session(), doc.dump(2) + "\n", 0600);
}

Status validate_username(std::string_view name) {
  if (name.empty()) return fail(Errc::invalid_argument, "user name is empty", "user");
  if (name.size() > kMaxUserNameBytes) {
    return fail(Errc::invalid_argument,
                "user name is longer than " + std::to_string(kMaxUserNameBytes) + " bytes (the server's limit)",
                "user");
  }
  if (!is_valid_utf8(name)) return fail(Errc::invalid_argument, "user name is not valid UTF-8", "user");
  for (const char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) return fail(Errc::invalid_argument, "user name contains a control character", "user");
  }
  return {};
}

std::string usable_username(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (const char ch : utf8_truncate(name, kMaxUserNameBytes)) {
    const auto c = static_cast<unsigned char>(ch);
    out.push_back(c < 0x20 || c == 0x7f ? '?' : ch);
  }
  return out.empty() ? "?" : out;
}

}  // namespace deskaudit::agent

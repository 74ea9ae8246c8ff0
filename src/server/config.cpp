#include "server/config.hpp"

#include <algorithm>
#include <charconv>
#include <unistd.h>

#include <toml++/toml.h>

namespace deskaudit::server {
namespace {

Status bad_key(std::string_view key, std::string_view want) {
  return fail(Errc::invalid_argument, "config key '" + std::string(key) + "' must be " + std::string(want), std::string(key));
}

Result<LogFormat> log_format_from(std::string_view s) {
  if (s == "text") return LogFormat::text;
  if (s == "json") return LogFormat::json;
  return fail(Errc::invalid_argument, "log_format must be text or json", "log_format");
}

}  // namespace

Status apply_toml(ServerConfig& c, const std::string& text) {
  toml::table t;
  try {
    t = toml::parse(text);
  } catch (const toml::parse_error& e) {
    return fail(Errc::invalid_argument, std::string("config is not valid TOML: ") + std::string(e.description()));
  }
  for (auto&& [k, node] : t) {
    const std::string key(k.str());
    auto str = [&](std::string& out) -> Status {
      if (!node.is_string()) return bad_key(key, "a string");
      out = node.as_string()->get();
      return {};
    };
    auto num = [&](std::int64_t& out) -> Status {
      if (!node.is_integer()) return bad_key(key, "a whole number");
      out = node.as_integer()->get();
      return {};
    };
    Status st;
    std::string s;
    std::int64_t n = 0;
    if (key == "listen") st = str(c.listen);
    else if (key == "data_dir") { st = str(s); c.data_dir = s; }
    else if (key == "catalog") st = str(c.catalog);
    else if (key == "store") st = str(c.store);
    else if (key == "web_root") { st = str(s); c.web_root = s; }
    else if (key == "public_url") st = str(c.public_url);
    else if (key == "log_level") st = str(c.log_level);
    else if (key == "log_format") {
      st = str(s);
      if (st) {
        auto f = log_format_from(s);
        if (!f) return std::unexpected(f.error());
        c.log_format = *f;
      }
    } else if (key == "replica_id") st = str(c.replica_id);
    else if (key == "max_segment_bytes") st = num(c.max_segment_bytes);
    else if (key == "max_json_bytes") st = num(c.max_json_bytes);
    else if (key == "session_ttl_seconds") { st = num(n); c.session_ttl_ms = n * 1000; }
    else if (key == "sweep_interval_seconds") { st = num(n); c.sweep_interval_ms = n * 1000; }
    else if (key == "http_threads") { st = num(n); c.http_threads = static_cast<int>(std::clamp<std::int64_t>(n, -1, 1 << 20)); }
    else if (key == "max_connections") st = num(c.max_connections);
    else if (key == "tls_cert") { st = str(s); c.tls_cert = s; }
    else if (key == "tls_key") { st = str(s); c.tls_key = s; }
    else if (key == "metrics_listen") st = str(c.metrics_listen);
    else if (key == "signing_key_file") { st = str(s); c.signing_key_file = s; }
    else if (key == "trusted_keys_file") { st = str(s); c.trusted_keys_file = s; }
    else if (key == "encryption_key_file") { st = str(s); c.encryption_key_file = s; }
    else if (key == "audit_sign_every") st = num(c.audit_sign_every);
    else if (key == "login_failures_per_address") st = num(c.login_failures_per_address);
    else if (key == "agent_max_open_recordings") st = num(c.agent_max_open_recordings);
    else if (key == "agent_upload_bytes_per_hour") st = num(c.agent_upload_bytes_per_hour);
    else if (key == "s3") {
      if (!node.is_table()) return bad_key(key, "a table");
      for (auto&& [sk, sn] : *node.as_table()) {
        const std::string skey = "s3." + std::string(sk.str());
        auto sstr = [&](std::string& out) -> Status {
          if (!sn.is_string()) return bad_key(skey, "a string");
          out = sn.as_string()->get();
          return {};
        };
        Status sst;
        if (sk == "endpoint") sst = sstr(c.s3.endpoint);
        else if (sk == "region") sst = sstr(c.s3.region);
        else if (sk == "access_key_id") sst = sstr(c.s3.access_key_id);
        else if (sk == "secret_access_key") sst = sstr(c.s3.secret_access_key);
        else if (sk == "session_token") sst = sstr(c.s3.session_token);
        else if (sk == "path_style") {
          if (!sn.is_boolean()) return bad_key(skey, "true or false");
          c.s3.path_style = sn.as_boolean()->get();
        } else {
          return fail(Errc::invalid_argument, "unknown config key '" + skey + "'", skey);
        }
        if (!sst) return sst;
      }
    } else {
      return fail(Errc::invalid_argument, "unknown config key '" + key + "'", key);
    }
    if (!st) return st;
  }
  return {};
}

Status apply_env(ServerConfig& c, const std::map<std::string, std::string>& env) {
  auto get = [&](const char* name) -> const std::string* {
    auto it = env.find(name);
    return it == env.end() || it->second.empty() ? nullptr : &it->second;
  };
  if (auto v = get("DESKAUDIT_LISTEN")) c.listen = *v;
  if (auto v = get("DESKAUDIT_DATA_DIR")) c.data_dir = *v;
  if (auto v = get("DESKAUDIT_CATALOG")) c.catalog = *v;
  if (auto v = get("DESKAUDIT_STORE")) c.store = *v;
  if (auto v = get("DESKAUDIT_WEB_ROOT")) c.web_root = *v;
  if (auto v = get("DESKAUDIT_PUBLIC_URL")) c.public_url = *v;
  if (auto v = get("DESKAUDIT_LOG_LEVEL")) c.log_level = *v;
  if (auto v = get("DESKAUDIT_LOG_FORMAT")) {
    auto f = log_format_from(*v);
    if (!f) return std::unexpected(f.error());
    c.log_format = *f;
  }
  if (auto v = get("DESKAUDIT_TLS_CERT")) c.tls_cert = *v;
  if (auto v = get("DESKAUDIT_TLS_KEY")) c.tls_key = *v;
  if (auto v = get("DESKAUDIT_METRICS_LISTEN")) c.metrics_listen = *v;
  if (auto v = get("DESKAUDIT_S3_ENDPOINT")) c.s3.endpoint = *v;
  if (auto v = get("DESKAUDIT_S3_REGION")) c.s3.region = *v;
  if (auto v = get("DESKAUDIT_S3_PATH_STYLE")) c.s3.path_style = (*v == "1" || *v == "true");
  if (auto v = get("DESKAUDIT_SIGNING_KEY")) c.signing_key_seed = *v;
  if (auto v = get("DESKAUDIT_SIGNING_KEY_FILE")) c.signing_key_file = *v;
  if (auto v = get("DESKAUDIT_TRUSTED_KEYS_FILE")) c.trusted_keys_file = *v;
  if (auto v = get("DESKAUDIT_ENCRYPTION_KEY")) c.encryption_key = *v;
  if (auto v = get("DESKAUDIT_ENCRYPTION_KEY_FILE")) c.encryption_key_file = *v;
  if (auto v = get("DESKAUDIT_AUDIT_SIGN_EVERY")) {
    std::int64_t n = 0;
    auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    if (ec != std::errc() || p != v->data() + v->size()) {
      return fail(Errc::invalid_argument, "DESKAUDIT_AUDIT_SIGN_EVERY must be a whole number", "audit_sign_every");
    }
    c.audit_sign_every = n;
  }
  return {};
}

Result<std::pair<std::string, int>> split_listen(const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return fail(Errc::invalid_argument, "listen address '" + listen + "' must be HOST:PORT", "listen");
  }
  int port = 0;
  const char* b = listen.data() + colon + 1;
  const char* e = listen.data() + listen.size();
  auto [p, ec] = std::from_chars(b, e, port);
  if (ec != std::errc() || p != e || port < 0 || port > 65535) {
    return fail(Errc::invalid_argument, "listen address '" + listen + "' has no valid port", "listen");
  }
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return std::pair{host, port};
}

Status finalize(ServerConfig& c) {
  if (auto l = split_listen(c.listen); !l) return std::unexpected(l.error());
  if (!c.metrics_listen.empty()) {
    if (auto l = split_listen(c.metrics_listen); !l) {
      return fail(Errc::invalid_argument, "metrics_listen: " + l.error().message, "metrics_listen");
    }
    if (c.metrics_listen == c.listen) return fail(Errc::invalid_argument, "metrics_listen must differ from listen", "metrics_listen");
  }
  if (c.data_dir.empty()) return fail(Errc::invalid_argument, "data_dir must not be empty", "data_dir");
  c.data_dir = std::filesystem::absolute(c.data_dir);
  if (c.catalog.empty()) c.catalog = "sqlite://" + (c.data_dir / "catalog.db").string();
  if (c.store.empty()) c.store = "file://" + (c.data_dir / "objects").string();
  if (c.max_segment_bytes < (1 << 16)) return fail(Errc::invalid_argument, "max_segment_bytes must be at least 65536");
  if (c.http_threads < 2 || c.http_threads > 4096) return fail(Errc::invalid_argument, "http_threads must be 2..4096");
  if (c.audit_sign_every < 1 || c.audit_sign_every > 1'000'000) {
    return fail(Errc::invalid_argument, "audit_sign_every must be 1..1000000", "audit_sign_every");
  }
  if (c.signing_key_file.empty()) c.signing_key_file = c.data_dir / "signing.key";
  c.signing_key_file = std::filesystem::absolute(c.signing_key_file);
  if (c.trusted_keys_file.empty()) c.trusted_keys_file = c.signing_key_file.parent_path() / "trusted-keys";
  c.trusted_keys_file = std::filesystem::absolute(c.trusted_keys_file);
  if (c.login_failures_per_address < 1) {
    return fail(Errc::invalid_argument, "login_failures_per_address must be at least 1", "login_failures_per_address");
  }
  if (c.agent_max_open_recordings < 1) {
    return fail(Errc::invalid_argument, "agent_max_open_recordings must be at least 1", "agent_max_open_recordings");
  }
  if (c.agent_upload_bytes_per_hour < c.max_segment_bytes) {
    return fail(Errc::invalid_argument, "agent_upload_bytes_per_hour must be at least max_segment_bytes",
                "agent_upload_bytes_per_hour");
  }
  if (c.max_connections < 16 || c.max_connections > 1'000'000) {
    return fail(Errc::invalid_argument, "max_connections must be 16..1000000", "max_connections");
  }
  if (c.tls_cert.empty() != c.tls_key.empty()) {
    return fail(Errc::invalid_argument, "tls_cert and tls_key go together: give both or neither", "tls_cert");
  }
  for (const auto& [key, path] : {std::pair{"tls_cert", &c.tls_cert}, std::pair{"tls_key", &c.tls_key}}) {
    std::error_code ec;
    if (!path->empty() && !std::filesystem::is_regular_file(*path, ec)) {
      return fail(Errc::invalid_argument, std::string(key) + " " + path->string() + " is not a readable file", key);
    }
  }
  if (c.replica_id.empty()) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    c.replica_id = std::string(host) + ":" + std::to_string(::getpid());
  }
  return {};
}

}  // namespace deskaudit::server

#pragma once
// Server configuration: defaults, then a TOML file, then environment
// variables (DESKAUDIT_*), then command-line flags; later sources win.
// Only the composition root (app.cpp) and main.cpp read it.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "common/error.hpp"
#include "common/log.hpp"
#include "storage/object_store.hpp"

namespace deskaudit::server {

struct ServerConfig {
  std::string listen = "127.0.0.1:8080";       // HOST:PORT
  std::filesystem::path data_dir = "data";      // catalog.db, objects/, incoming/
  std::string catalog;                          // URL; default sqlite:///<data_dir>/catalog.db
  std::string store;                            // URL; default file:///<data_dir>/objects
  storage::S3Options s3;
  std::filesystem::path web_root;               // built console; empty = search defaults
  std::string public_url;                       // printed console URL; default http://<listen>/
  std::int64_t max_segment_bytes = 40ll << 20;  // upload body limit (policy max is 32 MiB)
  std::int64_t max_json_bytes = 1ll << 20;
  int http_threads = 32;                        // worker threads that run request handlers
  std::int64_t max_connections = 10000;         // open connections; more are closed at once
  std::filesystem::path tls_cert;               // PEM certificate chain; with tls_key the server speaks HTTPS
  std::filesystem::path tls_key;                // PEM private key
  std::string metrics_listen;                   // HOST:PORT serving GET /metrics (Prometheus); empty = off
  std::string log_level = "info";
  LogFormat log_format = LogFormat::text;
  std::int64_t session_ttl_ms = 12ll * 3600 * 1000;
  std::int64_t sweep_interval_ms = 60'000;
  std::int64_t agent_offline_after_ms = 90'000;
  // Failed sign-ins one client address may make per 15 minutes (per replica).
  std::int64_t login_failures_per_address = 50;
  // Per computer: recordings open at once, and segment bytes per hour (per replica).
  std::int64_t agent_max_open_recordings = 32;
  std::int64_t agent_upload_bytes_per_hour = 8ll << 30;
  std::string replica_id;                        // default hostname:pid
  // Audit log signing (docs/keys.md). The key and the trusted keys live
  // outside the catalog; the seed (DESKAUDIT_SIGNING_KEY) replaces the key
  // file. Never log signing_key_seed.
  std::filesystem::path signing_key_file;   // default <data_dir>/signing.key (0600, made at first start)
  std::filesystem::path trusted_keys_file;  // default trusted-keys next to the key file (0644)
  std::string signing_key_seed;             // base64 32-byte Ed25519 seed
  std::int64_t audit_sign_every = 16;       // entries between signed checkpoints (1 = every entry)
  // Encryption at rest (docs/encryption.md): on when either is set. The
  // master keys, one base64 32-byte key per line, current first. Never log
  // encryption_key.
  std::filesystem::path encryption_key_file;  // 0600
  std::string encryption_key;                 // DESKAUDIT_ENCRYPTION_KEY
  bool encryption_at_rest() const { return !encryption_key_file.empty() || !encryption_key.empty(); }
};

// Applies a TOML document (keys as the struct's field names; s3 settings in
// an [s3] table). invalid_argument naming the key on a wrong type/unknown key.
Status apply_toml(ServerConfig& config, const std::string& toml_text);
// Applies DESKAUDIT_LISTEN, DESKAUDIT_DATA_DIR, DESKAUDIT_CATALOG,
// DESKAUDIT_STORE, DESKAUDIT_WEB_ROOT, DESKAUDIT_LOG_LEVEL, DESKAUDIT_LOG_FORMAT,
// DESKAUDIT_PUBLIC_URL, DESKAUDIT_S3_ENDPOINT, DESKAUDIT_S3_REGION,
// DESKAUDIT_S3_PATH_STYLE, DESKAUDIT_SIGNING_KEY, DESKAUDIT_SIGNING_KEY_FILE,
// DESKAUDIT_TRUSTED_KEYS_FILE, DESKAUDIT_AUDIT_SIGN_EVERY, DESKAUDIT_TLS_CERT,
// DESKAUDIT_TLS_KEY, DESKAUDIT_METRICS_LISTEN, DESKAUDIT_ENCRYPTION_KEY,
// DESKAUDIT_ENCRYPTION_KEY_FILE from env.
Status apply_env(ServerConfig& config, const std::map<std::string, std::string>& env);
// Fills defaults that depend on other fields (catalog/store URLs, replica id).
Status finalize(ServerConfig& config);
// Splits "HOST:PORT"; invalid_argument when malformed.
Result<std::pair<std::string, int>> split_listen(const std::string& listen);

}  // namespace deskaudit::server

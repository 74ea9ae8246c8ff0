#pragma once
// The S3 servers the tests run against, each as a test parameter:
// - s3rver (scripts/s3-test-server): DESKAUDIT_TEST_S3_ENDPOINT, bucket
//   DESKAUDIT_TEST_S3_BUCKET (default deskaudit-test), credentials
//   DESKAUDIT_TEST_S3_ACCESS_KEY / _SECRET_KEY (default s3rver's S3RVER/S3RVER).
//   It does not verify SigV4 signatures.
// - Ceph RADOS Gateway (scripts/rgw-test-server): DESKAUDIT_TEST_RGW_ENDPOINT,
//   _ACCESS_KEY, _SECRET_KEY and _BUCKET, as `eval "$(scripts/rgw-test-server
//   start)"` exports them. It verifies signatures and payload hashes, and
//   pages every listing after 3 keys (rgw_max_listing_results = 3).
// Without GoogleTest, for benchmarks too; s3_test_servers.hpp adds the
// tests' macro. Header-only.
#include <cstdlib>
#include <optional>
#include <ostream>
#include <string>

namespace deskaudit::testing {

enum class S3Server { s3rver, rgw };

struct S3TestTarget {
  S3Server server = S3Server::s3rver;
  std::string endpoint;  // "http://127.0.0.1:4568"
  std::string bucket;
  std::string access_key;
  std::string secret_key;
};

// "S3rver" / "Rgw": the suffix of parameterized test names ("ctest -R Rgw").
inline std::string s3_server_name(S3Server s) { return s == S3Server::rgw ? "Rgw" : "S3rver"; }

inline const char* s3_endpoint_variable(S3Server s) {
  return s == S3Server::rgw ? "DESKAUDIT_TEST_RGW_ENDPOINT" : "DESKAUDIT_TEST_S3_ENDPOINT";
}

inline const char* s3_start_command(S3Server s) {
  return s == S3Server::rgw ? "eval \"$(scripts/rgw-test-server start)\"" : "scripts/s3-test-server start";
}

inline std::string s3_env_or(const std::string& name, const std::string& fallback) {
  const char* v = std::getenv(name.c_str());
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

// The server's settings, or nullopt when its endpoint variable is absent.
// RGW's keys are random per cluster, so they have no default: an endpoint
// without them gives empty keys, which every request then fails with.
inline std::optional<S3TestTarget> s3_test_target(S3Server s) {
  const std::string base = s == S3Server::rgw ? "DESKAUDIT_TEST_RGW_" : "DESKAUDIT_TEST_S3_";
  const std::string fallback_key = s == S3Server::rgw ? "" : "S3RVER";
  S3TestTarget t;
  t.server = s;
  t.endpoint = s3_env_or(base + "ENDPOINT", "");
  if (t.endpoint.empty()) return std::nullopt;
  t.bucket = s3_env_or(base + "BUCKET", "deskaudit-test");
  t.access_key = s3_env_or(base + "ACCESS_KEY", fallback_key);
  t.secret_key = s3_env_or(base + "SECRET_KEY", fallback_key);
  return t;
}

inline void PrintTo(S3Server s, std::ostream* os) { *os << s3_server_name(s); }

}  // namespace deskaudit::testing

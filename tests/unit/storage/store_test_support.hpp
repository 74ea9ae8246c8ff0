#pragma once
// Helpers shared by the storage tests: where the S3 test server is, and
// small read/write conveniences.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <span>
#include <string>

#include "storage/object_store.hpp"

namespace deskaudit::storage::testing {

// DESKAUDIT_TEST_S3_ENDPOINT (e.g. from `scripts/s3-test-server start`),
// bucket DESKAUDIT_TEST_S3_BUCKET (default deskaudit-test), credentials
// DESKAUDIT_TEST_S3_ACCESS_KEY / _SECRET_KEY (default s3rver's S3RVER/S3RVER).
struct S3TestServer {
  std::string endpoint;
  std::string bucket;
  S3Options options;
};

inline std::string env_or(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

inline std::optional<S3TestServer> s3_test_server() {
  const std::string endpoint = env_or("DESKAUDIT_TEST_S3_ENDPOINT", "");
  if (endpoint.empty()) return std::nullopt;
  S3TestServer s;
  s.endpoint = endpoint;
  s.bucket = env_or("DESKAUDIT_TEST_S3_BUCKET", "deskaudit-test");
  s.options.endpoint = endpoint;
  s.options.access_key_id = env_or("DESKAUDIT_TEST_S3_ACCESS_KEY", "S3RVER");
  s.options.secret_access_key = env_or("DESKAUDIT_TEST_S3_SECRET_KEY", "S3RVER");
  s.options.max_retries = 2;
  return s;
}

// Skips when no S3 server is configured, fails instead under CI.
#define DESKAUDIT_REQUIRE_S3(server)                                                                 \
  do {                                                                                               \
    if (!(server)) {                                                                                 \
      if (std::getenv("CI") != nullptr) FAIL() << "CI is set but DESKAUDIT_TEST_S3_ENDPOINT is not"; \
      GTEST_SKIP() << "DESKAUDIT_TEST_S3_ENDPOINT is not set (run: scripts/s3-test-server start)";   \
    }                                                                                                \
  } while (0)

inline std::span<const std::byte> as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

inline std::string pseudo_random_bytes(std::size_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const auto v = rng();
    std::memcpy(out.data() + i, &v, 8);
  }
  for (; i < n; ++i) out[i] = static_cast<char>(rng());
  return out;
}

inline void write_file(const std::filesystem::path& path, std::string_view data) {
  std::ofstream(path, std::ios::binary).write(data.data(), static_cast<std::streamsize>(data.size()));
}

inline Result<std::string> read_all(ObjectStore& store, std::string_view key, ByteRange range = {}) {
  std::string out;
  auto n = store.read(key, range, [&](std::span<const std::byte> data) {
    out.append(reinterpret_cast<const char*>(data.data()), data.size());
    return true;
  });
  if (!n) return std::unexpected(n.error());
  if (*n != out.size()) return fail(Errc::internal, "read() returned a count different from the bytes delivered");
  return out;
}

}  // namespace deskaudit::storage::testing

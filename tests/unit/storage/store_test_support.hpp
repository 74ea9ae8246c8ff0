#pragma once
// Helpers shared by the storage tests: the S3 test servers' settings, and
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

#include "s3_test_servers.hpp"
#include "storage/object_store.hpp"

namespace deskaudit::storage::testing {

using deskaudit::testing::S3Server;
using deskaudit::testing::S3TestTarget;

// The store's settings for one of the S3 test servers (s3_test_servers.hpp).
inline S3Options s3_options(const S3TestTarget& target) {
  S3Options o;
  o.endpoint = target.endpoint;
  o.access_key_id = target.access_key;
  o.secret_access_key = target.secret_key;
  o.max_retries = 2;
  return o;
}

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

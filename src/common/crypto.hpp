#pragma once
// Hashing and randomness over libsodium. All functions are thread-safe;
// sodium_init() is called once on first use.
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include <sodium.h>

#include "common/error.hpp"

namespace deskaudit {

// Incremental SHA-256; hex() gives 64 lowercase hex characters.
class Sha256 {
 public:
  Sha256();
  void update(std::span<const std::byte> data);
  void update(std::string_view data);
  std::array<std::uint8_t, 32> digest();  // finishes; call once
  std::string hex();                      // finishes; call once

 private:
  crypto_hash_sha256_state state_{};
};

std::string sha256_hex(std::string_view data);
Result<std::string> sha256_file_hex(const std::filesystem::path& path);
bool is_sha256_hex(std::string_view text);  // 64 lowercase hex characters

std::string to_hex(std::span<const std::uint8_t> bytes);

// Random identifiers: prefix + 20 characters of lowercase base32 (100 bits),
// e.g. "rec-" + "k3v...". Unique in practice; opaque to clients.
std::string random_id(std::string_view prefix);
// Bearer secrets: prefix + 43 characters of URL-safe base64 (256 bits).
std::string random_token(std::string_view prefix);
// Constant-time comparison for secrets.
bool secure_equal(std::string_view a, std::string_view b);

}  // namespace deskaudit

#pragma once
// Hashing and randomness over libsodium (SHA-256 on the x86-64 SHA
// extensions where the CPU has them). All functions are thread-safe;
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

// What computes a SHA-256: libsodium's portable code, or the x86-64 SHA
// extensions (SHA-NI; about 3x as fast) where the CPU has them.
enum class Sha256Engine { libsodium, sha_ni };
// Whether this CPU can run `engine` (libsodium: always).
bool sha256_engine_available(Sha256Engine engine) noexcept;
// The fastest engine this CPU can run (sha_ni when it has the extensions).
Sha256Engine sha256_default_engine() noexcept;

// Incremental SHA-256; hex() gives 64 lowercase hex characters.
class Sha256 {
 public:
  Sha256();  // sha256_default_engine()
  // Throws std::invalid_argument when this CPU cannot run `engine`.
  explicit Sha256(Sha256Engine engine);
  void update(std::span<const std::byte> data);
  void update(std::string_view data);
  std::array<std::uint8_t, 32> digest();  // finishes; call once
  std::string hex();                      // finishes; call once
  Sha256Engine engine() const { return engine_; }

 private:
  void update_bytes(const std::uint8_t* data, std::size_t size);

  Sha256Engine engine_;
  crypto_hash_sha256_state sodium_{};  // libsodium
  // sha_ni: the hash value H0..H7, the partial block, the message length.
  std::array<std::uint32_t, 8> h_{};
  std::array<std::uint8_t, 64> block_{};
  std::size_t block_bytes_ = 0;
  std::uint64_t message_bytes_ = 0;
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

#pragma once
// Hashing and randomness over libsodium; SHA-256 over OpenSSL's libcrypto,
// which uses the CPU's SHA extensions (several times libsodium's portable
// code: segment uploads hash every byte). All functions are thread-safe;
// sodium_init() is called once on first use.
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <sodium.h>

#include "common/error.hpp"

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX

namespace deskaudit {

struct EvpMdCtxFree {
  void operator()(evp_md_ctx_st* ctx) const noexcept;
};
using EvpMdCtxPtr = std::unique_ptr<evp_md_ctx_st, EvpMdCtxFree>;

// Incremental SHA-256; hex() gives 64 lowercase hex characters.
class Sha256 {
 public:
  Sha256();
  void update(std::span<const std::byte> data);
  void update(std::string_view data);
  std::array<std::uint8_t, 32> digest();  // finishes; call once
  std::string hex();                      // finishes; call once

 private:
  EvpMdCtxPtr ctx_;
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

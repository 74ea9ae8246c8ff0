#include "common/crypto.hpp"

#include <cerrno>
#include <fcntl.h>
#include <mutex>
#include <stdexcept>
#include <unistd.h>

#include <openssl/evp.h>

namespace deskaudit {
namespace {

void ensure_sodium() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
  });
}

}  // namespace

void EvpMdCtxFree::operator()(evp_md_ctx_st* ctx) const noexcept { EVP_MD_CTX_free(ctx); }

// Failures here mean no memory or a broken libcrypto, not bad input.
Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("OpenSSL SHA-256 failed to initialise");
  }
}

void Sha256::update(std::span<const std::byte> data) {
  if (EVP_DigestUpdate(ctx_.get(), data.data(), data.size()) != 1) throw std::runtime_error("SHA-256 update failed");
}

void Sha256::update(std::string_view data) { update(std::as_bytes(std::span(data.data(), data.size()))); }

std::array<std::uint8_t, 32> Sha256::digest() {
  std::array<std::uint8_t, 32> out{};
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(ctx_.get(), out.data(), &n) != 1 || n != out.size()) {
    throw std::runtime_error("SHA-256 final failed");
  }
  return out;
}

std::string Sha256::hex() {
  const auto d = digest();
  return to_hex(d);
}

std::string sha256_hex(std::string_view data) {
  Sha256 h;
  h.update(data);
  return h.hex();
}

Result<std::string> sha256_file_hex(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(Errc::io, errno_message("open " + path.string(), errno));
  Sha256 h;
  std::array<std::byte, 1 << 16> buf;
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      return fail(Errc::io, errno_message("read " + path.string(), e));
    }
    if (n == 0) break;
    h.update(std::span(buf.data(), static_cast<size_t>(n)));
  }
  ::close(fd);
  return h.hex();
}

bool is_sha256_hex(std::string_view t) {
  if (t.size() != 64) return false;
  for (char c : t) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string to_hex(std::span<const std::uint8_t> bytes) {
  static constexpr char k[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (auto b : bytes) {
    out.push_back(k[b >> 4]);
    out.push_back(k[b & 15]);
  }
  return out;
}

std::string random_id(std::string_view prefix) {
  ensure_sodium();
  static constexpr char k[] = "abcdefghijklmnopqrstuvwxyz234567";
  std::string out(prefix);
  for (int i = 0; i < 20; ++i) out.push_back(k[randombytes_uniform(32)]);
  return out;
}

std::string random_token(std::string_view prefix) {
  ensure_sodium();
  unsigned char raw[32];
  randombytes_buf(raw, sizeof raw);
  char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
  sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return std::string(prefix) + b64;
}

bool secure_equal(std::string_view a, std::string_view b) {
  ensure_sodium();
  if (a.size() != b.size()) return false;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace deskaudit

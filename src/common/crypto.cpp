#include "common/crypto.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <stdexcept>

#include "common/sha256_ni.hpp"

namespace deskaudit {
namespace {

void ensure_sodium() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
  });
}

}  // namespace

bool sha256_engine_available(Sha256Engine engine) noexcept {
  return engine == Sha256Engine::libsodium || detail::sha256_ni_supported();
}

Sha256Engine sha256_default_engine() noexcept {
  return detail::sha256_ni_supported() ? Sha256Engine::sha_ni : Sha256Engine::libsodium;
}

Sha256::Sha256() : Sha256(sha256_default_engine()) {}

Sha256::Sha256(Sha256Engine engine) : engine_(engine) {
  if (!sha256_engine_available(engine)) throw std::invalid_argument("this CPU has no SHA extensions (SHA-NI)");
  if (engine_ == Sha256Engine::libsodium) {
    ensure_sodium();
    crypto_hash_sha256_init(&sodium_);
  } else {
    // FIPS 180-4, 5.3.3.
    h_ = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  }
}

void Sha256::update(std::span<const std::byte> data) {
  update_bytes(reinterpret_cast<const std::uint8_t*>(data.data()), data.size());
}

void Sha256::update(std::string_view data) {
  update_bytes(reinterpret_cast<const std::uint8_t*>(data.data()), data.size());
}

void Sha256::update_bytes(const std::uint8_t* data, std::size_t size) {
  if (engine_ == Sha256Engine::libsodium) {
    crypto_hash_sha256_update(&sodium_, data, size);
    return;
  }
  message_bytes_ += size;
  if (block_bytes_ > 0) {
    const std::size_t take = std::min(size, block_.size() - block_bytes_);
    std::memcpy(block_.data() + block_bytes_, data, take);
    block_bytes_ += take;
    data += take;
    size -= take;
    if (block_bytes_ < block_.size()) return;
    detail::sha256_ni_blocks(h_.data(), block_.data(), 1);
    block_bytes_ = 0;
  }
  // Whole blocks straight from the caller's buffer.
  const std::size_t whole = size / 64;
  if (whole > 0) detail::sha256_ni_blocks(h_.data(), data, whole);
  data += whole * 64;
  size -= whole * 64;
  if (size > 0) std::memcpy(block_.data(), data, size);
  block_bytes_ = size;
}

std::array<std::uint8_t, 32> Sha256::digest() {
  std::array<std::uint8_t, 32> out{};
  if (engine_ == Sha256Engine::libsodium) {
    crypto_hash_sha256_final(&sodium_, out.data());
    return out;
  }
  // FIPS 180-4, 5.1.1: a 1 bit, zeros up to 56 mod 64 bytes, then the
  // message length in bits as a 64-bit big-endian number.
  const std::uint64_t bits = message_bytes_ * 8;
  block_[block_bytes_++] = 0x80;
  if (block_bytes_ > 56) {
    std::fill(block_.begin() + static_cast<std::ptrdiff_t>(block_bytes_), block_.end(), 0);
    detail::sha256_ni_blocks(h_.data(), block_.data(), 1);
    block_bytes_ = 0;
  }
  std::fill(block_.begin() + static_cast<std::ptrdiff_t>(block_bytes_), block_.begin() + 56, 0);
  for (int i = 0; i < 8; ++i) block_[56 + i] = static_cast<std::uint8_t>(bits >> (56 - 8 * i));
  detail::sha256_ni_blocks(h_.data(), block_.data(), 1);
  for (std::size_t i = 0; i < 8; ++i) {
    for (std::size_t b = 0; b < 4; ++b) out[4 * i + b] = static_cast<std::uint8_t>(h_[i] >> (24 - 8 * b));
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

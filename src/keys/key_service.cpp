#include "keys/key_service.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <optional>

#include <sodium.h>

#include "common/crypto.hpp"
#include "common/fs.hpp"
#include "common/posix_compat.hpp"

namespace deskaudit::keys {
namespace {

constexpr std::string_view kAlgorithm = "ed25519";

std::string to_base64(std::span<const std::uint8_t> bytes) {
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes.data(), bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

// Exactly N bytes from standard base64 (whitespace ignored), else nullopt.
template <std::size_t N>
std::optional<std::array<std::uint8_t, N>> from_base64(std::string_view text) {
  std::array<std::uint8_t, N + 3> buf{};  // room to notice a longer value
  std::size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(buf.data(), buf.size(), text.data(), text.size(), " \t\r\n", &len, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != text.data() + text.size() || len != N) {
    return std::nullopt;
  }
  std::array<std::uint8_t, N> out{};
  std::copy_n(buf.begin(), N, out.begin());
  sodium_memzero(buf.data(), buf.size());
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

#ifndef _WIN32
Status check_mode(const std::filesystem::path& path, int fd, unsigned forbidden, std::string_view what,
                  std::string_view fix) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fail(Errc::io, errno_message("stat " + path.string(), errno));
  if (!S_ISREG(st.st_mode))
    return fail(Errc::invalid_argument, std::string(what) + " " + path.string() + " is not a regular file");
  if ((st.st_mode & forbidden) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return fail(Errc::invalid_argument, std::string(what) + " " + path.string() + " has mode " + mode + "; " +
                                            std::string(fix) + " " + path.string());
  }
  return {};
}
#endif

// Reads a small file after checking its mode on the open descriptor (no
// race between the check and the read). not_found when absent.
Result<std::string> read_checked(const std::filesystem::path& path, unsigned forbidden, std::string_view what,
                                 std::string_view fix) {
#ifdef _WIN32
  // No POSIX modes on Windows: the directory's ACL (SYSTEM and
  // Administrators, docs/windows.md) is what guards the key.
  (void)forbidden;
  (void)fix;
  auto text = read_file(path, 1u << 20);
  if (!text && text.error().code != Errc::not_found) return std::unexpected(with_context(text.error(), std::string(what)));
  return text;
#else
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) {
    const int e = errno;
    return fail(e == ENOENT ? Errc::not_found : Errc::io,
                errno_message("open " + std::string(what) + " " + path.string(), e));
  }
  if (auto st = check_mode(path, fd.get(), forbidden, what, fix); !st) return std::unexpected(st.error());
  return read_file("/proc/self/fd/" + std::to_string(fd.get()), 1u << 20);
#endif
}

}  // namespace

std::string PublicKey::base64() const { return to_base64(bytes); }

std::string key_id_of(std::span<const std::uint8_t, kPublicKeyBytes> public_key) {
  return sha256_hex(std::string_view(reinterpret_cast<const char*>(public_key.data()), public_key.size()))
      .substr(0, 16);
}

Result<PublicKey> public_key_from_base64(std::string_view text) {
  auto bytes = from_base64<kPublicKeyBytes>(text);
  if (!bytes) return fail(Errc::invalid_argument, "an Ed25519 public key must be the base64 of 32 bytes");
  PublicKey key;
  key.bytes = *bytes;
  key.key_id = key_id_of(key.bytes);
  return key;
}

// --- Keyring -----------------------------------------------------------------

Result<Keyring> Keyring::parse(std::string_view text, std::string_view origin) {
  Keyring ring;
  int line_no = 0;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    if (line.empty() || line.front() == '#') continue;
    const auto where = std::string(origin) + " line " + std::to_string(line_no);
    const auto space = line.find_first_of(" \t");
    if (space == std::string_view::npos || line.substr(0, space) != kAlgorithm) {
      return fail(Errc::invalid_argument, where + ": expected \"ed25519 <base64 public key>\"");
    }
    std::string_view rest = trim(line.substr(space + 1));
    rest = rest.substr(0, rest.find_first_of(" \t"));  // anything after the key is a comment
    auto key = public_key_from_base64(rest);
    if (!key) return fail(Errc::invalid_argument, where + ": " + key.error().message);
    ring.add(*key);
  }
  return ring;
}

Result<Keyring> Keyring::load(const std::filesystem::path& path) {
  auto text =
      read_checked(path, S_IWGRP | S_IWOTH, "keyring", "a trust anchor must not be writable by others: chmod 644");
  if (!text) return std::unexpected(text.error());
  return parse(*text, path.string());
}

std::string Keyring::to_text() const {
  std::string out = "# deskaudit trusted public keys: ed25519 <base64 public key> key-id\n";
  for (const auto& k : keys_) out += std::string(kAlgorithm) + " " + k.base64() + " " + k.key_id + "\n";
  return out;
}

bool Keyring::add(const PublicKey& key) {
  if (find(key.key_id) != nullptr) return false;
  keys_.push_back(key);
  return true;
}

const PublicKey* Keyring::find(std::string_view key_id) const {
  for (const auto& k : keys_) {
    if (k.key_id == key_id) return &k;
  }
  return nullptr;
}

Status Keyring::verify(std::string_view key_id, std::string_view message, std::string_view signature_base64) const {
  const PublicKey* key = find(key_id);
  if (key == nullptr) return fail(Errc::not_found, "key " + std::string(key_id) + " is not a trusted key");
  auto sig = from_base64<kSignatureBytes>(signature_base64);
  if (!sig) return fail(Errc::corrupt, "the signature is not the base64 of 64 bytes");
  if (crypto_sign_verify_detached(sig->data(), reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                                  key->bytes.data()) != 0) {
    return fail(Errc::corrupt, "the signature by key " + key->key_id + " does not match");
  }
  return {};
}

// --- KeyService --------------------------------------------------------------

struct KeyService::Secret {
  std::array<std::uint8_t, crypto_sign_SECRETKEYBYTES> secret{};
  PublicKey public_key;
  ~Secret() { sodium_memzero(secret.data(), secret.size()); }

  static std::unique_ptr<Secret> from_seed(const std::array<std::uint8_t, kSeedBytes>& seed) {
    auto s = std::make_unique<Secret>();
    crypto_sign_seed_keypair(s->public_key.bytes.data(), s->secret.data(), seed.data());
    s->public_key.key_id = key_id_of(s->public_key.bytes);
    return s;
  }
};

namespace {

std::string key_file_text(const std::array<std::uint8_t, kSeedBytes>& seed) {
  return "# deskaudit Ed25519 signing key (base64 seed). Secret: keep it 0600 and out of backups of the catalog.\n" +
         to_base64(seed) + "\n";
}

Result<std::array<std::uint8_t, kSeedBytes>> parse_key_file(std::string_view text, const std::filesystem::path& path) {
  std::optional<std::array<std::uint8_t, kSeedBytes>> seed;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    const std::string_view line = trim(text.substr(0, nl));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (line.empty() || line.front() == '#') continue;
    if (seed)
      return fail(Errc::invalid_argument, "signing key file " + path.string() + " holds more than one key line");
    seed = from_base64<kSeedBytes>(line);
    if (!seed) {
      return fail(Errc::invalid_argument, "signing key file " + path.string() +
                                              " is not a base64 32-byte Ed25519 seed (move it away to have a new key "
                                              "made, or restore the right file)");
    }
  }
  if (!seed) return fail(Errc::invalid_argument, "signing key file " + path.string() + " holds no key");
  return *seed;
}

}  // namespace

KeyService::KeyService(KeyOptions options) : options_(std::move(options)) {}
KeyService::~KeyService() = default;

Result<std::unique_ptr<KeyService>> KeyService::open(const KeyOptions& options) {
  if (sodium_init() < 0) return fail(Errc::internal, "libsodium failed to initialise");
  if (options.keyring_file.empty()) return fail(Errc::invalid_argument, "the trusted keys file is not set");
  std::unique_ptr<KeyService> svc(new KeyService(options));
  std::array<std::uint8_t, kSeedBytes> seed{};
  if (!options.seed_base64.empty()) {
    auto s = from_base64<kSeedBytes>(options.seed_base64);
    if (!s) {
      return fail(Errc::invalid_argument,
                  "DESKAUDIT_SIGNING_KEY must be the base64 of a 32-byte seed (make one with: head -c 32 /dev/urandom "
                  "| base64)");
    }
    seed = *s;
  } else {
    if (options.key_file.empty()) return fail(Errc::invalid_argument, "the signing key file is not set");
    auto text = read_checked(options.key_file, S_IRWXG | S_IRWXO, "signing key file", "chmod 600");
    if (!text && text.error().code == Errc::not_found) {
      randombytes_buf(seed.data(), seed.size());
      auto body = key_file_text(seed);
      // O_EXCL: two processes starting on one data directory cannot both win.
      UniqueFd fd(::open(options.key_file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
      if (!fd) return fail(Errc::io, errno_message("create signing key file " + options.key_file.string(), errno));
      auto written = write_all(fd.get(), body.data(), body.size(), options.key_file.string());
      sodium_memzero(body.data(), body.size());
      if (!written) return std::unexpected(written.error());
      if (::fsync(fd.get()) != 0) return fail(Errc::io, errno_message("fsync " + options.key_file.string(), errno));
    } else if (!text) {
      return std::unexpected(text.error());
    } else {
      auto parsed = parse_key_file(*text, options.key_file);
      if (!parsed) return std::unexpected(parsed.error());
      seed = *parsed;
    }
  }
  svc->secret_ = Secret::from_seed(seed);
  sodium_memzero(seed.data(), seed.size());

  auto ring = Keyring::load(options.keyring_file);
  if (ring) {
    svc->keyring_ = std::move(*ring);
  } else if (ring.error().code != Errc::not_found) {
    return std::unexpected(ring.error());
  }
  if (svc->keyring_.find(svc->secret_->public_key.key_id) == nullptr) {
    if (auto st = svc->save_keyring_with(svc->secret_->public_key); !st) return std::unexpected(st.error());
  }
  return svc;
}

Status KeyService::save_keyring_with(const PublicKey& key) {
  Keyring next = keyring_;
  next.add(key);
  if (auto st = write_file_atomic(options_.keyring_file, next.to_text(), 0644); !st) return st;
  keyring_ = std::move(next);
  return {};
}

Signature KeyService::sign(std::string_view message) const {
  std::lock_guard lock(mu_);
  std::array<std::uint8_t, kSignatureBytes> sig{};
  crypto_sign_detached(sig.data(), nullptr, reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                       secret_->secret.data());
  return Signature{secret_->public_key.key_id, to_base64(sig)};
}

Status KeyService::verify(std::string_view key_id, std::string_view message, std::string_view signature_base64) const {
  std::lock_guard lock(mu_);
  return keyring_.verify(key_id, message, signature_base64);
}

PublicKey KeyService::current() const {
  std::lock_guard lock(mu_);
  return secret_->public_key;
}

Keyring KeyService::trusted() const {
  std::lock_guard lock(mu_);
  return keyring_;
}

Result<PublicKey> KeyService::rotate() {
  std::lock_guard lock(mu_);
  if (from_environment()) {
    return fail(Errc::conflict,
                "the signing key comes from DESKAUDIT_SIGNING_KEY: rotate it there (add the old public key to the "
                "trusted keys file first, see docs/keys.md)");
  }
  std::array<std::uint8_t, kSeedBytes> seed{};
  randombytes_buf(seed.data(), seed.size());
  auto next = Secret::from_seed(seed);
  // Trust first, then switch: a crash in between leaves an extra trusted key,
  // never a signing key nobody trusts.
  if (auto st = save_keyring_with(next->public_key); !st) return std::unexpected(st.error());
  auto body = key_file_text(seed);
  sodium_memzero(seed.data(), seed.size());
  auto written = write_file_atomic(options_.key_file, body, 0600);
  sodium_memzero(body.data(), body.size());
  if (!written) return std::unexpected(written.error());
  secret_ = std::move(next);
  return secret_->public_key;
}

}  // namespace deskaudit::keys

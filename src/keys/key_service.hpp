#pragma once
// Ed25519 signing (libsodium) with a key kept outside the catalog, so that
// someone who can edit the database cannot sign. Reused by every signer of
// the server (audit log checkpoints, recording manifests).
//
// Files (both outside the catalog, normally in the data directory):
// - the signing key: "<base64 32-byte seed>" on one line ('#' comments
//   allowed), mode 0600; refused when group or others can read it. Created
//   at first start unless the seed comes from the environment.
// - the keyring of trusted public keys: one "ed25519 <base64 public key>"
//   line per key, mode 0644; refused when group or others can write it. The
//   current key is added on start; rotation adds the new key and keeps the
//   old ones, so everything signed before stays verifiable.
// A key id is the first 16 hex characters of SHA-256(public key).
#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace deskaudit::keys {

inline constexpr std::size_t kSeedBytes = 32;
inline constexpr std::size_t kPublicKeyBytes = 32;
inline constexpr std::size_t kSignatureBytes = 64;

struct PublicKey {
  std::string key_id;
  std::array<std::uint8_t, kPublicKeyBytes> bytes{};
  std::string base64() const;  // standard base64 with padding (44 characters)
};

struct Signature {
  std::string key_id;
  std::string signature;  // standard base64 with padding of the 64 bytes
};

std::string key_id_of(std::span<const std::uint8_t, kPublicKeyBytes> public_key);
// The public key from its base64 text; invalid_argument when it is not 32 bytes.
Result<PublicKey> public_key_from_base64(std::string_view text);

// A set of trusted public keys. Value type; not synchronised.
class Keyring {
 public:
  // invalid_argument naming origin and line for a malformed line.
  static Result<Keyring> parse(std::string_view text, std::string_view origin);
  // not_found when the file does not exist.
  static Result<Keyring> load(const std::filesystem::path& path);
  std::string to_text() const;
  bool add(const PublicKey& key);  // false when already present
  const PublicKey* find(std::string_view key_id) const;
  const std::vector<PublicKey>& keys() const { return keys_; }
  // ok when key_id is trusted and the signature over message verifies;
  // not_found for an unknown key id, corrupt for a bad or malformed signature.
  Status verify(std::string_view key_id, std::string_view message, std::string_view signature_base64) const;

 private:
  std::vector<PublicKey> keys_;
};

struct KeyOptions {
  std::filesystem::path key_file;      // the private key (0600)
  std::filesystem::path keyring_file;  // trusted public keys (0644)
  std::string seed_base64;             // when set, the key (key_file is then not used)
};

// The server's signing key and keyring. Thread-safe.
class KeyService {
 public:
  // Loads (or creates, when missing and no seed is given) the key, then makes
  // sure the keyring trusts it. invalid_argument/io with the file and what to
  // fix for a bad key file, a wrong mode or a bad seed.
  static Result<std::unique_ptr<KeyService>> open(const KeyOptions& options);
  ~KeyService();

  Signature sign(std::string_view message) const;
  Status verify(std::string_view key_id, std::string_view message, std::string_view signature_base64) const;
  PublicKey current() const;
  Keyring trusted() const;
  bool from_environment() const { return !options_.seed_base64.empty(); }

  // Makes a new key current: its public key joins the keyring first, then the
  // key file is replaced (the old private key is gone; its public key stays
  // trusted). conflict when the key comes from the environment (rotate it
  // there: see docs/keys.md). Returns the new public key.
  Result<PublicKey> rotate();

 private:
  struct Secret;
  explicit KeyService(KeyOptions options);
  Status save_keyring_with(const PublicKey& key);

  KeyOptions options_;
  mutable std::mutex mu_;
  std::unique_ptr<Secret> secret_;  // guarded by mu_
  Keyring keyring_;                 // guarded by mu_
};

}  // namespace deskaudit::keys

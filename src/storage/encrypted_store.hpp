#pragma once
// Encryption at rest (docs/encryption.md): an ObjectStore decorator that
// encrypts every object before it reaches the inner store and decrypts on
// read, so segments, events documents, manifests and anything else written
// through it are ciphertext in the bucket.
//
// Keys: a random 256-bit data key per recording (per recording_prefix(); one
// more for objects outside recordings), wrapped by a master key from a
// MasterKeyProvider and stored as a small object next to the recording's
// objects ("<recording prefix>_dek-<32 hex>.key"). Rotating the master key
// rewraps those small objects only (rotate_data_keys()); deleting a
// recording's prefix deletes its data keys with it.
//
// Object format: a 64-byte header (magic "DAENC01\0", algorithm, chunk size,
// plaintext size, a random 16-byte salt, the data key's id), then the
// plaintext in chunks of 64 KiB, each sealed on its own with a 16-byte tag
// (AES-256-GCM where the CPU has AES-NI, else XChaCha20-Poly1305). Each
// object is sealed under its own subkey, BLAKE2b(data key; salt, object key),
// with the chunk index as nonce; the header, the chunk index and a
// last-chunk flag are associated data. So a changed byte, a truncated or
// extended object, reordered chunks, chunks moved between objects and a
// whole object stored under another key all fail authentication
// (Errc::corrupt), and a byte range costs only the chunks it touches.
//
// Objects without the magic (written before encryption was switched on) are
// read as they are, so a store can be migrated (encrypt_in_place()).
// Thread safety: every method may be called from many threads at once.
#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/error.hpp"
#include "storage/object_store.hpp"

namespace deskaudit::storage {

inline constexpr std::size_t kDataKeyBytes = 32;
inline constexpr std::size_t kEncryptedHeaderBytes = 64;
inline constexpr std::size_t kEncryptedTagBytes = 16;
inline constexpr std::size_t kDefaultChunkBytes = 64 * 1024;

// A 256-bit key, wiped when destroyed.
struct SecretKey {
  std::array<std::uint8_t, kDataKeyBytes> bytes{};
  SecretKey() = default;
  SecretKey(const SecretKey&) = default;
  SecretKey& operator=(const SecretKey&) = default;
  ~SecretKey();
};

// A data key sealed by a master key. `sealed` is opaque to everything but
// the provider that made it.
struct WrappedKey {
  std::string master_key_id;
  std::string sealed;
};

// Where master keys come from. The local provider (key file or environment)
// is the only one now; a KMS provider implements the same three calls.
// Implementations are thread-safe.
class MasterKeyProvider {
 public:
  virtual ~MasterKeyProvider() = default;
  // The id new wraps are made with.
  virtual std::string current_key_id() const = 0;
  // Seals data_key under the current master key, bound to `context` (the
  // data key object's name): it unwraps only with the same context.
  virtual Result<WrappedKey> wrap(const SecretKey& data_key, std::string_view context) const = 0;
  // not_found when the master key id is not known to this provider;
  // corrupt when the sealed key does not authenticate.
  virtual Result<SecretKey> unwrap(const WrappedKey& wrapped, std::string_view context) const = 0;
  // For logs: "key file /etc/deskaudit/master.key (current 1a2b...)"; no secrets.
  virtual std::string describe() const = 0;
};

// Master keys from text: one standard-base64 32-byte key per line ('#'
// comments and blank lines skipped); the first is current, the others
// are older keys still accepted for unwrapping (during a rotation). A key's
// id is 16 hex digits of BLAKE2b(key; "deskaudit master key id").
class LocalMasterKeys final : public MasterKeyProvider {
 public:
  // invalid_argument naming origin and line for a malformed line, no key,
  // or a repeated key.
  static Result<std::unique_ptr<LocalMasterKeys>> parse(std::string_view text, std::string_view origin);
  // The key file must be a regular file that group and others cannot read
  // (0600 or 0400); not_found when it does not exist.
  static Result<std::unique_ptr<LocalMasterKeys>> load_file(const std::filesystem::path& path);
  // A new random key as one line of key file text.
  static std::string generate_line();

  std::string current_key_id() const override;
  Result<WrappedKey> wrap(const SecretKey& data_key, std::string_view context) const override;
  Result<SecretKey> unwrap(const WrappedKey& wrapped, std::string_view context) const override;
  std::string describe() const override;
  std::vector<std::string> key_ids() const;

 private:
  LocalMasterKeys() = default;
  struct Entry {
    std::string id;
    SecretKey key;
  };
  std::vector<Entry> keys_;  // [0] is current
  std::string origin_;
};

// The master keys of a server or tool: the key file, or the environment
// text (DESKAUDIT_ENCRYPTION_KEY) when given. invalid_argument when both or
// neither are given.
Result<std::shared_ptr<const MasterKeyProvider>> load_master_keys(const std::filesystem::path& key_file,
                                                                  std::string_view env_text);

enum class ChunkCipher : std::uint8_t { aes256gcm = 1, xchacha20poly1305 = 2 };
// AES-256-GCM when this CPU has AES-NI (libsodium's requirement), else XChaCha20-Poly1305.
ChunkCipher default_chunk_cipher();

struct EncryptionOptions {
  ChunkCipher cipher = default_chunk_cipher();
  std::size_t chunk_bytes = kDefaultChunkBytes;  // a power of two, 4 KiB .. 16 MiB
  // Where ciphertext is staged before the inner store takes it (0700, made
  // when missing). Same filesystem as a local store lets it move the file.
  std::filesystem::path temp_dir;
};

// Whether a stored object's first bytes are an encrypted object's header.
bool is_encrypted_object(std::span<const std::byte> first_bytes);
// Whether key names a wrapped data key object (never written by callers).
bool is_data_key_object(std::string_view key);
// The stored size of an encrypted object of plaintext_bytes.
std::uint64_t encrypted_size(std::uint64_t plaintext_bytes, std::size_t chunk_bytes = kDefaultChunkBytes);

class EncryptedObjectStore final : public ObjectStore {
 public:
  // invalid_argument for bad options or a cipher this CPU cannot run.
  static Result<std::unique_ptr<EncryptedObjectStore>> open(std::unique_ptr<ObjectStore> inner,
                                                            std::shared_ptr<const MasterKeyProvider> keys,
                                                            EncryptionOptions options);
  ~EncryptedObjectStore() override;

  Status put_file(std::string_view key, const std::filesystem::path& source) override;
  Status put_handed_over_file(std::string_view key, const std::filesystem::path& source,
                              std::string_view sha256_hex) override;
  Status put_bytes(std::string_view key, std::span<const std::byte> data) override;
  // Seals the object as its bytes arrive (the chunks are independent), so an
  // upload is sealed once, as it streams in, and never read back.
  Result<std::unique_ptr<ObjectEncoder>> encoder(std::string_view key, std::uint64_t size) override;
  Status put_encoded_file(std::string_view key, const std::filesystem::path& source, ObjectEncoder& encoder) override;
  // corrupt when a chunk the range touches fails authentication or the
  // object is shorter than its header says.
  Result<std::uint64_t> read(std::string_view key, ByteRange range, const ByteSink& sink) override;
  // True for a sealed object (its chunk tags authenticate every read),
  // false for one written before encryption was switched on.
  Result<bool> reads_authenticated(std::string_view key) override;
  // The plaintext size; corrupt when the stored size does not match the header.
  Result<std::optional<ObjectInfo>> head(std::string_view key) override;
  Status remove(std::string_view key) override;
  // Plaintext sizes (one header read per encrypted object); data key
  // objects are left out (list_stored() has them).
  Result<std::vector<ObjectInfo>> list(std::string_view prefix) override;
  Result<std::vector<ObjectInfo>> list_stored(std::string_view prefix) override;
  std::string describe() const override;

  // The store underneath (ciphertext, data key objects, legacy plaintext).
  ObjectStore& inner() { return *inner_; }
  const MasterKeyProvider& master_keys() const { return *keys_; }

 private:
  struct DataKey;
  struct Header;
  class Sealer;
  EncryptedObjectStore(std::unique_ptr<ObjectStore> inner, std::shared_ptr<const MasterKeyProvider> keys,
                       EncryptionOptions options);
  Result<std::shared_ptr<const DataKey>> write_key_for(std::string_view key);
  Result<std::shared_ptr<const DataKey>> read_key(std::string_view key, const Header& header);
  Status seal_file_and_put(std::string_view key, int source_fd, std::uint64_t size, std::string_view what);
  Result<std::unique_ptr<Sealer>> sealer(std::string_view key, std::uint64_t size, bool hash_output);
  Result<std::optional<Header>> read_header(std::string_view key);
  static Result<Header> parse_header(std::span<const std::uint8_t> raw, std::string_view key);

  std::unique_ptr<ObjectStore> inner_;
  std::shared_ptr<const MasterKeyProvider> keys_;
  EncryptionOptions options_;
  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<const DataKey>> writing_;  // scope -> its data key; guarded by mu_
  std::unordered_map<std::string, std::shared_ptr<const DataKey>> known_;    // data key object -> key; guarded by mu_
};

struct RotateReport {
  std::int64_t rewrapped = 0;
  std::int64_t already_current = 0;
  std::vector<std::string> old_key_ids;  // master keys the rewrapped data keys were under, sorted, distinct
};
// Rewraps every data key object of `raw` (the store under an encrypting
// one) not wrapped by the current master key; the objects themselves are
// not touched. `keys` must know the old master keys as well. Restartable;
// safe while servers run.
Result<RotateReport> rotate_data_keys(ObjectStore& raw, const MasterKeyProvider& keys,
                                      const std::function<void(std::string_view)>& progress = {});

struct EncryptInPlaceReport {
  std::int64_t encrypted = 0;
  std::int64_t already_encrypted = 0;
  std::uint64_t bytes_encrypted = 0;
};
// Replaces every plaintext object of store.inner() by its encrypted form
// under the same key (the encrypted copy is written whole, then replaces the
// old one atomically, so every object stays readable throughout).
// Restartable: encrypted objects are skipped. Stop the server first, or a
// recording deleted during the run may leave an object behind.
Result<EncryptInPlaceReport> encrypt_in_place(EncryptedObjectStore& store,
                                              const std::function<void(std::string_view)>& progress = {});

}  // namespace deskaudit::storage

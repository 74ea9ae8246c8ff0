#pragma once
// ObjectStore over a local directory: key "a/b/c" is the file <root>/a/b/c.
// Directories are created 0700 and files 0600 (recordings are sensitive).
// A put writes a temporary file "~tmp-<random>" next to the target (the '~'
// keeps it outside the key charset, so it never shadows a key and list()
// skips it), fsyncs it, renames it over the target and fsyncs the directory:
// readers see the old or the new object, never a partial one, and the object
// survives a crash once put returns. remove() prunes parent directories that
// became empty. A key cannot be both an object and a "directory" of other
// keys here ("a" and "a/b"): such a put fails with Errc::conflict.
// Thread safety: all methods may run concurrently (they share no mutable state).
#include <filesystem>

#include "storage/object_store.hpp"

namespace deskaudit::storage {

class LocalObjectStore final : public ObjectStore {
 public:
  // Creates root (0700) if needed. root must be absolute.
  static Result<std::unique_ptr<LocalObjectStore>> open(const std::filesystem::path& root);

  Status put_file(std::string_view key, const std::filesystem::path& source) override;
  // Renames the file into place when it is on the store's file system (no
  // second copy of the bytes); copies it otherwise.
  Status put_handed_over_file(std::string_view key, const std::filesystem::path& source,
                              std::string_view sha256_hex) override;
  Status put_bytes(std::string_view key, std::span<const std::byte> data) override;
  Result<std::uint64_t> read(std::string_view key, ByteRange range, const ByteSink& sink) override;
  Result<std::optional<ObjectInfo>> head(std::string_view key) override;
  Status remove(std::string_view key) override;
  Result<std::vector<ObjectInfo>> list(std::string_view prefix) override;
  std::string describe() const override;

  const std::filesystem::path& root() const { return root_; }

 private:
  explicit LocalObjectStore(std::filesystem::path root) : root_(std::move(root)) {}
  // Writes via `fill(fd)` into a temporary file and renames it to key.
  template <class Fill>
  Status put_with(std::string_view key, Fill&& fill);

  std::filesystem::path root_;
};

}  // namespace deskaudit::storage

#pragma once
// Object store: where segment files live. Backends: a local directory
// (file:///var/lib/deskaudit/objects) and S3-compatible buckets
// (s3://bucket/prefix). Chosen by URL in make_object_store().
//
// Keys are relative, '/'-separated paths of [A-Za-z0-9._-] components, no
// component "." or "..", no leading '/', at most 1024 bytes
// (validate_key()). Writes are atomic: a reader sees the whole old object, the
// whole new one, or none; never a partial one.
// Thread safety: every method may be called from many threads at once.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace deskaudit::storage {

struct ObjectInfo {
  std::string key;
  std::uint64_t size_bytes = 0;
};

// A byte range: [offset, offset + length); length nullopt = to the end.
struct ByteRange {
  std::uint64_t offset = 0;
  std::optional<std::uint64_t> length;
};

// Receives an object's bytes in order; return false to stop early (the read
// then ends with Errc::unavailable "stopped by reader").
using ByteSink = std::function<bool(std::span<const std::byte>)>;

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // Stores the file's bytes under key, streaming (never held whole in memory).
  // The source file is left as it is. Replaces an existing object atomically.
  virtual Status put_file(std::string_view key, const std::filesystem::path& source) = 0;
  // Stores a file the caller hands over and never uses again (a finished
  // upload's temporary file), whose SHA-256 (64 lowercase hex digits) the
  // caller computed while writing it. The store may move the file into place
  // (the source path is then gone) or copy it (it is then left; the caller
  // removes it either way), and makes it durable itself: the caller need not
  // fsync it. Default: put_file.
  virtual Status put_handed_over_file(std::string_view key, const std::filesystem::path& source,
                                      std::string_view sha256_hex) {
    (void)sha256_hex;
    return put_file(key, source);
  }
  // Stores a small in-memory object.
  virtual Status put_bytes(std::string_view key, std::span<const std::byte> data) = 0;
  // Streams the range's bytes to sink. not_found if the key is absent;
  // invalid_argument if the range starts past the end. Returns bytes sent.
  virtual Result<std::uint64_t> read(std::string_view key, ByteRange range, const ByteSink& sink) = 0;
  // Size of the object, or nullopt when absent.
  virtual Result<std::optional<ObjectInfo>> head(std::string_view key) = 0;
  // Deletes; an absent key is success (idempotent).
  virtual Status remove(std::string_view key) = 0;
  // All objects whose key starts with prefix, sorted by key.
  virtual Result<std::vector<ObjectInfo>> list(std::string_view prefix) = 0;
  // Every object kept under prefix, the store's own bookkeeping included (an
  // encrypting store's wrapped data keys): what removing everything under a
  // prefix must remove. Default: list().
  virtual Result<std::vector<ObjectInfo>> list_stored(std::string_view prefix) { return list(prefix); }
  // For logs and status pages: "file:///...", "s3://bucket/prefix" (no secrets).
  virtual std::string describe() const = 0;
};

// S3 settings beyond the URL; empty credentials fall back to the environment
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION).
struct S3Options {
  std::string endpoint;  // "http://127.0.0.1:4568"; empty = https://s3.<region>.amazonaws.com
  std::string region = "us-east-1";
  bool path_style = true;  // path-style (endpoint/bucket/key) or virtual-host (bucket.endpoint/key)
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;
  int max_retries = 4;    // on 5xx, 429 and timeouts, with exponential backoff and jitter
  long timeout_ms = 60000;
};

// "file:///abs/dir" or a plain absolute path -> local store (directory created
// 0700); "s3://bucket[/prefix]" -> S3 store. invalid_argument on anything else.
Result<std::unique_ptr<ObjectStore>> make_object_store(std::string_view url, const S3Options& s3 = {});

// Checks a key against the rules above; invalid_argument naming the problem.
Status validate_key(std::string_view key);

}  // namespace deskaudit::storage

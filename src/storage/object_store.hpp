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
#include <algorithm>
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

// Where an ObjectEncoder puts what it makes: straight into its caller's
// buffer (an upload's O_DIRECT block), so what an encoder makes is never
// copied on the way to the file.
class ByteOutput {
 public:
  virtual ~ByteOutput() = default;
  // Room for the next bytes; never empty.
  virtual Result<std::span<std::byte>> space() = 0;
  // The first n bytes (at most its size) of the last space() are the next
  // bytes of the output.
  virtual Status commit(std::size_t n) = 0;
  // Copies data in, through as many space()/commit() as it takes.
  Status write(std::span<const std::byte> data) {
    while (!data.empty()) {
      auto room = space();
      if (!room) return std::unexpected(room.error());
      const auto n = std::min(room->size(), data.size());
      std::copy_n(data.data(), n, room->data());
      if (auto st = commit(n); !st) return st;
      data = data.subspan(n);
    }
    return {};
  }
};

// Turns one object's bytes, as they arrive, into the form its store keeps
// (ObjectStore::encoder()). Not thread-safe.
class ObjectEncoder {
 public:
  virtual ~ObjectEncoder() = default;
  // The object's next bytes; what they become goes to out, in order.
  // invalid_argument past the size given to encoder().
  virtual Status update(std::span<const std::byte> data, ByteOutput& out) = 0;
  // After all the object's bytes; invalid_argument when fewer arrived than
  // the size given to encoder().
  virtual Status finish(ByteOutput& out) = 0;
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // Stores the file's bytes under key, streaming (never held whole in memory).
  // The source file is left as it is. Replaces an existing object atomically.
  virtual Status put_file(std::string_view key, const std::filesystem::path& source) = 0;
  // Stores a file the caller hands over and never uses again (a finished
  // upload's temporary file), with the SHA-256 of its bytes (64 lowercase hex
  // digits) when the caller computed it while writing it, or empty when it
  // did not (a store that needs it, S3, then reads the file for it). The
  // store may move the file into place (the source path is then gone) or copy
  // it (it is then left; the caller removes it either way), and makes it
  // durable itself: the caller need not fsync it. Default: put_file.
  virtual Status put_handed_over_file(std::string_view key, const std::filesystem::path& source,
                                      std::string_view sha256_hex) {
    (void)sha256_hex;
    return put_file(key, source);
  }
  // Whether put_handed_over_file() uses the SHA-256 (S3 signs the payload
  // with it and would read the file for it); a local store moves the file and
  // never looks at it. Default: false.
  virtual bool uses_handed_over_sha256() const { return false; }
  // For a store that keeps objects in another form than their bytes (an
  // encrypting store): an encoder of the object `key` of `size` bytes, so an
  // upload's temporary file can hold the stored form as the bytes arrive, for
  // put_encoded_file(). nullptr: objects are kept as they are (hand the file
  // over with put_handed_over_file()). Default: nullptr.
  virtual Result<std::unique_ptr<ObjectEncoder>> encoder(std::string_view key, std::uint64_t size) {
    (void)key;
    (void)size;
    return std::unique_ptr<ObjectEncoder>();
  }
  // Stores a handed-over file holding what `encoder` (made by this store's
  // encoder(key, ...) and finished) wrote, as put_handed_over_file() does.
  // invalid_argument for an encoder of another key or store, or unfinished.
  virtual Status put_encoded_file(std::string_view key, const std::filesystem::path& source, ObjectEncoder& encoder) {
    (void)source;
    (void)encoder;
    return fail(Errc::invalid_argument, "the object store of " + std::string(key) + " makes no encoders");
  }
  // Whether every read of key fails (Errc::corrupt) where a stored byte of
  // it changed, so a reader need not hash the object to trust it (an
  // encrypting store's sealed objects). Default: false.
  virtual Result<bool> reads_authenticated(std::string_view key) {
    (void)key;
    return false;
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

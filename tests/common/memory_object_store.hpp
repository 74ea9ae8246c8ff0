#pragma once
// An in-memory storage::ObjectStore for unit tests of the services: the same
// contract as the local and S3 stores (key and prefix validation, atomic
// replacement, ranges, not_found for a missing key, idempotent remove, list
// sorted by key, a reader that stops early), kept honest by running the
// storage conformance suite (tests/unit/storage) against it.
//
// Thread-safe: one mutex guards the key map; an object's bytes are
// immutable once stored, so a read streams a snapshot without holding the
// lock and a concurrent put replaces the object as a whole.
//
// Failure injection, as MemoryCatalog: fail_next("put_file", error) makes the
// next call of that method (named as in object_store.hpp) return `error`
// without touching the data; set_unavailable(true) fails every call with
// Errc::unavailable (an unreachable bucket). calls("method") counts calls.
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "storage/object_store.hpp"

namespace deskaudit::testing {

class MemoryObjectStore final : public storage::ObjectStore {
 public:
  MemoryObjectStore() = default;

  void fail_next(std::string method, Error error);
  void set_unavailable(bool unavailable);
  int calls(std::string_view method) const;

  Status put_file(std::string_view key, const std::filesystem::path& source) override;
  Status put_bytes(std::string_view key, std::span<const std::byte> data) override;
  Result<std::uint64_t> read(std::string_view key, storage::ByteRange range, const storage::ByteSink& sink) override;
  Result<std::optional<storage::ObjectInfo>> head(std::string_view key) override;
  Status remove(std::string_view key) override;
  Result<std::vector<storage::ObjectInfo>> list(std::string_view prefix) override;
  std::string describe() const override;  // "memory://"

 private:
  using Bytes = std::shared_ptr<const std::string>;
  // Counts the call and returns an injected failure if any. Takes the lock.
  Status gate(std::string_view method);
  Status store(std::string_view key, Bytes bytes);

  mutable std::mutex mu_;
  bool unavailable_ = false;
  std::map<std::string, std::deque<Error>, std::less<>> injected_;
  std::map<std::string, int, std::less<>> calls_;
  std::map<std::string, Bytes, std::less<>> objects_;
};

}  // namespace deskaudit::testing

#pragma once
// An ObjectStore that forwards to another it does not own, and whose puts
// fail after a given number of them: a migration stopped half way (the
// process killed, the network gone) for the restartability tests.
#include <filesystem>
#include <string>
#include <string_view>

#include "storage/object_store.hpp"

namespace deskaudit::testing {

class InterruptedStore final : public storage::ObjectStore {
 public:
  InterruptedStore(storage::ObjectStore& inner, int puts_left) : inner_(inner), puts_left_(puts_left) {}
  Status put_file(std::string_view key, const std::filesystem::path& source) override {
    if (auto st = spend(); !st) return st;
    return inner_.put_file(key, source);
  }
  Status put_handed_over_file(std::string_view key, const std::filesystem::path& source,
                              std::string_view sha256_hex) override {
    if (auto st = spend(); !st) return st;
    return inner_.put_handed_over_file(key, source, sha256_hex);
  }
  bool uses_handed_over_sha256() const override { return inner_.uses_handed_over_sha256(); }
  Status put_bytes(std::string_view key, std::span<const std::byte> data) override {
    if (auto st = spend(); !st) return st;
    return inner_.put_bytes(key, data);
  }
  Result<std::uint64_t> read(std::string_view key, storage::ByteRange range, const storage::ByteSink& sink) override {
    return inner_.read(key, range, sink);
  }
  Result<std::optional<storage::ObjectInfo>> head(std::string_view key) override { return inner_.head(key); }
  Status remove(std::string_view key) override { return inner_.remove(key); }
  Result<std::vector<storage::ObjectInfo>> list(std::string_view prefix) override { return inner_.list(prefix); }
  std::string describe() const override { return inner_.describe(); }

 private:
  Status spend() {
    if (puts_left_-- <= 0) return fail(Errc::unavailable, "interrupted");
    return {};
  }
  storage::ObjectStore& inner_;
  int puts_left_;
};

}  // namespace deskaudit::testing

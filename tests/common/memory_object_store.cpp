#include "memory_object_store.hpp"

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <iterator>
#include <vector>

#include "storage/keys.hpp"

namespace deskaudit::testing {
namespace {

// Pieces a sink receives, as small as the local store's.
constexpr std::size_t kReadChunkBytes = 64u << 10;

}  // namespace

void MemoryObjectStore::fail_next(std::string method, Error error) {
  std::lock_guard lock(mu_);
  injected_[std::move(method)].push_back(std::move(error));
}

void MemoryObjectStore::set_unavailable(bool unavailable) {
  std::lock_guard lock(mu_);
  unavailable_ = unavailable;
}

int MemoryObjectStore::calls(std::string_view method) const {
  std::lock_guard lock(mu_);
  const auto it = calls_.find(method);
  return it == calls_.end() ? 0 : it->second;
}

Status MemoryObjectStore::gate(std::string_view method) {
  std::lock_guard lock(mu_);
  auto counted = calls_.find(method);
  if (counted == calls_.end()) counted = calls_.emplace(std::string(method), 0).first;
  ++counted->second;
  if (unavailable_) {
    return fail(Errc::unavailable,
                "object store unreachable (MemoryObjectStore set unavailable) in " + std::string(method));
  }
  if (auto it = injected_.find(method); it != injected_.end() && !it->second.empty()) {
    Error e = std::move(it->second.front());
    it->second.pop_front();
    return std::unexpected(std::move(e));
  }
  return {};
}

Status MemoryObjectStore::store(std::string_view key, Bytes bytes) {
  std::lock_guard lock(mu_);
  objects_.insert_or_assign(std::string(key), std::move(bytes));
  return {};
}

Status MemoryObjectStore::put_file(std::string_view key, const std::filesystem::path& source) {
  if (auto st = gate("put_file"); !st) return st;
  if (auto st = storage::validate_key(key); !st) return st;
  std::error_code ec;
  const auto status = std::filesystem::status(source, ec);
  if (ec || !std::filesystem::exists(status)) {
    const int e = ec ? ec.value() : ENOENT;
    return fail(e == ENOENT ? Errc::not_found : Errc::io, errno_message("open " + source.string(), e));
  }
  if (!std::filesystem::is_regular_file(status)) {
    return fail(Errc::invalid_argument, source.string() + " is not a regular file");
  }
  std::ifstream in(source, std::ios::binary);
  if (!in) return fail(Errc::io, "open " + source.string() + ": cannot read");
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return fail(Errc::io, "read " + source.string() + " failed");
  return store(key, std::make_shared<const std::string>(std::move(data)));
}

Status MemoryObjectStore::put_bytes(std::string_view key, std::span<const std::byte> data) {
  if (auto st = gate("put_bytes"); !st) return st;
  if (auto st = storage::validate_key(key); !st) return st;
  return store(key, std::make_shared<const std::string>(reinterpret_cast<const char*>(data.data()), data.size()));
}

Result<std::uint64_t> MemoryObjectStore::read(std::string_view key, storage::ByteRange range,
                                              const storage::ByteSink& sink) {
  if (auto st = gate("read"); !st) return std::unexpected(st.error());
  if (auto st = storage::validate_key(key); !st) return std::unexpected(st.error());
  Bytes bytes;
  {
    std::lock_guard lock(mu_);
    const auto it = objects_.find(key);
    if (it == objects_.end()) return fail(Errc::not_found, "no object '" + std::string(key) + "' in " + describe());
    bytes = it->second;
  }
  const std::uint64_t size = bytes->size();
  if (range.offset > size) {
    return fail(Errc::invalid_argument, "range starts at " + std::to_string(range.offset) + ", past the end of '" +
                                            std::string(key) + "' (" + std::to_string(size) + " bytes)");
  }
  const std::uint64_t length = std::min(range.length.value_or(size - range.offset), size - range.offset);
  const auto* base = reinterpret_cast<const std::byte*>(bytes->data()) + range.offset;
  std::uint64_t done = 0;
  while (done < length) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(kReadChunkBytes, length - done));
    if (!sink(std::span<const std::byte>(base + done, n))) {
      return fail(Errc::unavailable, "reading '" + std::string(key) + "': stopped by reader");
    }
    done += n;
  }
  return done;
}

Result<std::optional<storage::ObjectInfo>> MemoryObjectStore::head(std::string_view key) {
  if (auto st = gate("head"); !st) return std::unexpected(st.error());
  if (auto st = storage::validate_key(key); !st) return std::unexpected(st.error());
  std::lock_guard lock(mu_);
  const auto it = objects_.find(key);
  if (it == objects_.end()) return std::optional<storage::ObjectInfo>();
  return std::optional<storage::ObjectInfo>(storage::ObjectInfo{it->first, it->second->size()});
}

Status MemoryObjectStore::remove(std::string_view key) {
  if (auto st = gate("remove"); !st) return st;
  if (auto st = storage::validate_key(key); !st) return st;
  std::lock_guard lock(mu_);
  if (const auto it = objects_.find(key); it != objects_.end()) objects_.erase(it);
  return {};
}

Result<std::vector<storage::ObjectInfo>> MemoryObjectStore::list(std::string_view prefix) {
  if (auto st = gate("list"); !st) return std::unexpected(st.error());
  if (auto st = storage::validate_prefix(prefix); !st) return std::unexpected(st.error());
  std::lock_guard lock(mu_);
  std::vector<storage::ObjectInfo> out;
  // The map is sorted by key, so the prefix's keys are one run from lower_bound.
  for (auto it = objects_.lower_bound(prefix); it != objects_.end() && it->first.starts_with(prefix); ++it) {
    out.push_back(storage::ObjectInfo{it->first, it->second->size()});
  }
  return out;
}

std::string MemoryObjectStore::describe() const { return "memory://"; }

}  // namespace deskaudit::testing

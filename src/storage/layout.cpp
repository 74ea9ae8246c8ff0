#include "storage/layout.hpp"

#include <cstdio>

#include "common/crypto.hpp"

namespace deskaudit::storage {
namespace {

constexpr std::size_t kMaxIdBytes = 128;

Status check_id(std::string_view id, std::string_view what) {
  const auto bad = [&](std::string_view why) {
    return fail(Errc::invalid_argument, std::string(what) + " cannot name a storage folder: " + std::string(why),
                std::string(what));
  };
  if (id.empty()) return bad("it is empty");
  if (id.size() > kMaxIdBytes) return bad("it is longer than " + std::to_string(kMaxIdBytes) + " bytes");
  if (id == "." || id == "..") return bad("it is '.' or '..'");
  for (const char c : id) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return bad("only A-Z a-z 0-9 . _ - are allowed");
  }
  return {};
}

}  // namespace

Result<std::string> recording_prefix(std::string_view computer_id, std::string_view recording_id) {
  if (auto st = check_id(computer_id, "computer_id"); !st) return std::unexpected(st.error());
  if (auto st = check_id(recording_id, "recording_id"); !st) return std::unexpected(st.error());
  std::string out = "recordings/";
  out.append(computer_id).append("/").append(recording_id).append("/");
  return out;
}

namespace {
Result<std::string> seq_key(std::string_view computer_id, std::string_view recording_id, std::int64_t seq,
                            std::string_view sha256, std::string_view suffix) {
  if (seq < 0) return fail(Errc::invalid_argument, "segment seq must be >= 0", "seq");
  if (!is_sha256_hex(sha256)) {
    return fail(Errc::invalid_argument, "segment sha256 must be 64 lowercase hex digits", "sha256");
  }
  auto prefix = recording_prefix(computer_id, recording_id);
  if (!prefix) return prefix;
  char name[32];
  std::snprintf(name, sizeof name, "%06lld", static_cast<long long>(seq));
  return *prefix + name + "-" + std::string(sha256.substr(0, 16)) + std::string(suffix);
}
}  // namespace

Result<std::string> segment_key(std::string_view computer_id, std::string_view recording_id, std::int64_t seq,
                                std::string_view sha256) {
  return seq_key(computer_id, recording_id, seq, sha256, ".mp4");
}

Result<std::string> events_key(std::string_view computer_id, std::string_view recording_id, std::int64_t seq,
                               std::string_view sha256) {
  return seq_key(computer_id, recording_id, seq, sha256, ".events.json");
}

Result<std::string> manifest_key(std::string_view computer_id, std::string_view recording_id) {
  auto prefix = recording_prefix(computer_id, recording_id);
  if (!prefix) return prefix;
  return *prefix + "manifest.json";
}

Result<std::string> manifest_signature_key(std::string_view computer_id, std::string_view recording_id) {
  auto prefix = recording_prefix(computer_id, recording_id);
  if (!prefix) return prefix;
  return *prefix + "manifest.sig";
}

}  // namespace deskaudit::storage

namespace deskaudit::storage {

std::string_view recording_prefix_of(std::string_view key) {
  constexpr std::string_view kRoot = "recordings/";
  if (!key.starts_with(kRoot)) return {};
  const auto computer_end = key.find('/', kRoot.size());
  if (computer_end == std::string_view::npos || computer_end == kRoot.size()) return {};
  const auto recording_end = key.find('/', computer_end + 1);
  if (recording_end == std::string_view::npos || recording_end == computer_end + 1) return {};
  if (recording_end + 1 == key.size()) return {};  // the prefix itself, not a key under it
  return key.substr(0, recording_end + 1);
}

}  // namespace deskaudit::storage

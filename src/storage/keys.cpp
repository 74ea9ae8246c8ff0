#include "storage/keys.hpp"

#include <algorithm>

#include "storage/object_store.hpp"

namespace deskaudit::storage {
namespace {

constexpr std::size_t kMaxKeyBytes = 1024;

bool is_key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-' || c == '/';
}

std::string printable(char c) {
  if (c >= 0x21 && c < 0x7f) return std::string("'") + c + "'";
  static constexpr char kHex[] = "0123456789abcdef";
  const auto u = static_cast<unsigned char>(c);
  return std::string("byte 0x") + kHex[u >> 4] + kHex[u & 15];
}

// Shared by keys and list prefixes: charset, length, no leading '/', and no
// empty, "." or ".." component among the complete ones.
Status check(std::string_view text, std::string_view what, bool allow_partial_last) {
  if (text.size() > kMaxKeyBytes) {
    return fail(Errc::invalid_argument, std::string(what) + " is " + std::to_string(text.size()) + " bytes; at most " +
                                            std::to_string(kMaxKeyBytes) + " are allowed");
  }
  for (const char c : text) {
    if (c == '\0') return fail(Errc::invalid_argument, std::string(what) + " contains a NUL byte");
    if (c == '\\') return fail(Errc::invalid_argument, std::string(what) + " contains a backslash; use '/'");
    if (!is_key_char(c)) {
      return fail(Errc::invalid_argument,
                  std::string(what) + " contains " + printable(c) + "; only A-Z a-z 0-9 . _ - and '/' are allowed");
    }
  }
  if (text.starts_with('/'))
    return fail(Errc::invalid_argument, std::string(what) + " must be relative (no leading '/')");
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t slash = text.find('/', start);
    const bool last = slash == std::string_view::npos;
    const std::string_view part = text.substr(start, last ? std::string_view::npos : slash - start);
    if (last && allow_partial_last) break;  // a prefix may end inside a component
    if (part.empty()) {
      return fail(Errc::invalid_argument,
                  std::string(what) + (last ? " ends with '/'" : " has an empty path component ('//')"));
    }
    if (part == "." || part == "..") {
      return fail(Errc::invalid_argument, std::string(what) + " has a '" + std::string(part) + "' component");
    }
    if (last) break;
    start = slash + 1;
  }
  return {};
}

}  // namespace

Status validate_key(std::string_view key) {
  if (key.empty()) return fail(Errc::invalid_argument, "object key is empty", "key");
  // Quote the key only when it is short and plain: it came from outside.
  const bool plain = key.size() <= 200 && std::all_of(key.begin(), key.end(), is_key_char);
  const std::string what = plain ? "object key '" + std::string(key) + "'" : "object key";
  if (auto st = check(key, what, false); !st) return fail(Errc::invalid_argument, st.error().message, "key");
  return {};
}

Status validate_prefix(std::string_view prefix) {
  if (prefix.empty()) return {};
  if (auto st = check(prefix, "list prefix", true); !st) {
    return std::unexpected(Error{Errc::invalid_argument, st.error().message, "prefix"});
  }
  return {};
}

}  // namespace deskaudit::storage

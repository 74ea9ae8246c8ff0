#pragma once
// What the HttpClient implementations (http_curl.cpp on Linux,
// http_winhttp.cpp on Windows) share: limits, text helpers, header parsing.
#include <algorithm>
#include <cstddef>
#include <map>
#include <string>
#include <string_view>

namespace deskaudit::client::detail {

// A body collected into memory (no sink given, or an error response) is
// capped: a misbehaving server must not make us allocate without bound.
inline constexpr std::size_t kMaxMemoryBodyBytes = 256u << 20;
// Error bodies (non-2xx while a sink was given) only need to carry S3's
// <Code>/<Message>; keep a little of them.
inline constexpr std::size_t kMaxErrorBodyBytes = 1u << 20;

inline char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

// For error messages: the query may carry signatures or tokens.
inline std::string url_without_query(std::string_view url) { return std::string(url.substr(0, url.find('?'))); }

inline bool has_line_break(std::string_view s) {
  return s.find_first_of("\r\n") != std::string_view::npos || s.find('\0') != std::string_view::npos;
}

// One response header line ("Name: value", CRLF optional) into headers:
// names lowercased, repeated names joined with ", ". A status line
// ("HTTP/...") starts a new response (after 1xx or a retried connection):
// the headers so far are forgotten. Lines without a colon are ignored.
inline void add_header_line(std::map<std::string, std::string>& headers, std::string_view line) {
  if (line.starts_with("HTTP/")) {
    headers.clear();
    return;
  }
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) return;  // blank line or folded junk
  std::string name(trim(line.substr(0, colon)));
  std::transform(name.begin(), name.end(), name.begin(), ascii_lower);
  const std::string value(trim(line.substr(colon + 1)));
  auto [it, inserted] = headers.try_emplace(name, value);
  if (!inserted) it->second += ", " + value;
}

}  // namespace deskaudit::client::detail

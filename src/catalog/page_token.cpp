#include "catalog/page_token.hpp"

#include <array>
#include <charconv>

namespace deskaudit::catalog {

namespace {

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string base64url(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const std::size_t rest = in.size() - i;
  if (rest == 1) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (rest == 2) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

bool unbase64url(std::string_view in, std::string& out) {
  static const std::array<int, 256> table = [] {
    std::array<int, 256> t{};
    t.fill(-1);
    for (std::size_t i = 0; i < kAlphabet.size(); ++i)
      t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int>(i);
    return t;
  }();
  if (in.size() % 4 == 1) return false;
  out.clear();
  unsigned acc = 0;
  int bits = 0;
  for (char c : in) {
    const int v = table[static_cast<unsigned char>(c)];
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  // Leftover bits must be zero, so every byte string has exactly one encoding.
  return (acc & ((1u << bits) - 1)) == 0;
}

}  // namespace

std::string encode_page_token(std::string_view kind, std::initializer_list<std::string_view> fields) {
  std::string out(kind);
  for (auto f : fields) {
    out += '.';
    out += base64url(f);
  }
  return out;
}

Result<std::vector<std::string>> decode_page_token(std::string_view token, std::string_view kind,
                                                   std::size_t field_count) {
  const auto bad = [] { return fail(Errc::invalid_argument, "malformed next_token", "next_token"); };
  if (token.size() > 4096 || !token.starts_with(kind) || token.size() == kind.size() || token[kind.size()] != '.') {
    return bad();
  }
  std::vector<std::string> fields;
  std::string_view rest = token.substr(kind.size() + 1);
  for (;;) {
    const auto dot = rest.find('.');
    std::string field;
    if (!unbase64url(rest.substr(0, dot), field)) return bad();
    fields.push_back(std::move(field));
    if (dot == std::string_view::npos) break;
    rest = rest.substr(dot + 1);
  }
  if (fields.size() != field_count) return bad();
  return fields;
}

Result<std::int64_t> page_token_int(std::string_view field) {
  std::int64_t v = 0;
  const auto* end = field.data() + field.size();
  const auto r = std::from_chars(field.data(), end, v);
  if (field.empty() || r.ec != std::errc{} || r.ptr != end) {
    return fail(Errc::invalid_argument, "malformed next_token", "next_token");
  }
  return v;
}

}  // namespace deskaudit::catalog

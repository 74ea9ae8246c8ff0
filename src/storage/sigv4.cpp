#include "storage/sigv4.hpp"

#include <sodium.h>

#include <algorithm>
#include <ctime>
#include <stdexcept>

#include "client/http.hpp"
#include "common/crypto.hpp"

namespace deskaudit::storage::sigv4 {
namespace {

std::string_view as_view(const std::array<std::uint8_t, 32>& bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Canonical header value: trimmed, runs of spaces collapsed to one.
std::string canonical_value(std::string_view v) {
  std::string out;
  bool space = false;
  for (const char c : v) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

}  // namespace

std::array<std::uint8_t, 32> hmac_sha256(std::string_view key, std::string_view data) {
  // crypto_auth_hmacsha256() insists on a 32-byte key; the streaming API
  // takes any length, which SigV4's "AWS4" + secret needs.
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  std::array<std::uint8_t, 32> out{};
  crypto_auth_hmacsha256_final(&state, out.data());
  sodium_memzero(&state, sizeof state);
  return out;
}

std::string amz_date(std::int64_t epoch_ms) {
  std::time_t seconds = static_cast<std::time_t>(epoch_ms / 1000);
  if (epoch_ms < 0 && epoch_ms % 1000 != 0) --seconds;
  std::tm tm{};
  if (gmtime_r(&seconds, &tm) == nullptr) throw std::invalid_argument("time out of range");
  char buf[32];
  const size_t n = std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return std::string(buf, n);
}

std::string canonical_uri(std::string_view path) {
  if (path.empty()) return "/";
  return client::url_encode(path, true);
}

std::string canonical_query(const std::vector<std::pair<std::string, std::string>>& query) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(query.size());
  for (const auto& [k, v] : query) encoded.emplace_back(client::url_encode(k), client::url_encode(v));
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [k, v] : encoded) {
    if (!out.empty()) out.push_back('&');
    out += k;
    out.push_back('=');
    out += v;
  }
  return out;
}

Signature sign(const Request& request, const Credentials& credentials, std::string_view region,
               std::string_view service, std::string_view date_time) {
  Signature s;
  std::vector<std::pair<std::string, std::string>> headers;
  headers.reserve(request.headers.size());
  for (const auto& [name, value] : request.headers) {
    std::string n = lower(canonical_value(name));
    std::string v = canonical_value(value);
    // Repeated headers are signed as one, values joined by commas in order.
    auto it = std::find_if(headers.begin(), headers.end(), [&](const auto& h) { return h.first == n; });
    if (it != headers.end()) {
      it->second += "," + v;
    } else {
      headers.emplace_back(std::move(n), std::move(v));
    }
  }
  std::sort(headers.begin(), headers.end());

  std::string canonical_headers;
  for (const auto& [name, value] : headers) {
    canonical_headers += name + ":" + value + "\n";
    if (!s.signed_headers.empty()) s.signed_headers.push_back(';');
    s.signed_headers += name;
  }

  s.canonical_request = request.method + "\n" + canonical_uri(request.path) + "\n" + canonical_query(request.query) +
                        "\n" + canonical_headers + "\n" + s.signed_headers + "\n" + request.payload_sha256;

  const std::string_view date = date_time.substr(0, 8);
  const std::string scope =
      std::string(date) + "/" + std::string(region) + "/" + std::string(service) + "/aws4_request";
  s.string_to_sign =
      "AWS4-HMAC-SHA256\n" + std::string(date_time) + "\n" + scope + "\n" + sha256_hex(s.canonical_request);

  std::string secret = "AWS4" + credentials.secret_access_key;
  auto key = hmac_sha256(secret, date);
  sodium_memzero(secret.data(), secret.size());
  key = hmac_sha256(as_view(key), region);
  key = hmac_sha256(as_view(key), service);
  key = hmac_sha256(as_view(key), "aws4_request");
  s.signature = to_hex(hmac_sha256(as_view(key), s.string_to_sign));
  sodium_memzero(key.data(), key.size());

  s.authorization = "AWS4-HMAC-SHA256 Credential=" + credentials.access_key_id + "/" + scope +
                    ",SignedHeaders=" + s.signed_headers + ",Signature=" + s.signature;
  return s;
}

Signature sign_s3_request(Request& request, const Credentials& credentials, std::string_view region,
                          std::string_view date_time) {
  request.headers.emplace_back("x-amz-date", std::string(date_time));
  request.headers.emplace_back("x-amz-content-sha256", request.payload_sha256);
  if (!credentials.session_token.empty())
    request.headers.emplace_back("x-amz-security-token", credentials.session_token);
  Signature s = sign(request, credentials, region, "s3", date_time);
  request.headers.emplace_back("Authorization", s.authorization);
  return s;
}

}  // namespace deskaudit::storage::sigv4

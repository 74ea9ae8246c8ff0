#pragma once
// AWS Signature Version 4 for S3 requests sent with an Authorization header
// (single chunk; the payload is either hashed or "UNSIGNED-PAYLOAD").
// Pure functions, thread-safe. Secrets never appear in what they return
// except the derived signature.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace deskaudit::storage::sigv4 {

inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
// SHA-256 of the empty string.
inline constexpr std::string_view kEmptyPayloadSha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;  // secret: never log
  std::string session_token;      // optional (temporary credentials); secret
};

struct Request {
  std::string method;  // "GET", "PUT", ...
  // The path exactly as it is sent, NOT yet percent-encoded ("/bucket/a b/c");
  // canonical_uri() encodes it once, keeping '/'. S3 does not normalise
  // paths, so neither do we.
  std::string path = "/";
  // Query parameters, not yet encoded; order does not matter. A parameter
  // without a value ("?lifecycle") has an empty value.
  std::vector<std::pair<std::string, std::string>> query;
  // Headers to sign; must include Host. Names in any case.
  std::vector<std::pair<std::string, std::string>> headers;
  // Hex SHA-256 of the body, or kUnsignedPayload.
  std::string payload_sha256 = std::string(kEmptyPayloadSha256);
};

struct Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signed_headers;  // "host;range;x-amz-content-sha256;x-amz-date"
  std::string signature;       // 64 hex characters
  std::string authorization;   // the Authorization header value
};

// "20130524T000000Z" for a time in milliseconds since the Unix epoch (UTC).
std::string amz_date(std::int64_t epoch_ms);

// URI-encodes the path once (RFC 3986 unreserved kept, '/' kept).
std::string canonical_uri(std::string_view path);
// Encoded, sorted "a=1&b=2"; also the query string to put in the URL.
std::string canonical_query(const std::vector<std::pair<std::string, std::string>>& query);

// Signs exactly the headers in request.headers (which should already hold
// x-amz-date and x-amz-content-sha256 for S3). amz_date is "YYYYMMDDTHHMMSSZ".
Signature sign(const Request& request, const Credentials& credentials, std::string_view region,
               std::string_view service, std::string_view amz_date);

// Adds x-amz-date, x-amz-content-sha256 (= request.payload_sha256) and, with
// a session token, x-amz-security-token to request.headers, then signs and
// adds Authorization. Returns the signature details.
Signature sign_s3_request(Request& request, const Credentials& credentials, std::string_view region,
                          std::string_view amz_date);

// HMAC-SHA256 with a key of any length (libsodium).
std::array<std::uint8_t, 32> hmac_sha256(std::string_view key, std::string_view data);

}  // namespace deskaudit::storage::sigv4

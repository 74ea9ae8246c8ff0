#pragma once
// HTTP client over libcurl (Linux, http_curl.cpp) or WinHTTP (Windows,
// http_winhttp.cpp), shared by the S3 store, the agent and the CLI.
// One HttpClient may be used from one thread at a time (it keeps a CURL
// handle for connection reuse); make one per thread.
// Bodies can stream from a file and responses to a sink, so large objects
// are never held whole in memory.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace deskaudit::client {

struct FileBody {
  std::filesystem::path path;
  std::uint64_t offset = 0;
  std::optional<std::uint64_t> length;  // to the end when absent
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;                  // used when file is absent
  std::optional<FileBody> file;      // streamed from disk
  long timeout_ms = 30000;           // whole transfer
  long connect_timeout_ms = 5000;
};

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;                             // empty when a sink was given
};

// Receives response body bytes (only for 2xx when given); false aborts.
using BodySink = std::function<bool(std::span<const std::byte>)>;

struct HttpClientOptions {
  // PEM file of the CA certificate(s) that https peers' certificates must
  // chain to (a private CA), instead of the system's CA bundle. Empty: the
  // system's bundle (Windows: the Windows certificate store). Peer and host
  // name are always verified; on Windows against the file's CAs by
  // ca_trust_windows.hpp, as SChannel cannot take a file.
  std::filesystem::path ca_file;
};

// The Error::field of a transport failure because the peer's TLS certificate
// did not verify (unknown CA, wrong host name, expired): the caller can name
// its CA setting in the message.
inline constexpr std::string_view kTlsVerifyField = "tls_verify";

class HttpClient {
 public:
  explicit HttpClient(HttpClientOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Any HTTP status is a success value; transport failures (DNS, refused,
  // timeout, reset) are Errc::unavailable with curl's message.
  Result<HttpResponse> send(const HttpRequest& request, const BodySink& sink = {});

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The Error of a deskaudit API answer that is not 2xx: the Errc from the
// status and the body's error.code (errc_for_status, common/http_status.hpp),
// the message and field from the body's {"error":{"code","message","field"}}.
// A body of another shape leaves message and field empty: the caller words
// the message (it knows what it asked).
Error api_error(const HttpResponse& response);

// Plain http carries tokens, passwords and recordings in the clear: allowed
// only to a loopback host (127.0.0.0/8, ::1, localhost) unless
// allow_insecure_http. https is always allowed. The error names
// `insecure_flag` (e.g. "--insecure-http") as the way to allow it anyway.
Status check_transport(std::string_view url, bool allow_insecure_http, std::string_view insecure_flag);

// The host of an http(s) URL (brackets of an IPv6 literal removed, no port,
// no user info); empty when there is none.
std::string url_host(std::string_view url);

// Whether a certificate's DNS name (a subject alternative name, or the common
// name) is for `host` (a DNS name, not an IP literal): equal ignoring ASCII
// case and a final dot, or a wildcard "*.rest" that stands for exactly the
// host's leftmost label, with at least two labels in rest (no "*.com",
// "f*.example.com" or "*.*.example.com"). Used by the Windows client's own
// host check (ca_trust_windows.cpp).
bool dns_name_matches(std::string_view pattern, std::string_view host);

// Percent-encodes for a URL path segment or query value (RFC 3986 unreserved kept).
std::string url_encode(std::string_view text, bool keep_slash = false);

}  // namespace deskaudit::client

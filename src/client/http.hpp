#pragma once
// HTTP client over libcurl, shared by the S3 store, the agent and the CLI.
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

class HttpClient {
 public:
  HttpClient();
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

// Percent-encodes for a URL path segment or query value (RFC 3986 unreserved kept).
std::string url_encode(std::string_view text, bool keep_slash = false);

}  // namespace deskaudit::client

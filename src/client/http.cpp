#include "client/http.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <mutex>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "client/curl_ptr.hpp"
#include "common/fs.hpp"
#include "common/http_status.hpp"

namespace deskaudit::client {
namespace {

// A body collected into memory (no sink given, or an error response) is
// capped: a misbehaving server must not make us allocate without bound.
constexpr std::size_t kMaxMemoryBodyBytes = 256u << 20;
// Error bodies (non-2xx while a sink was given) only need to carry S3's
// <Code>/<Message>; keep a little of them.
constexpr std::size_t kMaxErrorBodyBytes = 1u << 20;

void ensure_curl_global() {
  // curl_global_init is not thread-safe on its own; run it exactly once and
  // never clean up (other threads may still hold handles at exit).
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw std::runtime_error("curl_global_init failed");
  });
}

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

// For error messages: the query may carry signatures or tokens.
std::string url_without_query(std::string_view url) { return std::string(url.substr(0, url.find('?'))); }

bool has_line_break(std::string_view s) {
  return s.find_first_of("\r\n") != std::string_view::npos || s.find('\0') != std::string_view::npos;
}

// Where the request body comes from: a string or a slice of a file.
struct UploadSource {
  const std::string* memory = nullptr;
  UniqueFd fd;
  std::uint64_t start = 0;   // file offset of the first byte
  std::uint64_t length = 0;  // bytes to send
  std::uint64_t sent = 0;
  std::optional<Error> error;  // why the read callback aborted
  std::string path;
};

struct Transfer {
  HttpResponse response;
  const BodySink* sink = nullptr;
  CURL* handle = nullptr;
  bool sink_stopped = false;
  bool body_too_large = false;
  UploadSource upload;
};

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  std::string_view line(data, n);
  if (line.starts_with("HTTP/")) {
    // A new response starts (after 1xx or a retried connection): forget the old headers.
    t->response.headers.clear();
    return n;
  }
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) return n;  // blank line or folded junk
  std::string name(trim(line.substr(0, colon)));
  std::transform(name.begin(), name.end(), name.begin(), ascii_lower);
  const std::string value(trim(line.substr(colon + 1)));
  auto [it, inserted] = t->response.headers.try_emplace(name, value);
  if (!inserted) it->second += ", " + value;
  return n;
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  long status = 0;
  curl_easy_getinfo(t->handle, CURLINFO_RESPONSE_CODE, &status);
  const bool success = status >= 200 && status < 300;
  if (t->sink != nullptr && *t->sink && success) {
    if (!(*t->sink)(std::span(reinterpret_cast<const std::byte*>(data), n))) {
      t->sink_stopped = true;
      return 0;  // makes curl stop with CURLE_WRITE_ERROR
    }
    return n;
  }
  const size_t cap = (t->sink != nullptr && *t->sink) ? kMaxErrorBodyBytes : kMaxMemoryBodyBytes;
  std::string& body = t->response.body;
  if (body.size() + n > cap) {
    if (t->sink != nullptr && *t->sink) {
      body.append(data, cap - body.size());  // enough for an error message; drop the rest
      return n;
    }
    t->body_too_large = true;
    return 0;
  }
  body.append(data, n);
  return n;
}

size_t on_read(char* buffer, size_t size, size_t count, void* user) {
  auto* u = static_cast<UploadSource*>(user);
  const std::uint64_t want = std::min<std::uint64_t>(size * count, u->length - u->sent);
  if (want == 0) return 0;
  if (u->memory != nullptr) {
    std::memcpy(buffer, u->memory->data() + u->sent, want);
    u->sent += want;
    return want;
  }
  for (;;) {
    const ssize_t n = ::pread(u->fd.get(), buffer, want, static_cast<off_t>(u->start + u->sent));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      u->error = Error{Errc::io, errno_message("read " + u->path, errno), {}};
      return CURL_READFUNC_ABORT;
    }
    if (n == 0) {
      u->error = Error{Errc::io, u->path + " became shorter while it was being sent", {}};
      return CURL_READFUNC_ABORT;
    }
    u->sent += static_cast<std::uint64_t>(n);
    return static_cast<size_t>(n);
  }
}

// curl rewinds the body when it retries a request on a fresh connection.
int on_seek(void* user, curl_off_t offset, int origin) {
  auto* u = static_cast<UploadSource*>(user);
  if (origin != SEEK_SET || offset < 0 || static_cast<std::uint64_t>(offset) > u->length) return CURL_SEEKFUNC_FAIL;
  u->sent = static_cast<std::uint64_t>(offset);
  return CURL_SEEKFUNC_OK;
}

Status open_file_body(const FileBody& file, UploadSource& u) {
  u.path = file.path.string();
  u.fd = UniqueFd(::open(file.path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!u.fd) {
    const int e = errno;
    return fail(e == ENOENT ? Errc::not_found : Errc::io, errno_message("open " + u.path, e));
  }
  struct stat st {};
  if (::fstat(u.fd.get(), &st) != 0) return fail(Errc::io, errno_message("stat " + u.path, errno));
  if (!S_ISREG(st.st_mode)) return fail(Errc::invalid_argument, u.path + " is not a regular file");
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (file.offset > size) {
    return fail(Errc::invalid_argument, u.path + ": offset " + std::to_string(file.offset) + " is past its end (" +
                                            std::to_string(size) + " bytes)");
  }
  const std::uint64_t available = size - file.offset;
  if (file.length && *file.length > available) {
    return fail(Errc::invalid_argument, u.path + ": " + std::to_string(*file.length) + " bytes from offset " +
                                            std::to_string(file.offset) + " exceed its size " + std::to_string(size));
  }
  u.start = file.offset;
  u.length = file.length.value_or(available);
  if (u.length > static_cast<std::uint64_t>(std::numeric_limits<curl_off_t>::max())) {
    return fail(Errc::too_large, u.path + " is too large to send");
  }
  return {};
}

template <class T>
CURLcode set(CURL* h, CURLoption option, T value) {
  return curl_easy_setopt(h, option, value);
}

}  // namespace

struct HttpClient::Impl {
  CurlPtr handle;
  HttpClientOptions options;
};

HttpClient::HttpClient(HttpClientOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  ensure_curl_global();
  impl_->handle.reset(curl_easy_init());
  if (!impl_->handle) throw std::runtime_error("curl_easy_init failed");
}

HttpClient::~HttpClient() = default;

Result<HttpResponse> HttpClient::send(const HttpRequest& request, const BodySink& sink) {
  CURL* h = impl_->handle.get();
  // reset() clears every option but keeps the connection cache, so
  // consecutive requests to one server reuse the TCP/TLS connection.
  curl_easy_reset(h);

  const std::string what = request.method + " " + url_without_query(request.url);
  if (request.method.empty() || has_line_break(request.method) || request.method.find(' ') != std::string::npos) {
    return fail(Errc::invalid_argument, "bad HTTP method '" + request.method + "'");
  }
  if (request.url.empty() || has_line_break(request.url)) return fail(Errc::invalid_argument, "bad URL for " + what);
  if (request.timeout_ms <= 0 || request.connect_timeout_ms <= 0) {
    return fail(Errc::invalid_argument, what + ": timeouts must be positive");
  }

  Transfer t;
  t.handle = h;
  t.sink = &sink;

  const bool is_head = request.method == "HEAD";
  const bool has_body = request.file.has_value() || !request.body.empty() || request.method == "PUT" ||
                        request.method == "POST" || request.method == "PATCH";
  if (has_body && (is_head || request.method == "GET")) {
    return fail(Errc::invalid_argument, what + ": a " + request.method + " request cannot carry a body");
  }
  if (request.file) {
    if (auto st = open_file_body(*request.file, t.upload); !st) return std::unexpected(st.error());
  } else {
    t.upload.memory = &request.body;
    t.upload.length = request.body.size();
  }

  CurlSlistPtr headers;
  auto append = [&headers](const std::string& line) -> bool {
    curl_slist* next = curl_slist_append(headers.get(), line.c_str());
    if (next == nullptr) return false;  // the old list stays valid and owned
    if (!headers) headers.reset(next);  // later appends return the same head
    return true;
  };
  for (const auto& [name, value] : request.headers) {
    if (name.empty() || has_line_break(name) || name.find(':') != std::string::npos || has_line_break(value)) {
      return fail(Errc::invalid_argument, what + ": bad header '" + name + "'");
    }
    // "Name;" is curl's way to send a header with an empty value.
    if (!append(value.empty() ? name + ";" : name + ": " + value)) return fail(Errc::internal, "out of memory");
  }
  // 100-continue costs a round trip (or a 1 s stall with servers that ignore it).
  if (!append("Expect:")) return fail(Errc::internal, "out of memory");

  char errbuf[CURL_ERROR_SIZE] = {};
  set(h, CURLOPT_ERRORBUFFER, errbuf);
  set(h, CURLOPT_URL, request.url.c_str());
#if LIBCURL_VERSION_NUM >= 0x075500
  set(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
  set(h, CURLOPT_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  set(h, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM for DNS timeouts: we are multi-threaded
  set(h, CURLOPT_TIMEOUT_MS, request.timeout_ms);
  set(h, CURLOPT_CONNECTTIMEOUT_MS, request.connect_timeout_ms);
  set(h, CURLOPT_HTTPHEADER, headers.get());
  if (!impl_->options.ca_file.empty()) set(h, CURLOPT_CAINFO, impl_->options.ca_file.c_str());
  set(h, CURLOPT_HEADERFUNCTION, on_header);
  set(h, CURLOPT_HEADERDATA, &t);
  set(h, CURLOPT_WRITEFUNCTION, on_body);
  set(h, CURLOPT_WRITEDATA, &t);

  if (is_head) {
    set(h, CURLOPT_NOBODY, 1L);
  } else if (has_body) {
    set(h, CURLOPT_UPLOAD, 1L);
    set(h, CURLOPT_READFUNCTION, on_read);
    set(h, CURLOPT_READDATA, &t.upload);
    set(h, CURLOPT_SEEKFUNCTION, on_seek);
    set(h, CURLOPT_SEEKDATA, &t.upload);
    // A known size gives Content-Length instead of chunked encoding (S3 needs it).
    set(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(t.upload.length));
    if (request.method != "PUT") set(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  } else if (request.method == "GET") {
    set(h, CURLOPT_HTTPGET, 1L);
  } else {
    set(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }

  const CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK) {
    if (t.sink_stopped) return fail(Errc::unavailable, what + ": stopped by reader");
    if (t.upload.error) return std::unexpected(with_context(*t.upload.error, what));
    if (t.body_too_large) {
      return fail(Errc::too_large, what + ": response body exceeds " + std::to_string(kMaxMemoryBodyBytes) + " bytes");
    }
    const std::string detail = errbuf[0] != '\0' ? std::string(trim(errbuf)) : std::string(curl_easy_strerror(rc));
    if (rc == CURLE_PEER_FAILED_VERIFICATION) {
      return fail(Errc::unavailable, what + ": the server's TLS certificate could not be verified (" + detail + ")",
                  std::string(kTlsVerifyField));
    }
    if (rc == CURLE_SSL_CACERT_BADFILE) {
      return fail(Errc::invalid_argument,
                  what + ": cannot use the CA file " + impl_->options.ca_file.string() + " (" + detail + ")",
                  std::string(kTlsVerifyField));
    }
    return fail(Errc::unavailable, what + ": " + detail);
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &t.response.status);
  return std::move(t.response);
}

std::string url_host(std::string_view url) {
  const auto scheme = url.find("://");
  if (scheme == std::string_view::npos) return {};
  std::string_view rest = url.substr(scheme + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) rest.remove_prefix(at + 1);
  if (rest.starts_with('[')) {
    const auto close = rest.find(']');
    return close == std::string_view::npos ? std::string() : std::string(rest.substr(1, close - 1));
  }
  return std::string(rest.substr(0, rest.find(':')));
}

Error api_error(const HttpResponse& response) {
  std::string code, message, field;
  const auto doc = nlohmann::json::parse(response.body, nullptr, false);
  if (doc.is_object()) {
    if (auto e = doc.find("error"); e != doc.end() && e->is_object()) {
      const auto text = [&](const char* key) {
        auto it = e->find(key);
        return it != e->end() && it->is_string() ? it->get<std::string>() : std::string();
      };
      code = text("code");
      message = text("message");
      field = text("field");
    }
  }
  return Error{errc_for_status(response.status, code), std::move(message), std::move(field)};
}

Status check_transport(std::string_view url, bool allow_insecure_http, std::string_view insecure_flag) {
  std::string scheme(url.substr(0, url.find("://")));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(), ascii_lower);
  if (scheme == "https") return {};
  if (scheme != "http" || url.find("://") == std::string_view::npos) {
    return fail(Errc::invalid_argument, "server URL '" + std::string(url) + "' must start with https:// or http://");
  }
  if (allow_insecure_http) return {};
  std::string host = url_host(url);
  std::transform(host.begin(), host.end(), host.begin(), ascii_lower);
  // Literal addresses only: a name that resolves to 127.0.0.1 today may not
  // tomorrow, and DNS answers are not ours to trust.
  in_addr v4{};
  in6_addr v6{};
  const bool loopback = host == "localhost" ||
                        (::inet_pton(AF_INET, host.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127) ||
                        (::inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6));
  if (loopback) return {};
  return fail(Errc::invalid_argument,
              "refusing plain http:// to " + (host.empty() ? std::string("an unnamed host") : host) +
                  ": tokens, passwords and recordings would cross the network unencrypted. Use https:// (with " +
                  "--ca-file for a private CA), or pass " + std::string(insecure_flag) +
                  " to allow http:// anyway (http:// is always allowed to 127.0.0.1, ::1 and localhost)");
}

std::string url_encode(std::string_view text, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() * 3);
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                            c == '_' || c == '.' || c == '~';
    if (unreserved || (keep_slash && c == '/')) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace deskaudit::client

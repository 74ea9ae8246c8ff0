// HttpClient over libcurl (Linux); http_winhttp.cpp is the Windows one.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <mutex>
#include <stdexcept>

#include "client/curl_ptr.hpp"
#include "client/http.hpp"
#include "client/http_internal.hpp"
#include "common/fs.hpp"

namespace deskaudit::client {
namespace {

using namespace detail;

void ensure_curl_global() {
  // curl_global_init is not thread-safe on its own; run it exactly once and
  // never clean up (other threads may still hold handles at exit).
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw std::runtime_error("curl_global_init failed");
  });
}

// Bodies from this size on are sent through a larger buffer (send()).
constexpr std::uint64_t kLargeUploadBytes = 4u << 20;
constexpr long kLargeUploadBufferBytes = 1L << 20;

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
  detail::add_header_line(t->response.headers, std::string_view(data, n));
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
    // A large body (a segment, an object) leaves in 1 MiB reads and sends
    // instead of curl's default 64 KiB: a sixteenth of the callbacks and
    // send() calls. Small bodies keep the default buffer.
    if (t.upload.length >= kLargeUploadBytes) set(h, CURLOPT_UPLOAD_BUFFERSIZE, kLargeUploadBufferBytes);
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

}  // namespace deskaudit::client

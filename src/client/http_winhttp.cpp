// HttpClient over WinHTTP (Windows); http_curl.cpp is the Linux one. The same
// contract: any status is a success value, bodies stream from files and into
// sinks, transport failures are Errc::unavailable. TLS goes through the
// system (SChannel) with peer and host name verified against the Windows
// certificate store; with a ca_file (a private CA), which WinHTTP cannot
// take, SChannel's CA check is off and the certificate is verified against
// the file's CAs (ca_trust_windows.hpp) when the connection is up and before
// the request goes out: a request whose server failed is closed, and its
// body is never sent (docs/windows.md, "A private CA").
#include <windows.h>
//
#include <winhttp.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <stdexcept>

#include "client/ca_trust_windows.hpp"
#include "client/http.hpp"
#include "client/http_internal.hpp"
#include "common/utf16.hpp"

namespace deskaudit::client {
namespace {

using namespace detail;
using SteadyClock = std::chrono::steady_clock;

struct InternetDeleter {
  void operator()(HINTERNET h) const noexcept { WinHttpCloseHandle(h); }
};
using InternetPtr = std::unique_ptr<void, InternetDeleter>;

std::string win_error_text(DWORD code) {
  wchar_t* text = nullptr;
  // WinHTTP's messages live in winhttp.dll, not in the system table.
  const DWORD n = FormatMessageW(FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_HMODULE |
                                     FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
                                 GetModuleHandleW(L"winhttp.dll"), code, 0, reinterpret_cast<wchar_t*>(&text), 0,
                                 nullptr);
  std::string out = n > 0 && text != nullptr ? std::string(trim(narrow(std::wstring_view(text, n)))) : std::string();
  if (text != nullptr) LocalFree(text);
  if (out.empty()) out = "error " + std::to_string(code);
  return out;
}

bool is_tls_verify_error(DWORD code) {
  switch (code) {
    case ERROR_WINHTTP_SECURE_FAILURE:
    case ERROR_WINHTTP_SECURE_INVALID_CA:
    case ERROR_WINHTTP_SECURE_INVALID_CERT:
    case ERROR_WINHTTP_SECURE_CERT_CN_INVALID:
    case ERROR_WINHTTP_SECURE_CERT_DATE_INVALID:
    case ERROR_WINHTTP_SECURE_CERT_REVOKED:
    case ERROR_WINHTTP_SECURE_CERT_REV_FAILED:
    case ERROR_WINHTTP_SECURE_CERT_WRONG_USAGE:
      return true;
    default:
      return false;
  }
}

// Milliseconds left before the whole-transfer deadline (at least 1: WinHTTP
// reads 0 as "no timeout"); 0 when it has passed.
int remaining_ms(SteadyClock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
  if (left <= 0) return 0;
  return static_cast<int>(std::min<long long>(left, std::numeric_limits<int>::max()));
}

// Where the request body comes from: a string or a slice of a file.
struct UploadSource {
  const std::string* memory = nullptr;
  std::ifstream file;
  std::uint64_t start = 0;
  std::uint64_t length = 0;
  std::string path;
};

Status open_file_body(const FileBody& body, UploadSource& u) {
  u.path = body.path.string();
  std::error_code ec;
  const auto status = std::filesystem::status(body.path, ec);
  if (ec || !std::filesystem::exists(status)) {
    return fail(ec && ec != std::errc::no_such_file_or_directory ? Errc::io : Errc::not_found,
                "open " + u.path + ": " + (ec ? ec.message() : std::string("no such file")));
  }
  if (!std::filesystem::is_regular_file(status)) return fail(Errc::invalid_argument, u.path + " is not a regular file");
  u.file.open(body.path, std::ios::binary);
  if (!u.file) return fail(Errc::io, "open " + u.path + ": cannot read it");
  const std::uint64_t size = std::filesystem::file_size(body.path, ec);
  if (ec) return fail(Errc::io, "stat " + u.path + ": " + ec.message());
  if (body.offset > size) {
    return fail(Errc::invalid_argument, u.path + ": offset " + std::to_string(body.offset) + " is past its end (" +
                                            std::to_string(size) + " bytes)");
  }
  const std::uint64_t available = size - body.offset;
  if (body.length && *body.length > available) {
    return fail(Errc::invalid_argument, u.path + ": " + std::to_string(*body.length) + " bytes from offset " +
                                            std::to_string(body.offset) + " exceed its size " + std::to_string(size));
  }
  u.start = body.offset;
  u.length = body.length.value_or(available);
  return {};
}

// What the status callback of one https request checks against the CA file,
// and what it found. The callback runs on the thread in WinHttpSendRequest
// (a synchronous session), when the TLS handshake is done and before the
// request line and headers are written.
struct CertCheck {
  HCERTSTORE ca = nullptr;
  std::wstring host;
  bool checked = false;
  std::optional<Error> failure;
  bool closed = false;  // the callback closed the request handle
};

void CALLBACK on_sending_request(HINTERNET request, DWORD_PTR context, DWORD status, LPVOID, DWORD) {
  if (status != WINHTTP_CALLBACK_STATUS_SENDING_REQUEST || context == 0) return;
  auto* check = reinterpret_cast<CertCheck*>(context);
  if (check->checked) return;  // a resend on the same handle (WinHTTP's own retry): checked once is enough
  check->checked = true;
  PCCERT_CONTEXT cert = nullptr;
  DWORD size = sizeof cert;
  Status verdict;
  if (!WinHttpQueryOption(request, WINHTTP_OPTION_SERVER_CERT_CONTEXT, &cert, &size) || cert == nullptr) {
    verdict = fail(Errc::unavailable, "its certificate could not be read (" + win_error_text(GetLastError()) + ")");
  } else {
    verdict = verify_server_certificate(cert, check->ca, check->host);
    CertFreeCertificateContext(cert);
  }
  if (verdict) return;
  check->failure = verdict.error();
  // The only way to stop a request from within its callback: Windows then
  // fails WinHttpSendRequest before anything is written. (Wine 8 writes the
  // request line and headers anyway; the body never goes, below.)
  check->closed = true;
  WinHttpCloseHandle(request);
}

}  // namespace

struct HttpClient::Impl {
  InternetPtr session;
  HttpClientOptions options;
  std::optional<Result<CertStorePtr>> ca;  // loaded once, when options.ca_file is set
};

HttpClient::HttpClient(HttpClientOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  if (!impl_->options.ca_file.empty()) impl_->ca = load_ca_file(impl_->options.ca_file);
  // The system's proxy setting (netsh winhttp), as services use it.
  impl_->session.reset(WinHttpOpen(L"deskaudit", WINHTTP_ACCESS_TYPE_DEFAULT_PROXY, WINHTTP_NO_PROXY_NAME,
                                   WINHTTP_NO_PROXY_BYPASS, 0));
  if (!impl_->session) throw std::runtime_error("WinHttpOpen failed: " + win_error_text(GetLastError()));
}

HttpClient::~HttpClient() = default;

Result<HttpResponse> HttpClient::send(const HttpRequest& request, const BodySink& sink) {
  const std::string what = request.method + " " + url_without_query(request.url);
  if (request.method.empty() || has_line_break(request.method) || request.method.find(' ') != std::string::npos) {
    return fail(Errc::invalid_argument, "bad HTTP method '" + request.method + "'");
  }
  if (request.url.empty() || has_line_break(request.url)) return fail(Errc::invalid_argument, "bad URL for " + what);
  if (request.timeout_ms <= 0 || request.connect_timeout_ms <= 0) {
    return fail(Errc::invalid_argument, what + ": timeouts must be positive");
  }
  const bool is_head = request.method == "HEAD";
  const bool has_body = request.file.has_value() || !request.body.empty() || request.method == "PUT" ||
                        request.method == "POST" || request.method == "PATCH";
  if (has_body && (is_head || request.method == "GET")) {
    return fail(Errc::invalid_argument, what + ": a " + request.method + " request cannot carry a body");
  }
  UploadSource upload;
  if (request.file) {
    if (auto st = open_file_body(*request.file, upload); !st) return std::unexpected(st.error());
  } else {
    upload.memory = &request.body;
    upload.length = request.body.size();
  }
  // WinHttpSendRequest's total length is a DWORD.
  if (upload.length > std::numeric_limits<DWORD>::max() - 1) {
    return fail(Errc::too_large, (upload.path.empty() ? what : upload.path) + " is too large to send");
  }

  std::wstring headers;
  for (const auto& [name, value] : request.headers) {
    if (name.empty() || has_line_break(name) || name.find(':') != std::string::npos || has_line_break(value)) {
      return fail(Errc::invalid_argument, what + ": bad header '" + name + "'");
    }
    headers += widen(name + ": " + value + "\r\n");
  }

  // The URL's parts.
  const std::wstring wurl = widen(request.url);
  URL_COMPONENTS parts{};
  parts.dwStructSize = sizeof parts;
  parts.dwSchemeLength = parts.dwHostNameLength = parts.dwUrlPathLength = parts.dwExtraInfoLength = DWORD(-1);
  // As curl: a URL it cannot use, or another protocol, is a transport failure.
  if (!WinHttpCrackUrl(wurl.c_str(), static_cast<DWORD>(wurl.size()), 0, &parts)) {
    return fail(Errc::unavailable, what + ": " + win_error_text(GetLastError()));
  }
  if (parts.nScheme != INTERNET_SCHEME_HTTP && parts.nScheme != INTERNET_SCHEME_HTTPS) {
    return fail(Errc::unavailable, what + ": only http and https are spoken");
  }
  const std::wstring host(parts.lpszHostName, parts.dwHostNameLength);
  std::wstring path(parts.lpszUrlPath, parts.dwUrlPathLength);
  path.append(parts.lpszExtraInfo, parts.dwExtraInfoLength);
  if (path.empty()) path = L"/";
  const bool secure = parts.nScheme == INTERNET_SCHEME_HTTPS;
  HCERTSTORE ca = nullptr;
  if (secure && impl_->ca) {
    if (!*impl_->ca) {
      const Error& e = impl_->ca->error();
      return fail(e.code == Errc::internal ? Errc::internal : Errc::invalid_argument, what + ": " + e.message,
                  std::string(kTlsVerifyField));
    }
    ca = impl_->ca->value().get();
  }

  const auto deadline = SteadyClock::now() + std::chrono::milliseconds(request.timeout_ms);
  const auto transport_error = [&](DWORD code) -> Error {
    if (code == ERROR_WINHTTP_TIMEOUT || (code == ERROR_SUCCESS && remaining_ms(deadline) == 0)) {
      return Error{Errc::unavailable, what + ": timed out after " + std::to_string(request.timeout_ms) + " ms", {}};
    }
    if (is_tls_verify_error(code)) {
      return Error{Errc::unavailable,
                   what + ": the server's TLS certificate could not be verified (" + win_error_text(code) + ")",
                   std::string(kTlsVerifyField)};
    }
    return Error{Errc::unavailable, what + ": " + win_error_text(code), {}};
  };

  InternetPtr connection(WinHttpConnect(impl_->session.get(), host.c_str(), parts.nPort, 0));
  if (!connection) return std::unexpected(transport_error(GetLastError()));
  const std::wstring method = widen(request.method);
  InternetPtr req(WinHttpOpenRequest(connection.get(), method.c_str(), path.c_str(), nullptr, WINHTTP_NO_REFERER,
                                     WINHTTP_DEFAULT_ACCEPT_TYPES, secure ? WINHTTP_FLAG_SECURE : 0));
  if (!req) return std::unexpected(transport_error(GetLastError()));
  CertCheck check;
  check.ca = ca;
  check.host = host;
  if (ca != nullptr) {
    // SChannel's own chain and name checks would fail a private CA (and are
    // all done by verify_server_certificate instead).
    DWORD flags = SECURITY_FLAG_IGNORE_UNKNOWN_CA | SECURITY_FLAG_IGNORE_CERT_CN_INVALID |
                  SECURITY_FLAG_IGNORE_CERT_DATE_INVALID | SECURITY_FLAG_IGNORE_CERT_WRONG_USAGE;
    const auto context = reinterpret_cast<DWORD_PTR>(&check);
    if (!WinHttpSetOption(req.get(), WINHTTP_OPTION_SECURITY_FLAGS, &flags, sizeof flags) ||
        !WinHttpSetOption(req.get(), WINHTTP_OPTION_CONTEXT_VALUE, const_cast<DWORD_PTR*>(&context), sizeof context) ||
        WinHttpSetStatusCallback(req.get(), on_sending_request, WINHTTP_CALLBACK_FLAG_SEND_REQUEST, 0) ==
            WINHTTP_INVALID_STATUS_CALLBACK) {
      return std::unexpected(transport_error(GetLastError()));
    }
  }
  // As with curl: redirects are answers, not followed.
  DWORD never = WINHTTP_OPTION_REDIRECT_POLICY_NEVER;
  WinHttpSetOption(req.get(), WINHTTP_OPTION_REDIRECT_POLICY, &never, sizeof never);
  const int connect_ms = static_cast<int>(std::min<long>(request.connect_timeout_ms, request.timeout_ms));
  WinHttpSetTimeouts(req.get(), connect_ms, connect_ms, remaining_ms(deadline), remaining_ms(deadline));

  if (!headers.empty() &&
      !WinHttpAddRequestHeaders(req.get(), headers.c_str(), static_cast<DWORD>(headers.size()),
                                WINHTTP_ADDREQ_FLAG_ADD | WINHTTP_ADDREQ_FLAG_REPLACE)) {
    return std::unexpected(transport_error(GetLastError()));
  }
  const DWORD total = has_body ? static_cast<DWORD>(upload.length) : 0;
  const BOOL sent =
      WinHttpSendRequest(req.get(), WINHTTP_NO_ADDITIONAL_HEADERS, 0, WINHTTP_NO_REQUEST_DATA, 0, total, 0);
  const DWORD send_error = sent ? ERROR_SUCCESS : GetLastError();
  if (check.closed) (void)req.release();  // closed by the callback
  if (ca != nullptr && (check.failure || (sent && !check.checked))) {
    // Fails closed: a server that did not verify, or a request that went out
    // without the check, gets no body and its answer is not read.
    if (!check.closed) req.reset();
    return fail(Errc::unavailable,
                what + ": the server's TLS certificate could not be verified against the CA file " +
                    impl_->options.ca_file.string() + " (" +
                    (check.failure ? check.failure->message : std::string("the certificate check did not run")) + ")",
                std::string(kTlsVerifyField));
  }
  if (!sent) return std::unexpected(transport_error(send_error));
  // The body in pieces: a file is never held whole in memory.
  if (has_body && upload.length > 0) {
    std::vector<char> buffer(std::min<std::uint64_t>(upload.length, 256u << 10));
    if (upload.file.is_open()) upload.file.seekg(static_cast<std::streamoff>(upload.start));
    for (std::uint64_t sent = 0; sent < upload.length;) {
      const auto n = static_cast<DWORD>(std::min<std::uint64_t>(buffer.size(), upload.length - sent));
      const char* data = nullptr;
      if (upload.memory != nullptr) {
        data = upload.memory->data() + sent;
      } else {
        upload.file.read(buffer.data(), n);
        if (static_cast<DWORD>(upload.file.gcount()) != n) {
          return fail(Errc::io, what + ": " + upload.path + " became shorter while it was being sent");
        }
        data = buffer.data();
      }
      if (remaining_ms(deadline) == 0) return std::unexpected(transport_error(ERROR_WINHTTP_TIMEOUT));
      WinHttpSetTimeouts(req.get(), connect_ms, connect_ms, remaining_ms(deadline), remaining_ms(deadline));
      DWORD written = 0;
      if (!WinHttpWriteData(req.get(), data, n, &written)) return std::unexpected(transport_error(GetLastError()));
      sent += written;
    }
  }
  if (!WinHttpReceiveResponse(req.get(), nullptr)) return std::unexpected(transport_error(GetLastError()));

  HttpResponse response;
  DWORD status = 0, status_size = sizeof status;
  if (!WinHttpQueryHeaders(req.get(), WINHTTP_QUERY_STATUS_CODE | WINHTTP_QUERY_FLAG_NUMBER,
                           WINHTTP_HEADER_NAME_BY_INDEX, &status, &status_size, WINHTTP_NO_HEADER_INDEX)) {
    return std::unexpected(transport_error(GetLastError()));
  }
  response.status = static_cast<long>(status);
  DWORD raw_size = 0;
  WinHttpQueryHeaders(req.get(), WINHTTP_QUERY_RAW_HEADERS_CRLF, WINHTTP_HEADER_NAME_BY_INDEX, WINHTTP_NO_OUTPUT_BUFFER,
                      &raw_size, WINHTTP_NO_HEADER_INDEX);
  if (raw_size > 0) {
    std::wstring raw(raw_size / sizeof(wchar_t) + 1, L'\0');
    if (WinHttpQueryHeaders(req.get(), WINHTTP_QUERY_RAW_HEADERS_CRLF, WINHTTP_HEADER_NAME_BY_INDEX, raw.data(),
                            &raw_size, WINHTTP_NO_HEADER_INDEX)) {
      raw.resize(raw_size / sizeof(wchar_t));
      const std::string text = narrow(raw);
      for (std::size_t at = 0; at < text.size();) {
        const auto end = std::min(text.find('\n', at), text.size());
        add_header_line(response.headers, std::string_view(text).substr(at, end - at));
        at = end + 1;
      }
    }
  }
  if (is_head) return response;

  const bool success = response.status >= 200 && response.status < 300;
  const bool to_sink = sink && success;
  const std::size_t cap = sink ? kMaxErrorBodyBytes : kMaxMemoryBodyBytes;
  std::vector<char> chunk(64u << 10);
  for (;;) {
    if (remaining_ms(deadline) == 0) return std::unexpected(transport_error(ERROR_WINHTTP_TIMEOUT));
    WinHttpSetTimeouts(req.get(), connect_ms, connect_ms, remaining_ms(deadline), remaining_ms(deadline));
    DWORD n = 0;
    if (!WinHttpReadData(req.get(), chunk.data(), static_cast<DWORD>(chunk.size()), &n)) {
      return std::unexpected(transport_error(GetLastError()));
    }
    if (n == 0) break;
    if (to_sink) {
      if (!sink(std::span(reinterpret_cast<const std::byte*>(chunk.data()), n))) {
        return fail(Errc::unavailable, what + ": stopped by reader");
      }
      continue;
    }
    if (response.body.size() + n > cap) {
      if (sink) {
        response.body.append(chunk.data(), cap - response.body.size());  // enough for an error message
        continue;
      }
      return fail(Errc::too_large, what + ": response body exceeds " + std::to_string(kMaxMemoryBodyBytes) + " bytes");
    }
    response.body.append(chunk.data(), n);
  }
  return response;
}

}  // namespace deskaudit::client

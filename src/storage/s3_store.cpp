#include "storage/s3_store.hpp"

#include <sodium.h>
#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <limits>
#include <thread>

#include "common/crypto.hpp"
#include "common/http_status.hpp"
#include "storage/keys.hpp"
#include "storage/s3_xml.hpp"

namespace deskaudit::storage {
namespace {

constexpr std::uint64_t kMaxSinglePutBytes = 5ull << 30;  // S3's limit for one PUT
constexpr std::size_t kMaxIdleClients = 16;
constexpr long kBackoffBaseMs = 100;
constexpr long kBackoffCapMs = 5000;
constexpr int kMaxRetriesAllowed = 20;

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::string(v) : std::string();
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool is_alnum_lower(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

Status check_bucket(std::string_view b) {
  const bool chars_ok =
      std::all_of(b.begin(), b.end(), [](char c) { return is_alnum_lower(c) || c == '.' || c == '-'; });
  if (b.size() < 3 || b.size() > 63 || !chars_ok || !is_alnum_lower(b.front()) || !is_alnum_lower(b.back())) {
    return fail(Errc::invalid_argument,
                "bad S3 bucket name '" + std::string(b.substr(0, 80)) +
                    "': 3-63 characters of a-z 0-9 . -, starting and ending with a letter or digit",
                "bucket");
  }
  return {};
}

std::optional<std::uint64_t> parse_u64(std::string_view s) {
  std::uint64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

Errc errc_for(long status, std::string_view code) {
  if (code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" || code == "ExpiredToken" ||
      code == "InvalidToken" || code == "TokenRefreshRequired" || code == "RequestTimeTooSkewed") {
    return Errc::unauthenticated;
  }
  // The body differs from its signed SHA-256: the file changed after
  // put_file() hashed it. Another attempt hashes it again.
  if (code == "XAmzContentSHA256Mismatch" || code == "BadDigest") return Errc::unavailable;
  const Errc e = errc_for_status(status);
  // The store throttling the server is the server's outage (a 503 to its own
  // clients), not a rate limit the server's caller ran into.
  return e == Errc::too_many_requests ? Errc::unavailable : e;
}

// "PUT s3://bucket/key: HTTP 403 AccessDenied: Access Denied"
Error s3_error(const client::HttpResponse& r, std::string_view what) {
  const auto body = s3xml::parse_error(r.body);
  std::string message = std::string(what) + ": HTTP " + std::to_string(r.status);
  if (!body.code.empty()) message += " " + body.code;
  if (!body.message.empty()) message += ": " + body.message;
  return Error{errc_for(r.status, body.code), std::move(message), {}};
}

S3ObjectStore::Call make_call(std::string method, std::string object) {
  S3ObjectStore::Call call;
  call.method = std::move(method);
  call.object = std::move(object);
  return call;
}

}  // namespace

Result<std::unique_ptr<S3ObjectStore>> S3ObjectStore::open(std::string_view url, const S3Options& options) {
  if (!url.starts_with("s3://")) return fail(Errc::invalid_argument, "S3 URL must start with s3://", "url");
  std::string_view rest = url.substr(5);
  const auto slash = rest.find('/');
  const std::string_view bucket = rest.substr(0, slash);
  std::string_view prefix = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  while (prefix.ends_with('/')) prefix.remove_suffix(1);
  if (auto st = check_bucket(bucket); !st) return std::unexpected(st.error());
  if (!prefix.empty()) {
    if (auto st = validate_key(prefix); !st) {
      return fail(Errc::invalid_argument, "S3 prefix in '" + std::string(url) + "': " + st.error().message, "url");
    }
  }

  std::unique_ptr<S3ObjectStore> s(new S3ObjectStore());
  s->bucket_ = std::string(bucket);
  s->prefix_ = std::string(prefix);
  s->path_style_ = options.path_style;

  s->region_ = !options.region.empty() ? options.region : env("AWS_REGION");
  if (s->region_.empty()) s->region_ = "us-east-1";
  if (!std::all_of(s->region_.begin(), s->region_.end(), [](char c) { return is_alnum_lower(c) || c == '-'; })) {
    return fail(Errc::invalid_argument, "bad S3 region '" + s->region_ + "'", "region");
  }

  const std::string endpoint =
      options.endpoint.empty() ? "https://s3." + s->region_ + ".amazonaws.com" : options.endpoint;
  const auto scheme_end = endpoint.find("://");
  const std::string scheme = lower(endpoint.substr(0, scheme_end));
  if (scheme_end == std::string::npos || (scheme != "http" && scheme != "https")) {
    return fail(Errc::invalid_argument, "S3 endpoint must be http://host[:port] or https://host[:port]", "endpoint");
  }
  std::string_view authority = std::string_view(endpoint).substr(scheme_end + 3);
  while (authority.ends_with('/')) authority.remove_suffix(1);
  if (authority.empty() || authority.find_first_of("/?#@ \t\r\n") != std::string_view::npos) {
    return fail(Errc::invalid_argument, "S3 endpoint must be scheme://host[:port] without path or credentials",
                "endpoint");
  }
  std::string_view host = authority;
  std::string_view port;
  if (authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return fail(Errc::invalid_argument, "bad IPv6 S3 endpoint", "endpoint");
    host = authority.substr(0, close + 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return fail(Errc::invalid_argument, "bad S3 endpoint", "endpoint");
      port = authority.substr(close + 2);
    }
  } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return fail(Errc::invalid_argument, "S3 endpoint has no host", "endpoint");
  if (!port.empty() || authority.ends_with(':')) {
    const auto p = parse_u64(port);
    if (!p || *p == 0 || *p > 65535) return fail(Errc::invalid_argument, "bad port in S3 endpoint", "endpoint");
    if ((scheme == "http" && *p == 80) || (scheme == "https" && *p == 443)) port = {};
  }
  s->endpoint_ = Endpoint{scheme, lower(host), std::string(port)};

  if (options.access_key_id.empty() && options.secret_access_key.empty()) {
    s->credentials_ = {env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"), env("AWS_SESSION_TOKEN")};
    if (s->credentials_.access_key_id.empty() || s->credentials_.secret_access_key.empty()) {
      return fail(Errc::invalid_argument,
                  "no S3 credentials: configure an access key id and secret, or set AWS_ACCESS_KEY_ID and "
                  "AWS_SECRET_ACCESS_KEY",
                  "access_key_id");
    }
  } else {
    if (options.access_key_id.empty() || options.secret_access_key.empty()) {
      return fail(Errc::invalid_argument, "S3 credentials need both an access key id and a secret access key",
                  options.access_key_id.empty() ? "access_key_id" : "secret_access_key");
    }
    s->credentials_ = {options.access_key_id, options.secret_access_key, options.session_token};
  }
  const auto bad_char = [](const std::string& v) { return v.find_first_of("\r\n\0", 0, 3) != std::string::npos; };
  if (bad_char(s->credentials_.access_key_id) || bad_char(s->credentials_.session_token)) {
    return fail(Errc::invalid_argument, "S3 credentials contain line breaks", "access_key_id");
  }

  if (options.max_retries < 0 || options.max_retries > kMaxRetriesAllowed) {
    return fail(Errc::invalid_argument, "S3 max_retries must be 0.." + std::to_string(kMaxRetriesAllowed),
                "max_retries");
  }
  if (options.timeout_ms <= 0) return fail(Errc::invalid_argument, "S3 timeout_ms must be positive", "timeout_ms");
  s->max_retries_ = options.max_retries;
  s->timeout_ms_ = options.timeout_ms;
  return s;
}

S3ObjectStore::~S3ObjectStore() {
  sodium_memzero(credentials_.secret_access_key.data(), credentials_.secret_access_key.size());
}

std::string S3ObjectStore::bucket_key(std::string_view key) const {
  return prefix_.empty() ? std::string(key) : prefix_ + "/" + std::string(key);
}

std::string S3ObjectStore::where(std::string_view bk) const { return "s3://" + bucket_ + "/" + std::string(bk); }

std::string S3ObjectStore::describe() const { return "s3://" + bucket_ + (prefix_.empty() ? "" : "/" + prefix_); }

std::unique_ptr<client::HttpClient> S3ObjectStore::borrow() {
  {
    std::lock_guard lock(pool_mutex_);
    if (!pool_.empty()) {
      auto c = std::move(pool_.back());
      pool_.pop_back();
      return c;
    }
  }
  return std::make_unique<client::HttpClient>();
}

void S3ObjectStore::give_back(std::unique_ptr<client::HttpClient> c) {
  std::lock_guard lock(pool_mutex_);
  if (pool_.size() < kMaxIdleClients) pool_.push_back(std::move(c));
}

client::HttpRequest S3ObjectStore::build(const Call& call) const {
  const std::string host = (path_style_ ? std::string() : bucket_ + ".") + endpoint_.host +
                           (endpoint_.port.empty() ? std::string() : ":" + endpoint_.port);
  const std::string path =
      path_style_ ? "/" + bucket_ + (call.object.empty() ? "" : "/" + call.object) : "/" + call.object;
  sigv4::Request sreq;
  sreq.method = call.method;
  sreq.path = path;
  sreq.query = call.query;
  sreq.headers = call.headers;
  sreq.headers.emplace_back("host", host);
  sreq.payload_sha256 = call.payload_sha256.empty() ? std::string(sigv4::kEmptyPayloadSha256) : call.payload_sha256;
  const auto now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  sigv4::sign_s3_request(sreq, credentials_, region_, sigv4::amz_date(now_ms));

  client::HttpRequest req;
  req.method = call.method;
  const std::string query = sigv4::canonical_query(call.query);
  // The URL carries exactly the encoding that was signed (encoded once).
  req.url = endpoint_.scheme + "://" + host + sigv4::canonical_uri(path) + (query.empty() ? "" : "?" + query);
  req.headers = std::move(sreq.headers);
  req.body = call.body;
  req.file = call.file;
  req.timeout_ms = timeout_ms_;
  return req;
}

Result<client::HttpResponse> S3ObjectStore::execute(const Call& call, std::string_view what,
                                                    const client::BodySink& sink,
                                                    const std::function<bool()>& retryable) {
  for (int attempt = 0;; ++attempt) {
    const client::HttpRequest req = build(call);  // signed afresh: x-amz-date moves on
    auto c = borrow();
    auto r = c->send(req, sink);
    give_back(std::move(c));
    if (r && r->status < 500 && r->status != 429) return r;
    if (!r && r.error().code != Errc::unavailable) return std::unexpected(with_context(r.error(), what));
    if (attempt >= max_retries_ || (retryable && !retryable())) {
      if (!r) return std::unexpected(with_context(r.error(), what));
      return r;  // the caller turns the 5xx/429 into an error naming the key
    }
    // Exponential backoff with full jitter spreads out clients that failed together.
    const long cap = std::min(kBackoffCapMs, kBackoffBaseMs << std::min(attempt, 16));
    std::this_thread::sleep_for(std::chrono::milliseconds(randombytes_uniform(static_cast<std::uint32_t>(cap) + 1)));
  }
}

Status S3ObjectStore::put_file(std::string_view key, const std::filesystem::path& source) {
  return put_file_with(key, source, {});
}

Status S3ObjectStore::put_handed_over_file(std::string_view key, const std::filesystem::path& source,
                                           std::string_view sha256_hex) {
  if (!sha256_hex.empty() && !is_sha256_hex(sha256_hex)) {
    return fail(Errc::invalid_argument, "the SHA-256 of a handed-over file must be 64 lowercase hex digits",
                "sha256");
  }
  return put_file_with(key, source, sha256_hex);
}

Status S3ObjectStore::put_file_with(std::string_view key, const std::filesystem::path& source,
                                    std::string_view known_sha256) {
  if (auto st = validate_key(key); !st) return st;
  const std::string bk = bucket_key(key);
  struct stat st {};
  if (::stat(source.c_str(), &st) != 0) {
    const int e = errno;
    return fail(e == ENOENT ? Errc::not_found : Errc::io, errno_message("stat " + source.string(), e));
  }
  if (!S_ISREG(st.st_mode)) return fail(Errc::invalid_argument, source.string() + " is not a regular file");
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size > kMaxSinglePutBytes) {
    return fail(Errc::too_large,
                source.string() + " is " + std::to_string(size) + " bytes; a single S3 PUT takes at most 5 GiB");
  }
  // S3 verifies the body against this hash, so a file changed in between is refused, not stored.
  std::string sha(known_sha256);
  if (sha.empty()) {
    auto hashed = sha256_file_hex(source);
    if (!hashed) return std::unexpected(hashed.error());
    sha = std::move(*hashed);
  }
  Call call = make_call("PUT", bk);
  call.headers = {{"content-type", "application/octet-stream"}};
  call.file = client::FileBody{source, 0, size};
  call.payload_sha256 = std::move(sha);
  const std::string what = "PUT " + where(bk);
  auto r = execute(call, what);
  if (!r) return std::unexpected(r.error());
  if (r->status != 200) return std::unexpected(s3_error(*r, what));
  return {};
}

Status S3ObjectStore::put_bytes(std::string_view key, std::span<const std::byte> data) {
  if (auto st = validate_key(key); !st) return st;
  const std::string bk = bucket_key(key);
  Call call = make_call("PUT", bk);
  call.headers = {{"content-type", "application/octet-stream"}};
  call.body.assign(reinterpret_cast<const char*>(data.data()), data.size());
  call.payload_sha256 = sha256_hex(call.body);
  const std::string what = "PUT " + where(bk);
  auto r = execute(call, what);
  if (!r) return std::unexpected(r.error());
  if (r->status != 200) return std::unexpected(s3_error(*r, what));
  return {};
}

Result<std::optional<ObjectInfo>> S3ObjectStore::head(std::string_view key) {
  if (auto st = validate_key(key); !st) return std::unexpected(st.error());
  const std::string bk = bucket_key(key);
  const std::string what = "HEAD " + where(bk);
  auto r = execute(make_call("HEAD", bk), what);
  if (!r) return std::unexpected(r.error());
  if (r->status == 404) return std::optional<ObjectInfo>();
  if (r->status != 200) return std::unexpected(s3_error(*r, what));
  const auto it = r->headers.find("content-length");
  const auto size = it == r->headers.end() ? std::nullopt : parse_u64(it->second);
  if (!size) return fail(Errc::corrupt, what + ": response has no valid Content-Length");
  return std::optional<ObjectInfo>(ObjectInfo{std::string(key), *size});
}

Result<std::uint64_t> S3ObjectStore::read(std::string_view key, ByteRange range, const ByteSink& sink) {
  if (auto st = validate_key(key); !st) return std::unexpected(st.error());
  const std::string bk = bucket_key(key);
  const std::string what = "GET " + where(bk);

  // Settles reads that are empty by size: absent -> not_found, starting
  // past the end -> invalid_argument, else 0 bytes. Only a zero-length read
  // may start before the end here; otherwise the object changed under us.
  auto settle = [&](const std::optional<ObjectInfo>& info, bool zero_length) -> Result<std::uint64_t> {
    if (!info) return fail(Errc::not_found, "no object '" + std::string(key) + "' in " + describe());
    if (range.offset > info->size_bytes) {
      return fail(Errc::invalid_argument, "range starts at " + std::to_string(range.offset) + ", past the end of '" +
                                              std::string(key) + "' (" + std::to_string(info->size_bytes) + " bytes)");
    }
    if (range.offset < info->size_bytes && !zero_length) {
      return fail(Errc::unavailable, what + ": the object changed while it was being read; try again");
    }
    return 0;
  };
  auto settle_by_size = [&](bool zero_length) -> Result<std::uint64_t> {
    auto info = head(key);
    if (!info) return std::unexpected(info.error());
    return settle(*info, zero_length);
  };
  if (range.length && *range.length == 0) return settle_by_size(true);

  Call call = make_call("GET", bk);
  const bool ranged = range.offset > 0 || range.length.has_value();
  if (ranged) {
    std::string spec = "bytes=" + std::to_string(range.offset) + "-";
    // An end beyond 2^64 is the same as no end.
    if (range.length && *range.length - 1 <= std::numeric_limits<std::uint64_t>::max() - range.offset) {
      spec += std::to_string(range.offset + (*range.length - 1));
    }
    call.headers.emplace_back("range", spec);
  }

  std::uint64_t delivered = 0;
  bool stopped = false;
  bool overflow = false;
  const client::BodySink counting = [&](std::span<const std::byte> data) {
    if (range.length && data.size() > *range.length - delivered) {
      overflow = true;
      return false;
    }
    delivered += data.size();
    if (!sink(data)) {
      stopped = true;
      return false;
    }
    return true;
  };
  // When a ranged GET fails before its first byte, HEAD can settle reads that
  // are empty by size. Some servers mishandle ranges on empty objects (s3rver
  // announces one byte and sends none); retrying would not help them.
  std::optional<Result<std::uint64_t>> settled;
  bool consulted = false;
  auto retryable = [&] {
    if (delivered != 0 || stopped || overflow) return false;
    if (ranged && !consulted) {
      consulted = true;
      auto info = head(key);
      if (info && (!*info || range.offset >= (*info)->size_bytes)) {
        settled = settle(*info, false);
        return false;
      }
    }
    return true;
  };
  auto r = execute(call, what, counting, retryable);
  if (settled) return *settled;
  if (!r) {
    if (stopped)
      return fail(Errc::unavailable, "reading '" + std::string(key) + "' from " + describe() + ": stopped by reader");
    if (overflow) return fail(Errc::corrupt, what + ": the server sent more bytes than the range asked for");
    return std::unexpected(r.error());
  }
  switch (r->status) {
    case 206:
      return delivered;
    case 200:
      // A server that ignores Range sends the object from its start.
      if (range.offset > 0) return fail(Errc::corrupt, what + ": the server ignored the Range header");
      return delivered;
    case 416:
      // Starting exactly at the end is an empty read; past it is an error.
      return settle_by_size(false);
    default:
      return std::unexpected(s3_error(*r, what));
  }
}

Status S3ObjectStore::remove(std::string_view key) {
  if (auto st = validate_key(key); !st) return st;
  const std::string bk = bucket_key(key);
  const std::string what = "DELETE " + where(bk);
  auto r = execute(make_call("DELETE", bk), what);
  if (!r) return std::unexpected(r.error());
  if (r->status == 200 || r->status == 204) return {};
  // An absent key is already removed; an absent bucket is an error.
  if (r->status == 404 && s3xml::parse_error(r->body).code != "NoSuchBucket") return {};
  return std::unexpected(s3_error(*r, what));
}

Result<std::vector<ObjectInfo>> S3ObjectStore::list(std::string_view prefix) {
  if (auto st = validate_prefix(prefix); !st) return std::unexpected(st.error());
  const std::string store_prefix = prefix_.empty() ? std::string() : prefix_ + "/";
  const std::string full = store_prefix + std::string(prefix);
  const std::string what = "LIST s3://" + bucket_ + "/" + full;
  std::vector<ObjectInfo> out;
  std::string token;
  for (;;) {
    Call call = make_call("GET", {});
    call.query = {{"list-type", "2"}, {"prefix", full}, {"max-keys", "1000"}};
    if (!token.empty()) call.query.emplace_back("continuation-token", token);
    auto r = execute(call, what);
    if (!r) return std::unexpected(r.error());
    if (r->status != 200) return std::unexpected(s3_error(*r, what));
    auto page = s3xml::parse_list_objects_v2(r->body);
    if (!page) return std::unexpected(with_context(page.error(), what));
    for (auto& object : page->objects) {
      if (!object.key.starts_with(full)) continue;
      std::string key = object.key.substr(store_prefix.size());
      // Objects put there by other tools may break our key rules; they are
      // not ours to hand out (read() would refuse their keys anyway).
      if (!validate_key(key)) continue;
      out.push_back(ObjectInfo{std::move(key), object.size_bytes});
    }
    if (!page->truncated) break;
    if (page->next_continuation_token == token) return fail(Errc::corrupt, what + ": the listing does not advance");
    token = std::move(page->next_continuation_token);
  }
  std::sort(out.begin(), out.end(), [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
  return out;
}

}  // namespace deskaudit::storage

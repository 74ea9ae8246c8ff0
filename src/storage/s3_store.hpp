#pragma once
// ObjectStore over an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, OSS,
// s3rver), signed with AWS Signature Version 4. Key "a/b" lives at
// "<prefix>/a/b" in the bucket.
// - put_file() hashes the file (streaming) for x-amz-content-sha256, then
//   streams it in one PUT (S3 limit: 5 GiB); S3 PUTs replace atomically.
// - read() streams GET Range responses to the sink; it is retried only while
//   no byte has reached the sink, so a reader never sees two versions mixed.
// - Requests failing with 5xx, 429 or a transport error are retried up to
//   S3Options::max_retries times with exponential backoff and full jitter.
// - put_file() and put_bytes() fail with unavailable when S3 finds the body
//   differs from its signed hash (XAmzContentSHA256Mismatch, BadDigest): the
//   file changed after it was hashed, and a new call hashes it again.
// - remove() of an absent key succeeds; in an absent bucket it is not_found.
// - Errors name the bucket and key and carry S3's error Code and Message.
// Credentials are kept in memory only and never appear in errors or
// describe(). Thread safety: all methods may run concurrently; each call
// borrows an HttpClient from an internal pool (connections are reused).
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "client/http.hpp"
#include "storage/object_store.hpp"
#include "storage/sigv4.hpp"

namespace deskaudit::storage {

class S3ObjectStore final : public ObjectStore {
 public:
  // url: "s3://bucket" or "s3://bucket/prefix". Empty credentials in options
  // are taken from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
  // AWS_SESSION_TOKEN; an empty region from AWS_REGION (else us-east-1).
  // invalid_argument for a bad URL, endpoint or missing credentials.
  static Result<std::unique_ptr<S3ObjectStore>> open(std::string_view url, const S3Options& options);
  ~S3ObjectStore() override;

  Status put_file(std::string_view key, const std::filesystem::path& source) override;
  // As put_file, with the caller's SHA-256 for x-amz-content-sha256 instead
  // of reading the file twice (S3 still checks the body against it).
  bool uses_handed_over_sha256() const override { return true; }
  Status put_handed_over_file(std::string_view key, const std::filesystem::path& source,
                              std::string_view sha256_hex) override;
  Status put_bytes(std::string_view key, std::span<const std::byte> data) override;
  Result<std::uint64_t> read(std::string_view key, ByteRange range, const ByteSink& sink) override;
  Result<std::optional<ObjectInfo>> head(std::string_view key) override;
  Status remove(std::string_view key) override;
  Result<std::vector<ObjectInfo>> list(std::string_view prefix) override;
  std::string describe() const override;

  // One request as the store sends it (exposed for tests).
  struct Call {
    std::string method;
    std::string object;  // bucket key (with the store prefix), "" for the bucket itself
    std::vector<std::pair<std::string, std::string>> query;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::optional<client::FileBody> file;
    std::string payload_sha256;
  };

 private:
  // known_sha256 empty: hashes the file first.
  Status put_file_with(std::string_view key, const std::filesystem::path& source, std::string_view known_sha256);
  struct Endpoint {
    std::string scheme;  // "http" or "https"
    std::string host;    // lowercased, "[::1]" for IPv6
    std::string port;    // "" for the scheme's default
  };

  S3ObjectStore() = default;
  std::string bucket_key(std::string_view key) const;
  std::string where(std::string_view bucket_key) const;  // "s3://bucket/key"
  client::HttpRequest build(const Call& call) const;
  // Sends with retries. `retryable` says whether another attempt may still
  // be made (read() forbids it once the sink has bytes).
  Result<client::HttpResponse> execute(const Call& call, std::string_view what, const client::BodySink& sink = {},
                                       const std::function<bool()>& retryable = {});
  std::unique_ptr<client::HttpClient> borrow();
  void give_back(std::unique_ptr<client::HttpClient> client);

  std::string bucket_;
  std::string prefix_;  // without trailing '/', "" for none
  Endpoint endpoint_;
  std::string region_;
  bool path_style_ = true;
  sigv4::Credentials credentials_;
  int max_retries_ = 4;
  long timeout_ms_ = 60000;

  std::mutex pool_mutex_;
  std::vector<std::unique_ptr<client::HttpClient>> pool_;
};

}  // namespace deskaudit::storage

#include "storage/local_store.hpp"
#include "storage/object_store.hpp"
#include "storage/s3_store.hpp"

namespace deskaudit::storage {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// file:// URLs percent-encode their path ("file:///var/lib/desk%20audit").
Result<std::string> percent_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    const int hi = i + 2 < text.size() ? hex_value(text[i + 1]) : -1;
    const int lo = i + 2 < text.size() ? hex_value(text[i + 2]) : -1;
    if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
      return fail(Errc::invalid_argument, "bad percent-escape in '" + std::string(text) + "'", "url");
    }
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<ObjectStore>> make_object_store(std::string_view url, const S3Options& s3) {
  if (url.starts_with("s3://")) {
    auto store = S3ObjectStore::open(url, s3);
    if (!store) return std::unexpected(store.error());
    return std::unique_ptr<ObjectStore>(std::move(*store));
  }
  std::string path;
  if (url.starts_with("file://")) {
    std::string_view rest = url.substr(7);
    // Only the local host: "file:///dir" or "file://localhost/dir".
    if (rest.starts_with("localhost/")) rest.remove_prefix(9);
    if (!rest.starts_with('/')) {
      return fail(Errc::invalid_argument, "file URL must be file:///absolute/dir, got '" + std::string(url) + "'",
                  "url");
    }
    if (rest.find_first_of("?#") != std::string_view::npos) {
      return fail(Errc::invalid_argument, "file URL must not have a query or fragment: '" + std::string(url) + "'",
                  "url");
    }
    auto decoded = percent_decode(rest);
    if (!decoded) return std::unexpected(decoded.error());
    path = std::move(*decoded);
  } else if (url.starts_with('/')) {
    path = std::string(url);
  } else {
    return fail(Errc::invalid_argument,
                "object store URL must be file:///absolute/dir, an absolute path, or s3://bucket[/prefix]; got '" +
                    std::string(url) + "'",
                "url");
  }
  auto store = LocalObjectStore::open(path);
  if (!store) return std::unexpected(store.error());
  return std::unique_ptr<ObjectStore>(std::move(*store));
}

}  // namespace deskaudit::storage

#pragma once
// The few S3 XML documents the S3 store reads: ListObjectsV2 results and
// error bodies. A minimal parser for S3's fixed, attribute-free element
// layout; entities are unescaped. Pure functions, thread-safe.
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "storage/object_store.hpp"

namespace deskaudit::storage::s3xml {

struct ListPage {
  std::vector<ObjectInfo> objects;  // full bucket keys, in the server's order
  bool truncated = false;
  std::string next_continuation_token;  // set when truncated
};

// Errc::corrupt when the document is not a well-formed ListBucketResult.
Result<ListPage> parse_list_objects_v2(std::string_view xml);

struct ErrorBody {
  std::string code;     // "NoSuchKey"; empty when the body holds no <Error>
  std::string message;  // "The specified key does not exist."
};
ErrorBody parse_error(std::string_view xml);

// Resolves &amp; &lt; &gt; &quot; &apos; and numeric references (&#38; &#x26;).
Result<std::string> unescape(std::string_view text);

}  // namespace deskaudit::storage::s3xml

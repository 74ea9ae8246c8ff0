#pragma once
// Internal to the catalog: opaque keyset page tokens. A token carries the
// sort key of the last row of a page, tagged with the list it belongs to so a
// token from one list is rejected by another. Format (not a contract):
// "<kind>.<base64url(field)>.<base64url(field)>...".
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace deskaudit::catalog {

std::string encode_page_token(std::string_view kind, std::initializer_list<std::string_view> fields);
// invalid_argument unless `token` is a well-formed token of `kind` with
// exactly `field_count` fields.
Result<std::vector<std::string>> decode_page_token(std::string_view token, std::string_view kind,
                                                   std::size_t field_count);
// A decimal int64 field; invalid_argument otherwise.
Result<std::int64_t> page_token_int(std::string_view field);

}  // namespace deskaudit::catalog

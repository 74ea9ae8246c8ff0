#pragma once
// Internal to the catalog (and its test fake): list paging with opaque keyset
// page tokens. A token carries the sort key of the last row of a page, tagged
// with the list it belongs to so a token from one list is rejected by another.
// Format (not a contract):
// "<kind>.<base64url(field)>.<base64url(field)>...".
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "catalog/types.hpp"
#include "common/error.hpp"

namespace deskaudit::catalog {

std::string encode_page_token(std::string_view kind, std::initializer_list<std::string_view> fields);
// invalid_argument unless `token` is a well-formed token of `kind` with
// exactly `field_count` fields.
Result<std::vector<std::string>> decode_page_token(std::string_view token, std::string_view kind,
                                                   std::size_t field_count);
// A decimal int64 field; invalid_argument otherwise.
Result<std::int64_t> page_token_int(std::string_view field);

// Page sizes outside 1..500 are clamped rather than refused.
inline int clamp_limit(int limit) { return std::clamp(limit, 1, 500); }

// Lists fetch limit + 1 rows: the extra row only says that a next page exists.
template <class T, class TokenOf>
PageOf<T> make_page(std::vector<T> items, int limit, TokenOf token_of) {
  PageOf<T> page;
  if (items.size() > static_cast<std::size_t>(limit)) {
    items.resize(static_cast<std::size_t>(limit));
    page.next_token = token_of(items.back());
  }
  page.items = std::move(items);
  return page;
}

}  // namespace deskaudit::catalog

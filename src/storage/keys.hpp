#pragma once
// Key rules shared by the object-store backends (validate_key() itself is
// declared in object_store.hpp).
#include <string_view>

#include "common/error.hpp"

namespace deskaudit::storage {

// A list() prefix: empty, or the start of a valid key. It may end with '/'
// or inside a component ("rec-abc/seg-00"), but has the key charset, no
// leading '/', and no empty, "." or ".." component before its last '/'.
Status validate_prefix(std::string_view prefix);

}  // namespace deskaudit::storage

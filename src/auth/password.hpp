#pragma once
// Administrator passwords: argon2id (libsodium crypto_pwhash_str, interactive
// limits) and the rules a new password must meet. Thread-safe. Never log the
// password or the hash.
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace deskaudit::auth {

Result<std::string> hash_password(std::string_view password);
bool verify_password(std::string_view password, std::string_view hash);

// 10..1024 characters, at least 3 distinct characters, not containing the
// user name. unprocessable with field "password" and the rule broken.
Status check_password_rules(std::string_view username, std::string_view password);

// A generated password that meets the rules (24 URL-safe characters).
std::string generate_password();

}  // namespace deskaudit::auth

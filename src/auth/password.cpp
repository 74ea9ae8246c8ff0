#include "auth/password.hpp"

#include <algorithm>
#include <set>

#include <sodium.h>

#include "common/crypto.hpp"

namespace deskaudit::auth {

Result<std::string> hash_password(std::string_view password) {
  char out[crypto_pwhash_STRBYTES];
  (void)random_id("");  // ensures sodium_init() ran
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                            crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return fail(Errc::internal, "password hashing ran out of memory");
  }
  return std::string(out);
}

bool verify_password(std::string_view password, std::string_view hash) {
  if (hash.empty() || hash.size() >= crypto_pwhash_STRBYTES) return false;
  const std::string h(hash);  // needs NUL termination
  return crypto_pwhash_str_verify(h.c_str(), password.data(), password.size()) == 0;
}

Status check_password_rules(std::string_view username, std::string_view password) {
  if (password.size() < 10) return fail(Errc::unprocessable, "password must have at least 10 characters", "password");
  if (password.size() > 1024) return fail(Errc::unprocessable, "password must have at most 1024 characters", "password");
  if (std::set<char>(password.begin(), password.end()).size() < 3) {
    return fail(Errc::unprocessable, "password must use at least 3 different characters", "password");
  }
  if (!username.empty()) {
    std::string lower_pw(password), lower_user(username);
    std::ranges::transform(lower_pw, lower_pw.begin(), ::tolower);
    std::ranges::transform(lower_user, lower_user.begin(), ::tolower);
    if (lower_pw.find(lower_user) != std::string::npos) {
      return fail(Errc::unprocessable, "password must not contain the user name", "password");
    }
  }
  return {};
}

std::string generate_password() { return random_token("").substr(0, 24); }

}  // namespace deskaudit::auth

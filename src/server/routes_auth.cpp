// Sign-in, sign-out, the caller's identity and password change.
#include <algorithm>

#include "auth/password.hpp"
#include "common/crypto.hpp"
#include "server/services.hpp"
#include "server/views.hpp"

namespace deskaudit::server {
namespace {

constexpr int kMaxFailures = 5;                 // before the account locks
constexpr std::int64_t kLockBaseMs = 30'000;    // first lock; doubles per further failure
constexpr std::int64_t kLockMaxMs = 15 * 60'000;

std::string cookie(std::string_view name, const std::string& value, std::int64_t max_age_s, bool http_only) {
  std::string c = std::string(name) + "=" + value + "; Path=/; SameSite=Strict; Max-Age=" + std::to_string(max_age_s);
  if (http_only) c += "; HttpOnly";
  return c;
}

Json me_json(const catalog::User& user, const auth::Grants& grants) {
  return {{"user", {{"id", user.id}, {"username", user.username}}}, {"permissions", grants.names()}};
}

Status login(Services& s, Context& ctx) {
  auto body = ctx.json_body();
  if (!body) return std::unexpected(body.error());
  auto username = get_string(*body, "username");
  if (!username) return std::unexpected(username.error());
  auto password = get_string(*body, "password");
  if (!password) return std::unexpected(password.error());
  const auto now = s.now();
  auto user = s.catalog->find_user(*username);
  if (!user) {
    if (user.error().code != Errc::not_found) return std::unexpected(user.error());
    // Same work as a real check, so timing does not reveal which names exist.
    (void)auth::verify_password(*password, "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$"
                                           "0dBUfrgsnw3NuU8Jc4DF3bjQIb1QnNrrUjBzzZ7lnYs");
    s.audit_as(*username, "auth.login_failed", *username, {{"reason", "unknown user"}});
    return fail(Errc::unauthenticated, "wrong user name or password");
  }
  if (user->locked_until > now) {
    ctx.res.set_header("Retry-After", std::to_string((user->locked_until - now + 999) / 1000));
    s.audit_as(user->username, "auth.login_failed", user->id, {{"reason", "locked"}});
    Error e{Errc::unauthenticated, "too many failed sign-ins; try again in " +
                                      std::to_string((user->locked_until - now + 999) / 1000) + " s"};
    write_error(ctx.res, e);
    ctx.res.status = 429;
    return {};
  }
  if (user->disabled || !auth::verify_password(*password, user->password_hash)) {
    user->failed_logins += 1;
    if (user->failed_logins >= kMaxFailures) {
      const auto shift = std::min<std::int64_t>(user->failed_logins - kMaxFailures, 10);
      user->locked_until = now + std::min(kLockMaxMs, kLockBaseMs << shift);
    }
    (void)s.catalog->update_user(*user);
    s.audit_as(user->username, "auth.login_failed", user->id,
               {{"reason", user->disabled ? "disabled" : "wrong password"}, {"failures", user->failed_logins}});
    return fail(Errc::unauthenticated, "wrong user name or password");
  }
  if (user->failed_logins != 0 || user->locked_until != 0) {
    user->failed_logins = 0;
    user->locked_until = 0;
    (void)s.catalog->update_user(*user);
  }
  catalog::ApiToken t;
  const auto secret = random_token(kSessionPrefix);
  t.id = random_id("ses-");
  t.user_id = user->id;
  t.kind = catalog::TokenKind::session;
  t.name = "console session";
  t.token_sha256 = sha256_hex(secret);
  t.created_at = now;
  t.expires_at = now + s.config.session_ttl_ms;
  if (auto st = s.catalog->create_token(t); !st) return st;
  auto grants = load_grants(*s.catalog, user->id);
  if (!grants) return std::unexpected(grants.error());
  const auto max_age = s.config.session_ttl_ms / 1000;
  ctx.res.set_header("Set-Cookie", cookie(kSessionCookie, secret, max_age, true));
  ctx.res.headers.emplace("Set-Cookie", cookie(kCsrfCookie, csrf_for(secret), max_age, false));
  ctx.res.set_header("Cache-Control", "no-store");
  Json out = me_json(*user, *grants);
  out["token"] = secret;
  out["expires_at"] = format_rfc3339(*t.expires_at);
  out["csrf_token"] = csrf_for(secret);
  s.audit_as(user->username, "auth.login", user->id);
  ctx.reply(out);
  return {};
}

}  // namespace

void add_auth_routes(std::vector<Route>& routes, Services& s) {
  routes.push_back({"POST", "/api/v1/auth/login", Access::open(), [&s](Context& ctx) { return login(s, ctx); }, false,
                    "Sign in with user name and password; returns a bearer token and sets the console cookie"});
  routes.push_back({"POST", "/api/v1/auth/logout", Access::signed_in(),
                    [&s](Context& ctx) -> Status {
                      if (auto st = s.catalog->revoke_token(ctx.principal.token_id); !st) return st;
                      ctx.res.set_header("Set-Cookie", cookie(kSessionCookie, "", 0, true));
                      ctx.res.headers.emplace("Set-Cookie", cookie(kCsrfCookie, "", 0, false));
                      s.audit(ctx.principal, "auth.logout", ctx.principal.user_id);
                      ctx.reply_empty();
                      return {};
                    },
                    false, "Sign out: revokes the token used"});
  routes.push_back({"GET", "/api/v1/auth/me", Access::signed_in(),
                    [&s](Context& ctx) -> Status {
                      auto user = s.catalog->get_user(ctx.principal.user_id);
                      if (!user) return std::unexpected(user.error());
                      ctx.reply(me_json(*user, ctx.principal.grants));
                      return {};
                    },
                    false, "The signed-in administrator and their permissions"});
  routes.push_back({"POST", "/api/v1/auth/password", Access::signed_in(),
                    [&s](Context& ctx) -> Status {
                      auto body = ctx.json_body();
                      if (!body) return std::unexpected(body.error());
                      auto current = get_string(*body, "current_password");
                      if (!current) return std::unexpected(current.error());
                      auto next = get_string(*body, "new_password");
                      if (!next) return std::unexpected(next.error());
                      auto user = s.catalog->get_user(ctx.principal.user_id);
                      if (!user) return std::unexpected(user.error());
                      if (!auth::verify_password(*current, user->password_hash)) {
                        return fail(Errc::permission_denied, "the current password is wrong", "current_password");
                      }
                      if (auto st = auth::check_password_rules(user->username, *next); !st) return st;
                      auto hash = auth::hash_password(*next);
                      if (!hash) return std::unexpected(hash.error());
                      user->password_hash = *hash;
                      user->password_changed_at = s.now();
                      if (auto st = s.catalog->update_user(*user); !st) return st;
                      s.audit(ctx.principal, "user.password", user->id);
                      ctx.reply_empty();
                      return {};
                    },
                    false, "Change one's own password"});
}

}  // namespace deskaudit::server

// Sign-in, sign-out, the caller's identity and password change.
#include <filesystem>

#include <spdlog/spdlog.h>

#include "auth/password.hpp"
#include "common/crypto.hpp"
#include "common/text.hpp"
#include "common/rate_limit.hpp"
#include "server/services.hpp"
#include "server/views.hpp"

namespace deskaudit::server {
namespace {

constexpr catalog::LockoutRule kLockout{};  // 5 failures, then 30 s doubling up to 15 min
// A password longer than any rule allows is refused without hashing it.
constexpr std::size_t kMaxPasswordBytes = 4096;

std::string cookie(std::string_view name, const std::string& value, std::int64_t max_age_s, bool http_only) {
  std::string c = std::string(name) + "=" + value + "; Path=/; SameSite=Strict; Max-Age=" + std::to_string(max_age_s);
  if (http_only) c += "; HttpOnly";
  return c;
}

Json me_json(const catalog::User& user, const auth::Grants& grants) {
  // Routes that need a grant without a scope (users, roles, the audit log)
  // are offered only to those who hold it so.
  Json unscoped = Json::array();
  for (const auto& p : grants.names()) {
    if (grants.everywhere(p)) unscoped.push_back(p);
  }
  return {{"user", {{"id", user.id}, {"username", user.username}}},
          {"permissions", grants.names()},
          {"unscoped_permissions", unscoped},
          {"must_change_password", user.must_change_password}};
}

// Counts a failed sign-in against the client address and answers 401 with
// the same words whatever went wrong.
Status refuse_login(Services& s, const Context& ctx, std::string_view actor, std::string_view target, Json details) {
  s.login_throttle->add(ctx.req.remote_addr, s.now());
  details["address"] = ctx.req.remote_addr;
  s.audit_as(std::string(actor), "auth.login_failed", std::string(target), details);
  return fail(Errc::unauthenticated, "wrong user name or password");
}

Status login(Services& s, Context& ctx) {
  const auto now = s.now();
  // Per address, before any work: one address guessing at many accounts
  // never reaches a per-account lockout.
  if (const auto wait = s.login_throttle->retry_after_ms(ctx.req.remote_addr, now); wait > 0) {
    spdlog::warn("sign-in throttled for address {}", ctx.req.remote_addr);
    return retry_later(wait, "too many failed sign-ins from this address");
  }
  auto body = ctx.json_body();
  if (!body) return std::unexpected(body.error());
  auto username = get_string(*body, "username");
  if (!username) return std::unexpected(username.error());
  auto password = get_string(*body, "password");
  if (!password) return std::unexpected(password.error());
  auto mode = get_string(*body, "session", false);
  if (!mode) return std::unexpected(mode.error());
  if (!mode->empty() && *mode != "cookie" && *mode != "bearer") {
    return fail(Errc::unprocessable, "session must be \"cookie\" (the console) or \"bearer\" (the default)", "session");
  }
  const bool use_cookie = *mode == "cookie";
  // No name longer than any stored one reaches the catalog or the audit log.
  if (username->size() > kMaxUserNameBytes || !is_valid_utf8(*username) || password->size() > kMaxPasswordBytes) {
    const auto shown = utf8_truncate(*username, kMaxUserNameBytes);
    return refuse_login(s, ctx, shown, shown, {{"reason", "user name or password too long or not UTF-8"}});
  }
  auto user = s.catalog->find_user(*username);
  if (!user) {
    if (user.error().code != Errc::not_found) return std::unexpected(user.error());
    // Same work as a real check, so timing does not reveal which names exist.
    (void)auth::verify_password(*password,
                                "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$"
                                "0dBUfrgsnw3NuU8Jc4DF3bjQIb1QnNrrUjBzzZ7lnYs");
    return refuse_login(s, ctx, *username, *username, {{"reason", "unknown user"}});
  }
  if (user->locked_until > now) {
    s.login_throttle->add(ctx.req.remote_addr, now);
    s.audit_as(user->username, "auth.login_failed", user->id, {{"reason", "locked"}, {"address", ctx.req.remote_addr}});
    return retry_later(user->locked_until - now, "too many failed sign-ins for this account");
  }
  if (user->disabled || !auth::verify_password(*password, user->password_hash)) {
    // Only the lockout columns, counted in the database: parallel guesses
    // all count, and a disable or reset done meanwhile stays.
    auto failures = s.catalog->note_failed_login(user->id, now, kLockout);
    if (!failures) return std::unexpected(failures.error());
    return refuse_login(
        s, ctx, user->username, user->id,
        {{"reason", user->disabled ? "disabled" : "wrong password"}, {"failures", failures->failed_logins}});
  }
  if (user->failed_logins != 0 || user->locked_until != 0) {
    if (auto st = s.catalog->clear_failed_logins(user->id); !st) return st;
  }
  catalog::ApiToken t;
  const auto secret = random_token(kSessionPrefix);
  t.id = random_id("ses-");
  t.user_id = user->id;
  t.kind = catalog::TokenKind::session;
  t.name = use_cookie ? "console session" : "bearer session";
  t.token_sha256 = sha256_hex(secret);
  t.created_at = now;
  t.expires_at = now + s.config.session_ttl_ms;
  if (auto st = s.catalog->create_token(t); !st) return st;
  auto grants = load_grants(*s.catalog, user->id);
  if (!grants) return std::unexpected(grants.error());
  ctx.res.set_header("Cache-Control", "no-store");
  Json out = me_json(*user, *grants);
  out["expires_at"] = format_rfc3339(*t.expires_at);
  if (use_cookie) {
    // The secret stays in the HttpOnly cookie: page scripts never see it.
    const auto max_age = s.config.session_ttl_ms / 1000;
    ctx.res.set_header("Set-Cookie", cookie(kSessionCookie, secret, max_age, true));
    ctx.res.headers.emplace("Set-Cookie", cookie(kCsrfCookie, csrf_for(secret), max_age, false));
    out["csrf_token"] = csrf_for(secret);
  } else {
    out["token"] = secret;
  }
  s.audit_as(user->username, "auth.login", user->id, {{"session", use_cookie ? "cookie" : "bearer"}});
  ctx.reply(out);
  return {};
}

Status change_password(Services& s, Context& ctx) {
  auto body = ctx.json_body();
  if (!body) return std::unexpected(body.error());
  auto current = get_string(*body, "current_password");
  if (!current) return std::unexpected(current.error());
  auto next = get_string(*body, "new_password");
  if (!next) return std::unexpected(next.error());
  auto user = s.catalog->get_user(ctx.principal.user_id);
  if (!user) return std::unexpected(user.error());
  if (current->size() > kMaxPasswordBytes || !auth::verify_password(*current, user->password_hash)) {
    return fail(Errc::permission_denied, "the current password is wrong", "current_password");
  }
  if (auto st = auth::check_password_rules(user->username, *next); !st) return st;
  if (*next == *current)
    return fail(Errc::unprocessable, "the new password must differ from the current one", "new_password");
  auto hash = auth::hash_password(*next);
  if (!hash) return std::unexpected(hash.error());
  if (auto st = s.catalog->set_password(user->id, *hash, s.now(), false); !st) return st;
  // Whoever else holds a session of this user (a stolen cookie, a forgotten
  // browser) is signed out; the caller's own session and API tokens stay.
  auto revoked = s.catalog->revoke_user_tokens(user->id, catalog::TokenKind::session, ctx.principal.token_id);
  if (!revoked) return std::unexpected(revoked.error());
  if (user->must_change_password) {
    // The generated first password is no longer valid: its file can go.
    std::error_code ec;
    std::filesystem::remove(s.config.data_dir / kFirstPasswordFile, ec);
  }
  s.audit(ctx.principal, "user.password", user->id,
          {{"sessions_revoked", *revoked}, {"was_required", user->must_change_password}});
  ctx.reply_empty();
  return {};
}

}  // namespace

bool allowed_before_password_change(const Route& route) {
  return (route.method == "POST" && route.pattern == "/api/v1/auth/password") ||
         (route.method == "POST" && route.pattern == "/api/v1/auth/logout") ||
         (route.method == "GET" && route.pattern == "/api/v1/auth/me");
}

void add_auth_routes(std::vector<Route>& routes, Services& s) {
  s.login_throttle = std::make_unique<RateLimiter>(s.config.login_failures_per_address, 15 * 60'000);
  routes.push_back({"POST", "/api/v1/auth/login", Access::open(), [&s](Context& ctx) { return login(s, ctx); }, false,
                    "Sign in with user name and password: a bearer token, or with session \"cookie\" the console's "
                    "HttpOnly cookie"});
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
                    [&s](Context& ctx) { return change_password(s, ctx); }, false,
                    "Change one's own password; signs out the user's other sessions"});
}

}  // namespace deskaudit::server

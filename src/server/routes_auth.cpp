// Sign-in, sign-out, the caller's identity and password change: handlers
// over service::AccessService. The per-address sign-in throttle and the
// cookies are HTTP matters and stay here.
#include <spdlog/spdlog.h>

#include "server/rate_limit.hpp"
#include "server/services.hpp"
#include "server/views.hpp"

namespace deskaudit::server {
namespace {

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

Status login(Services& s, Context& ctx) {
  const auto& address = ctx.req.remote_addr;
  // Per address, before any work: one address guessing at many accounts
  // never reaches a per-account lockout.
  if (const auto wait = s.login_throttle->retry_after_ms(address, s.now()); wait > 0) {
    spdlog::warn("sign-in throttled for address {}", address);
    return retry_later(ctx, wait, "too many failed sign-ins from this address");
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
  auto signed_in = s.access_service->sign_in(
      {*username, *password, use_cookie ? service::SessionKind::cookie : service::SessionKind::bearer, address});
  if (!signed_in) {
    const auto& refusal = signed_in.error();
    const auto code = refusal.error.code;
    // Every refusal (a wrong guess, a locked account) counts against the address.
    if (code == Errc::unauthenticated || code == Errc::too_many_requests) s.login_throttle->add(address, s.now());
    if (code == Errc::too_many_requests) return retry_later(ctx, refusal.retry_after_ms, refusal.error.message);
    return std::unexpected(refusal.error);
  }
  const auto& session = signed_in->session;
  ctx.res.set_header("Cache-Control", "no-store");
  Json out = me_json(signed_in->user, signed_in->grants);
  out["expires_at"] = format_rfc3339(*session.token.expires_at);
  if (use_cookie) {
    // The secret stays in the HttpOnly cookie: page scripts never see it.
    const auto max_age = s.config.session_ttl_ms / 1000;
    ctx.res.set_header("Set-Cookie", cookie(kSessionCookie, session.secret, max_age, true));
    ctx.res.headers.emplace("Set-Cookie", cookie(kCsrfCookie, csrf_for(session.secret), max_age, false));
    out["csrf_token"] = csrf_for(session.secret);
  } else {
    out["token"] = session.secret;
  }
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
  if (auto st = s.access_service->change_password(caller_of(ctx.principal), *current, *next, ctx.principal.token_id);
      !st) {
    return st;
  }
  ctx.reply_empty();
  return {};
}

Status logout(Services& s, Context& ctx) {
  if (auto st = s.access_service->sign_out(caller_of(ctx.principal), ctx.principal.token_id); !st) return st;
  ctx.res.set_header("Set-Cookie", cookie(kSessionCookie, "", 0, true));
  ctx.res.headers.emplace("Set-Cookie", cookie(kCsrfCookie, "", 0, false));
  ctx.reply_empty();
  return {};
}

Status me(Services& s, Context& ctx) {
  auto user = s.access_service->current_user(caller_of(ctx.principal));
  if (!user) return std::unexpected(user.error());
  ctx.reply(me_json(*user, ctx.principal.grants));
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
  routes.push_back({"POST", "/api/v1/auth/logout", Access::signed_in(), [&s](Context& ctx) { return logout(s, ctx); },
                    false, "Sign out: revokes the token used"});
  routes.push_back({"GET", "/api/v1/auth/me", Access::signed_in(), [&s](Context& ctx) { return me(s, ctx); }, false,
                    "The signed-in administrator and their permissions"});
  routes.push_back({"POST", "/api/v1/auth/password", Access::signed_in(),
                    [&s](Context& ctx) { return change_password(s, ctx); }, false,
                    "Change one's own password; signs out the user's other sessions"});
}

}  // namespace deskaudit::server

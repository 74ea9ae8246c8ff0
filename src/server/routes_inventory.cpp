// Cloud computers, computer pools, enrollment tokens, and the "why are this
// computer's recordings missing?" checklist.
#include "common/crypto.hpp"
#include "server/access.hpp"
#include "server/services.hpp"
#include "server/views.hpp"
#include "server/watchdog.hpp"

namespace deskaudit::server {
namespace {

using namespace catalog;

constexpr std::string_view kMinAgentVersion = "0.1.0";

// A computer the caller may see with `permission`; not_found otherwise, so
// nothing about computers outside a scoped grant leaks.
Result<Computer> visible_computer(Services& s, const Context& ctx, std::string_view id, std::string_view permission) {
  auto c = s.catalog->get_computer(id);
  if (!c) return std::unexpected(c.error());
  if (!ctx.principal.grants.allows(permission, c->id, c->pool_id)) {
    return fail(Errc::not_found, "no computer " + std::string(id));
  }
  return c;
}

Result<Json> computer_json(Services& s, const Computer& c) {
  Json j = to_json(c, s.now(), s.config.agent_offline_after_ms);
  auto eff = s.catalog->effective_policy(c.id);
  if (!eff) return std::unexpected(eff.error());
  j["effective_policy"] = {{"source", std::string(to_string(eff->source))},
                           {"policy_id", eff->policy ? Json(eff->policy->id) : Json(nullptr)},
                           {"policy_name", eff->policy ? Json(eff->policy->name) : Json(nullptr)},
                           {"mode", eff->policy ? Json(std::string(to_string(eff->policy->recording.mode))) : Json("off")}};
  return j;
}

Status reply_computers(Services& s, Context& ctx, ComputerFilter filter) {
  auto page = page_from(ctx);
  if (!page) return std::unexpected(page.error());
  filter.scope = ctx.principal.grants.scope(auth::perm::inventory_read);
  auto list = s.catalog->list_computers(filter, *page);
  if (!list) return std::unexpected(list.error());
  Json items = Json::array();
  for (const auto& c : list->items) {
    auto j = computer_json(s, c);
    if (!j) return std::unexpected(j.error());
    items.push_back(*j);
  }
  ctx.reply(page_json(items, list->next_token));
  return {};
}

Result<std::optional<std::string>> pool_field(Services& s, const Json& body) {
  auto pool = get_string(body, "pool_id", false);
  if (!pool) return std::unexpected(pool.error());
  if (pool->empty()) return std::optional<std::string>{};
  if (auto p = s.catalog->get_pool(*pool); !p) {
    if (p.error().code == Errc::not_found) return fail(Errc::unprocessable, "pool " + *pool + " does not exist", "pool_id");
    return std::unexpected(p.error());
  }
  return std::optional<std::string>{*pool};
}

// A pool named in a body: one the caller cannot see is reported like one
// that does not exist.
Status body_pool_reachable(const Context& ctx, const std::optional<std::string>& pool) {
  return access::pool_reachable(ctx, pool, auth::perm::inventory_write, auth::perm::inventory_read,
                                Error{Errc::unprocessable, "pool " + pool.value_or("") + " does not exist", "pool_id"});
}

// Moving a computer changes what both pools hold (and which policy records
// it): the caller must reach the pool it leaves as well as the one it joins.
Status may_move_out(const Context& ctx, const Computer& c) {
  return access::pool_reachable(
      ctx, c.pool_id, auth::perm::inventory_write, auth::perm::inventory_write,
      Error{Errc::permission_denied, "computer " + c.id + " is in a pool outside your inventory:write scope"});
}

// Enrollment tokens are seen and revoked by who may enroll into their pool;
// a token without a pool only by an unscoped inventory:write grant.
bool token_in_scope(const Context& ctx, const EnrollmentToken& t) {
  const auto& g = ctx.principal.grants;
  return t.pool_id ? g.covers_pool(auth::perm::inventory_write, *t.pool_id) : g.everywhere(auth::perm::inventory_write);
}

bool version_at_least(std::string_view have, std::string_view want) {
  auto parts = [](std::string_view v) {
    std::array<int, 3> out{0, 0, 0};
    for (std::size_t i = 0, pos = 0; i < 3 && pos <= v.size(); ++i) {
      auto dot = v.find('.', pos);
      auto part = v.substr(pos, dot == std::string_view::npos ? std::string_view::npos : dot - pos);
      int n = 0;
      for (char ch : part) {
        if (ch < '0' || ch > '9') break;
        n = n * 10 + (ch - '0');
      }
      out[i] = n;
      if (dot == std::string_view::npos) break;
      pos = dot + 1;
    }
    return out;
  };
  return parts(have) >= parts(want);
}

Status recording_status(Services& s, Context& ctx) {
  auto c = visible_computer(s, ctx, ctx.param(1), auth::perm::inventory_read);
  if (!c) return std::unexpected(c.error());
  const auto now = s.now();
  const auto& a = c->agent;
  Json checks = Json::array();
  auto add = [&](std::string id, std::string label, bool ok, std::string detail) {
    checks.push_back({{"id", std::move(id)}, {"label", std::move(label)}, {"ok", ok}, {"detail", std::move(detail)}});
  };
  add("enrolled", "Agent enrolled", c->enrolled,
      c->enrolled ? "the agent holds a credential for this computer"
                  : "no agent has enrolled: create an enrollment token and run deskaudit-agent on the computer");
  const bool online = a.last_seen_at > 0 && now - a.last_seen_at <= s.config.agent_offline_after_ms;
  add("agent_online", "Agent reporting", online,
      a.last_seen_at == 0 ? "the agent has never sent a heartbeat"
      : online            ? "last heartbeat " + format_rfc3339(a.last_seen_at)
                          : "no heartbeat since " + format_rfc3339(a.last_seen_at) + ": is the agent running and can it reach the server?");
  const bool version_ok = !a.agent_version.empty() && version_at_least(a.agent_version, kMinAgentVersion);
  add("agent_version", "Agent version supported", version_ok,
      a.agent_version.empty() ? "unknown: no heartbeat yet"
      : version_ok ? "version " + a.agent_version
                   : "version " + a.agent_version + " is older than " + std::string(kMinAgentVersion) + ": upgrade the agent");
  const bool os_ok = c->os.empty() || c->os.find("Linux") != std::string::npos || c->os.find("linux") != std::string::npos;
  add("os", "Operating system supported", os_ok && !c->os.empty(),
      c->os.empty() ? "unknown: the agent has not reported it" : os_ok ? c->os : c->os + " is not supported yet (Linux/X11 only)");
  Json capture = Json::parse(a.capture_json, nullptr, false);
  const bool capture_ok = capture.is_object() && capture.value("ok", false);
  std::string capture_detail = "the agent has not reported its screen capture";
  if (capture.is_object()) {
    capture_detail = capture_ok ? capture.value("backend", std::string("capture")) + " " +
                                      std::to_string(capture.value("width", 0)) + "x" + std::to_string(capture.value("height", 0))
                                : "capture fails: " + capture.value("error", std::string("unknown error"));
  }
  add("capture", "Screen capture works", capture_ok, capture_detail);
  auto eff = s.catalog->effective_policy(c->id);
  if (!eff) return std::unexpected(eff.error());
  const bool records = eff->policy && eff->policy->recording.mode != RecordingMode::off;
  std::string policy_detail = "no policy is assigned to this computer or its pool";
  if (eff->policy) {
    policy_detail = "policy \"" + eff->policy->name + "\" (from the " + std::string(to_string(eff->source)) +
                    ") records: " + std::string(to_string(eff->policy->recording.mode));
    if (eff->policy->recording.mode == RecordingMode::period) {
      policy_detail += " " + eff->policy->recording.period_start + "-" + eff->policy->recording.period_end;
    }
    if (!records) policy_detail = "policy \"" + eff->policy->name + "\" has recording off";
  }
  add("policy", "Policy in force records", records, policy_detail);
  const EpochMs applied = eff->policy ? eff->policy->updated_at : 0;
  const bool session_ok = a.last_session_at > 0 && a.last_session_at >= applied;
  add("session", "A user connected since the policy applied", session_ok,
      a.last_session_at == 0 ? "no user session has started on this computer"
      : session_ok ? "last session started " + format_rfc3339(a.last_session_at)
                   : "last session started " + format_rfc3339(a.last_session_at) + ", before the policy changed at " +
                         format_rfc3339(applied));
  const bool upload_ok = a.last_upload_error.empty() && a.last_error.empty();
  std::string upload_detail = a.last_upload_at > 0 ? "last upload " + format_rfc3339(a.last_upload_at) : "nothing uploaded yet";
  if (!a.last_upload_error.empty()) upload_detail += "; last upload error: " + a.last_upload_error;
  if (!a.last_error.empty()) upload_detail += "; agent error: " + a.last_error;
  if (a.spool_bytes > 0) upload_detail += "; " + std::to_string(a.spool_bytes) + " bytes waiting in the spool";
  add("upload", "Uploads succeed", upload_ok, upload_detail);
  // Stored bytes are the agent's (sanitised at the heartbeat): read them
  // without trusting their shape.
  const Json aside = Json::parse(a.set_aside_json, nullptr, false);
  const auto field = [](const Json& j, const char* key) -> const Json& {
    static const Json none;
    if (!j.is_object()) return none;
    const auto it = j.find(key);
    return it == j.end() ? none : *it;
  };
  const Json& count = field(aside, "count");
  const std::int64_t aside_count = count.is_number_integer() ? count.get<std::int64_t>() : 0;
  std::string aside_detail = "none: the agent has set no recording aside";
  if (aside_count > 0) {
    aside_detail = std::to_string(aside_count) +
                   " recording(s) refused by the server for good, kept on the computer "
                   "(deskaudit-agent spool list, then retry or delete)";
    const Json& items = field(aside, "items");
    for (const auto& item : items.is_array() ? items : Json::array()) {
      const Json &local = field(item, "local_id"), &rec = field(item, "recording_id"),
                 &status = field(item, "http_status"), &error = field(item, "error");
      aside_detail += "; " + (local.is_string() ? local.get<std::string>() : std::string("?"));
      if (rec.is_string()) aside_detail += " (" + rec.get<std::string>() + ")";
      if (status.is_number_integer()) aside_detail += " HTTP " + std::to_string(status.get<std::int64_t>());
      if (error.is_string()) aside_detail += ": " + error.get<std::string>();
    }
  }
  add("set_aside", "No recordings set aside by the agent", aside_count == 0, aside_detail);
  auto silent = silent_during_session(s, *c, *eff);
  if (!silent) return std::unexpected(silent.error());
  add("agent_silent", "Agent reporting during the session", !*silent,
      silent->value_or("no recorded session is missing heartbeats"));
  bool all_ok = true;
  for (const auto& ch : checks) all_ok = all_ok && ch["ok"].get<bool>();
  ctx.reply({{"computer_id", c->id}, {"ok", all_ok}, {"checks", checks}});
  return {};
}

}  // namespace

void add_inventory_routes(std::vector<Route>& routes, Services& s) {
  const auto read = Access::need(auth::perm::inventory_read);
  const auto write = Access::need(auth::perm::inventory_write);

  routes.push_back({"GET", "/api/v1/computers", read,
                    [&s](Context& ctx) -> Status {
                      ComputerFilter f;
                      f.pool_id = ctx.query("pool_id");
                      f.q = ctx.query("q");
                      return reply_computers(s, ctx, std::move(f));
                    },
                    false, "Cloud computers, filtered by pool_id and q"});
  routes.push_back({"POST", "/api/v1/computers", write,
                    [&s](Context& ctx) -> Status {
                      auto body = ctx.json_body();
                      if (!body) return std::unexpected(body.error());
                      Computer c;
                      auto name = get_name(*body, "name");
                      if (!name) return std::unexpected(name.error());
                      auto host = get_string(*body, "hostname", false);
                      if (!host) return std::unexpected(host.error());
                      auto os = get_string(*body, "os", false);
                      if (!os) return std::unexpected(os.error());
                      auto pool = pool_field(s, *body);
                      if (!pool) return std::unexpected(pool.error());
                      if (auto st = body_pool_reachable(ctx, *pool); !st) return st;
                      c.id = random_id("cc-");
                      c.name = *name;
                      c.hostname = *host;
                      c.os = *os;
                      c.pool_id = *pool;
                      c.created_at = s.now();
                      if (auto st = s.catalog->create_computer(c); !st) return st;
                      s.audit(ctx.principal, "computer.create", c.id, {{"name", c.name}});
                      auto j = computer_json(s, c);
                      if (!j) return std::unexpected(j.error());
                      ctx.reply(*j, 201);
                      return {};
                    },
                    false, "Register a computer (agents also register themselves by enrolling)"});
  routes.push_back({"GET", "/api/v1/computers/([^/]+)", read,
                    [&s](Context& ctx) -> Status {
                      auto c = visible_computer(s, ctx, ctx.param(1), auth::perm::inventory_read);
                      if (!c) return std::unexpected(c.error());
                      auto j = computer_json(s, *c);
                      if (!j) return std::unexpected(j.error());
                      ctx.reply(*j);
                      return {};
                    },
                    false, "One computer with its agent state"});
  routes.push_back({"PATCH", "/api/v1/computers/([^/]+)", write,
                    [&s](Context& ctx) -> Status {
                      auto body = ctx.json_body();
                      if (!body) return std::unexpected(body.error());
                      auto c = access::writable_computer(s, ctx, ctx.param(1));
                      if (!c) return std::unexpected(c.error());
                      std::optional<std::optional<std::string>> move_to;
                      if (body->contains("pool_id")) {
                        auto pool = pool_field(s, *body);
                        if (!pool) return std::unexpected(pool.error());
                        if (*pool != c->pool_id) {
                          if (auto st = may_move_out(ctx, *c); !st) return st;
                          if (auto st = body_pool_reachable(ctx, *pool); !st) return st;
                        }
                        move_to = *pool;
                      }
                      if (body->contains("name")) {
                        auto name = get_name(*body, "name");
                        if (!name) return std::unexpected(name.error());
                        c->name = *name;
                      }
                      if (auto st = s.catalog->update_computer(*c); !st) return st;
                      if (move_to) {
                        if (auto st = s.catalog->set_computer_pool(c->id, *move_to); !st) return st;
                        c->pool_id = *move_to;
                      }
                      s.audit(ctx.principal, "computer.update", c->id, *body);
                      auto j = computer_json(s, *c);
                      if (!j) return std::unexpected(j.error());
                      ctx.reply(*j);
                      return {};
                    },
                    false, "Rename a computer or move it to a pool"});
  routes.push_back({"DELETE", "/api/v1/computers/([^/]+)", write,
                    [&s](Context& ctx) -> Status {
                      auto c = access::writable_computer(s, ctx, ctx.param(1));
                      if (!c) return std::unexpected(c.error());
                      if (auto st = s.catalog->delete_computer(c->id); !st) return st;
                      s.audit(ctx.principal, "computer.delete", c->id, {{"name", c->name}});
                      ctx.reply_empty();
                      return {};
                    },
                    false, "Remove a computer and its agent credential; its recordings stay until expiry"});
  routes.push_back({"GET", "/api/v1/computers/([^/]+)/effective-policy", Access::need(auth::perm::policy_read),
                    [&s](Context& ctx) -> Status {
                      auto c = visible_computer(s, ctx, ctx.param(1), auth::perm::policy_read);
                      if (!c) return std::unexpected(c.error());
                      auto eff = s.catalog->effective_policy(c->id);
                      if (!eff) return std::unexpected(eff.error());
                      ctx.reply({{"computer_id", c->id},
                                 {"source", std::string(to_string(eff->source))},
                                 {"policy", eff->policy ? to_json(*eff->policy) : Json(nullptr)}});
                      return {};
                    },
                    false, "The policy in force and where it comes from"});
  routes.push_back({"GET", "/api/v1/computers/([^/]+)/recording-status", read,
                    [&s](Context& ctx) { return recording_status(s, ctx); }, false,
                    "Checklist: why are this computer's recordings missing?"});

  routes.push_back({"GET", "/api/v1/pools", read,
                    [&s](Context& ctx) -> Status {
                      auto page = page_from(ctx);
                      if (!page) return std::unexpected(page.error());
                      auto list = s.catalog->list_pools(ctx.query("q"), ctx.principal.grants.scope(auth::perm::inventory_read), *page);
                      if (!list) return std::unexpected(list.error());
                      Json items = Json::array();
                      for (const auto& p : list->items) items.push_back(to_json(p));
                      ctx.reply(page_json(items, list->next_token));
                      return {};
                    },
                    false, "Computer pools"});
  auto visible_pool = [&s](const Context& ctx, std::string_view id) -> Result<Pool> {
    auto p = s.catalog->get_pool(id);
    if (!p) return std::unexpected(p.error());
    auto scope = ctx.principal.grants.scope(auth::perm::inventory_read);
    if (scope && std::ranges::find(scope->pool_ids, p->id) == scope->pool_ids.end()) {
      return fail(Errc::not_found, "no pool " + std::string(id));
    }
    return p;
  };
  // A pool the caller may change: hidden ones answer 404, visible ones
  // outside the caller's inventory:write scope 403.
  auto writable_pool = [&s, visible_pool](const Context& ctx, std::string_view id) -> Result<Pool> {
    auto p = visible_pool(ctx, id);
    if (!p) return std::unexpected(p.error());
    if (!ctx.principal.grants.covers_pool(auth::perm::inventory_write, p->id)) {
      return fail(Errc::permission_denied, "pool " + p->id + " is outside your inventory:write scope");
    }
    return p;
  };
  // A new pool is outside every scoped grant (those name existing pools):
  // only an unscoped grant makes one.
  routes.push_back({"POST", "/api/v1/pools", Access::need_unscoped(auth::perm::inventory_write),
                    [&s](Context& ctx) -> Status {
                      auto body = ctx.json_body();
                      if (!body) return std::unexpected(body.error());
                      auto name = get_name(*body, "name");
                      if (!name) return std::unexpected(name.error());
                      auto desc = get_string(*body, "description", false);
                      if (!desc) return std::unexpected(desc.error());
                      Pool p{random_id("pool-"), *name, *desc, s.now()};
                      if (auto st = s.catalog->create_pool(p); !st) return st;
                      s.audit(ctx.principal, "pool.create", p.id, {{"name", p.name}});
                      ctx.reply(to_json(p), 201);
                      return {};
                    },
                    false, "Create a pool"});
  routes.push_back({"GET", "/api/v1/pools/([^/]+)", read,
                    [&s, visible_pool](Context& ctx) -> Status {
                      auto p = visible_pool(ctx, ctx.param(1));
                      if (!p) return std::unexpected(p.error());
                      ctx.reply(to_json(*p));
                      return {};
                    },
                    false, "One pool"});
  routes.push_back({"PATCH", "/api/v1/pools/([^/]+)", write,
                    [&s, writable_pool](Context& ctx) -> Status {
                      auto body = ctx.json_body();
                      if (!body) return std::unexpected(body.error());
                      auto p = writable_pool(ctx, ctx.param(1));
                      if (!p) return std::unexpected(p.error());
                      if (body->contains("name")) {
                        auto name = get_name(*body, "name");
                        if (!name) return std::unexpected(name.error());
                        p->name = *name;
                      }
                      if (body->contains("description")) {
                        auto d = get_string(*body, "description", false);
                        if (!d) return std::unexpected(d.error());
                        p->description = *d;
                      }
                      if (auto st = s.catalog->update_pool(*p); !st) return st;
                      s.audit(ctx.principal, "pool.update", p->id, *body);
                      ctx.reply(to_json(*p));
                      return {};
                    },
                    false, "Rename a pool"});
  routes.push_back({"DELETE", "/api/v1/pools/([^/]+)", write,
                    [&s, writable_pool](Context& ctx) -> Status {
                      auto p = writable_pool(ctx, ctx.param(1));
                      if (!p) return std::unexpected(p.error());
                      if (auto st = s.catalog->delete_pool(p->id); !st) return st;
                      s.audit(ctx.principal, "pool.delete", p->id, {{"name", p->name}});
                      ctx.reply_empty();
                      return {};
                    },
                    false, "Delete an empty pool"});
  routes.push_back({"GET", "/api/v1/pools/([^/]+)/computers", read,
                    [&s, visible_pool](Context& ctx) -> Status {
                      auto p = visible_pool(ctx, ctx.param(1));
                      if (!p) return std::unexpected(p.error());
                      ComputerFilter f;
                      f.pool_id = p->id;
                      f.q = ctx.query("q");
                      return reply_computers(s, ctx, std::move(f));
                    },
                    false, "The computers of a pool"});
  routes.push_back({"PUT", "/api/v1/pools/([^/]+)/computers/([^/]+)", write,
                    [&s, writable_pool](Context& ctx) -> Status {
                      // Both ends of the move: the computer (and the pool it
                      // leaves) and the pool it joins.
                      auto c = access::writable_computer(s, ctx, ctx.param(2));
                      if (!c) return std::unexpected(c.error());
                      auto p = writable_pool(ctx, ctx.param(1));
                      if (!p) return std::unexpected(p.error());
                      if (c->pool_id != p->id) {
                        if (auto st = may_move_out(ctx, *c); !st) return st;
                      }
                      if (auto st = s.catalog->set_computer_pool(c->id, p->id); !st) return st;
                      s.audit(ctx.principal, "pool.add_computer", p->id, {{"computer_id", ctx.param(2)}});
                      ctx.reply_empty();
                      return {};
                    },
                    false, "Put a computer into a pool (moving it out of any other)"});
  routes.push_back({"DELETE", "/api/v1/pools/([^/]+)/computers/([^/]+)", write,
                    [&s](Context& ctx) -> Status {
                      auto c = access::writable_computer(s, ctx, ctx.param(2));
                      if (!c) return std::unexpected(c.error());
                      if (c->pool_id != ctx.param(1)) {
                        return fail(Errc::not_found, "computer " + c->id + " is not in pool " + ctx.param(1));
                      }
                      // Out of every pool is outside every scoped grant.
                      if (auto st = may_move_out(ctx, *c); !st) return st;
                      if (auto st = body_pool_reachable(ctx, std::nullopt); !st) return st;
                      if (auto st = s.catalog->set_computer_pool(c->id, std::nullopt); !st) return st;
                      s.audit(ctx.principal, "pool.remove_computer", ctx.param(1), {{"computer_id", c->id}});
                      ctx.reply_empty();
                      return {};
                    },
                    false, "Take a computer out of a pool"});

  routes.push_back({"GET", "/api/v1/enrollment-tokens", write,
                    [&s](Context& ctx) -> Status {
                      auto page = page_from(ctx);
                      if (!page) return std::unexpected(page.error());
                      auto list = s.catalog->list_enrollment_tokens(*page);
                      if (!list) return std::unexpected(list.error());
                      Json items = Json::array();
                      // Filtered after paging: a page may hold fewer items
                      // than the limit, next_token still goes on.
                      for (const auto& t : list->items) {
                        if (token_in_scope(ctx, t)) items.push_back(to_json(t));
                      }
                      ctx.reply(page_json(items, list->next_token));
                      return {};
                    },
                    false, "Enrollment tokens (secrets are never shown again)"});
  routes.push_back({"POST", "/api/v1/enrollment-tokens", write,
                    [&s](Context& ctx) -> Status {
                      auto body = ctx.json_body();
                      if (!body) return std::unexpected(body.error());
                      EnrollmentToken t;
                      auto expires = get_time(*body, "expires_at");
                      if (!expires) return std::unexpected(expires.error());
                      if (*expires && **expires <= s.now()) {
                        return fail(Errc::unprocessable, "expires_at must be in the future", "expires_at");
                      }
                      auto uses = get_int(*body, "max_uses");
                      if (!uses) return std::unexpected(uses.error());
                      if (*uses && (**uses < 1 || **uses > 1'000'000)) {
                        return fail(Errc::unprocessable, "max_uses must be from 1 to 1000000", "max_uses");
                      }
                      auto pool = pool_field(s, *body);
                      if (!pool) return std::unexpected(pool.error());
                      if (auto st = body_pool_reachable(ctx, *pool); !st) return st;
                      const auto secret = random_token(kEnrollPrefix);
                      t.id = random_id("enr-");
                      t.token_sha256 = sha256_hex(secret);
                      t.pool_id = *pool;
                      t.expires_at = *expires;
                      t.max_uses = *uses;
                      t.created_by = ctx.principal.user_id;
                      t.created_at = s.now();
                      if (auto st = s.catalog->create_enrollment_token(t); !st) return st;
                      s.audit(ctx.principal, "enrollment_token.create", t.id, to_json(t));
                      Json out = to_json(t);
                      out["token"] = secret;
                      ctx.reply(out, 201);
                      return {};
                    },
                    false, "Create an enrollment token for agents (shown once)"});
  routes.push_back({"DELETE", "/api/v1/enrollment-tokens/([^/]+)", write,
                    [&s](Context& ctx) -> Status {
                      auto t = s.catalog->get_enrollment_token(ctx.param(1));
                      if (!t) return std::unexpected(t.error());
                      if (!token_in_scope(ctx, *t)) return fail(Errc::not_found, "no enrollment token " + t->id);
                      if (auto st = s.catalog->revoke_enrollment_token(t->id); !st) return st;
                      s.audit(ctx.principal, "enrollment_token.revoke", t->id);
                      ctx.reply_empty();
                      return {};
                    },
                    false, "Revoke an enrollment token"});
}

}  // namespace deskaudit::server

#include "service/inventory_service.hpp"

#include <algorithm>
#include <array>

#include "auth/permissions.hpp"
#include "common/crypto.hpp"
#include "common/text.hpp"
#include "service/agent_service.hpp"

namespace deskaudit::service {
namespace {

using namespace catalog;
using Json = nlohmann::json;

Json opt(const std::optional<std::string>& v) { return v ? Json(*v) : Json(nullptr); }

bool version_at_least(std::string_view have, std::string_view want) {
  auto parts = [](std::string_view v) {
    std::array<int, 3> out{0, 0, 0};
    for (std::size_t i = 0, pos = 0; i < 3 && pos <= v.size(); ++i) {
      auto dot = v.find('.', pos);
      auto part = v.substr(pos, dot == std::string_view::npos ? std::string_view::npos : dot - pos);
      int n = 0;
      for (char ch : part) {
        if (ch < '0' || ch > '9' || n > 100'000'000) break;
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

// Enrollment tokens are seen and revoked by who may enroll into their pool.
bool token_in_scope(const Caller& who, const EnrollmentToken& t) {
  const auto& g = who.grants;
  return t.pool_id ? g.covers_pool(auth::perm::inventory_write, *t.pool_id) : g.everywhere(auth::perm::inventory_write);
}

// May the caller put something into (or leave it in) `pool_id` with
// `permission`? No pool is "outside every pool", which only an unscoped
// grant reaches; a pool hidden from `read_permission` answers `hidden`.
Status pool_reachable(const Caller& who, const std::optional<std::string>& pool_id, std::string_view permission,
                      std::string_view read_permission, Error hidden) {
  const auto& g = who.grants;
  if (!pool_id) {
    if (g.everywhere(permission)) return {};
    return fail(Errc::permission_denied,
                "only an administrator holding " + std::string(permission) +
                    " without a scope may leave a computer or token outside every pool",
                "pool_id");
  }
  if (g.covers_pool(permission, *pool_id)) return {};
  if (!g.covers_pool(read_permission, *pool_id)) return std::unexpected(std::move(hidden));
  return fail(Errc::permission_denied, "pool " + *pool_id + " is outside your " + std::string(permission) + " scope",
              "pool_id");
}

// Moving a computer changes what both pools hold (and which policy records
// it): the caller must reach the pool it leaves as well as the one it joins.
Status may_move_out(const Caller& who, const Computer& c) {
  return pool_reachable(
      who, c.pool_id, auth::perm::inventory_write, auth::perm::inventory_write,
      Error{Errc::permission_denied, "computer " + c.id + " is in a pool outside your inventory:write scope"});
}

// The reported agent state, as the recording-status checklist reads it.
// Stored bytes are the agent's (sanitised at the heartbeat): read without
// trusting their shape.
const Json& field(const Json& j, const char* key) {
  static const Json none;
  if (!j.is_object()) return none;
  const auto it = j.find(key);
  return it == j.end() ? none : *it;
}

StatusCheck set_aside_check(const AgentState& a) {
  const Json aside = Json::parse(a.set_aside_json, nullptr, false);
  const Json& count = field(aside, "count");
  const std::int64_t aside_count = count.is_number_integer() ? count.get<std::int64_t>() : 0;
  std::string detail = "none: the agent has set no recording aside";
  if (aside_count > 0) {
    detail = std::to_string(aside_count) +
             " recording(s) refused by the server for good, kept on the computer "
             "(deskaudit-agent spool list, then retry or delete)";
    const Json& items = field(aside, "items");
    for (const auto& item : items.is_array() ? items : Json::array()) {
      const Json &local = field(item, "local_id"), &rec = field(item, "recording_id"),
                 &status = field(item, "http_status"), &error = field(item, "error");
      detail += "; " + (local.is_string() ? local.get<std::string>() : std::string("?"));
      if (rec.is_string()) detail += " (" + rec.get<std::string>() + ")";
      if (status.is_number_integer()) detail += " HTTP " + std::to_string(status.get<std::int64_t>());
      if (error.is_string()) detail += ": " + error.get<std::string>();
    }
  }
  return {"set_aside", "No recordings set aside by the agent", aside_count == 0, std::move(detail)};
}

StatusCheck capture_check(const AgentState& a) {
  const Json capture = Json::parse(a.capture_json, nullptr, false);
  const bool ok = capture.is_object() && capture.value("ok", false);
  std::string detail = "the agent has not reported its screen capture";
  if (capture.is_object()) {
    detail = ok ? capture.value("backend", std::string("capture")) + " " + std::to_string(capture.value("width", 0)) +
                      "x" + std::to_string(capture.value("height", 0))
                : "capture fails: " + capture.value("error", std::string("unknown error"));
  }
  return {"capture", "Screen capture works", ok, std::move(detail)};
}

// Whether the open session's sound is recorded when the policy asks for it,
// and if not why (the agent's heartbeat: session.audio).
StatusCheck audio_check(const AgentState& a, const EffectivePolicy& eff) {
  const auto check = [](bool ok, std::string detail) {
    return StatusCheck{"audio", "Sound recorded when the policy asks", ok, std::move(detail)};
  };
  if (!eff.policy || eff.policy->recording.mode == RecordingMode::off || !eff.policy->recording.audio) {
    return check(true, "the policy does not record sound");
  }
  const Json session = Json::parse(a.session_json, nullptr, false);
  if (!session.is_object()) return check(true, "no user session is open");
  const Json& audio = field(session, "audio");
  if (!audio.is_object()) {
    return check(false, "the agent does not report its audio (version " +
                            (a.agent_version.empty() ? std::string("unknown") : a.agent_version) +
                            "): upgrade it to record sound");
  }
  const Json &recording = field(audio, "recording"), &enabled = field(audio, "enabled"),
             &source = field(audio, "source"), &error = field(audio, "error");
  if (recording == true) {
    return check(true, "recording " + (source.is_string() ? source.get<std::string>() : std::string("sound")));
  }
  if (enabled != true) return check(true, "no recording is open in the session");
  if (error.is_string()) return check(false, "no sound: " + error.get<std::string>());
  return check(false, "no sound yet: the agent is connecting to the session's audio server" +
                          (source.is_string() ? " (" + source.get<std::string>() + ")" : std::string()));
}

StatusCheck policy_check(const EffectivePolicy& eff) {
  const bool records = eff.policy && eff.policy->recording.mode != RecordingMode::off;
  std::string detail = "no policy is assigned to this computer or its pool";
  if (eff.policy) {
    detail = "policy \"" + eff.policy->name + "\" (from the " + std::string(to_string(eff.source)) +
             ") records: " + std::string(to_string(eff.policy->recording.mode));
    if (eff.policy->recording.mode == RecordingMode::period) {
      detail += " " + eff.policy->recording.period_start + "-" + eff.policy->recording.period_end;
    }
    if (!records) detail = "policy \"" + eff.policy->name + "\" has recording off";
  }
  return {"policy", "Policy in force records", records, std::move(detail)};
}

}  // namespace

InventoryService::InventoryService(Catalog& catalog, AuditLog& audit, std::shared_ptr<const Clock> clock,
                                   InventorySettings settings)
    : catalog_(catalog), audit_(audit), clock_(std::move(clock)), settings_(settings) {}

Result<Computer> InventoryService::visible_computer(const Caller& who, std::string_view id,
                                                    std::string_view permission) {
  auto c = catalog_.get_computer(id);
  if (!c) return std::unexpected(c.error());
  if (!who.grants.allows(permission, c->id, c->pool_id)) return fail(Errc::not_found, "no computer " + std::string(id));
  return c;
}

Result<Computer> InventoryService::writable_computer(const Caller& who, std::string_view id) {
  auto c = visible_computer(who, id, auth::perm::inventory_read);
  if (!c) return c;
  if (!who.grants.allows(auth::perm::inventory_write, c->id, c->pool_id)) {
    return fail(Errc::permission_denied, "computer " + c->id + " is outside your inventory:write scope");
  }
  return c;
}

Result<Pool> InventoryService::visible_pool(const Caller& who, std::string_view id) {
  auto p = catalog_.get_pool(id);
  if (!p) return std::unexpected(p.error());
  if (!who.grants.covers_pool(auth::perm::inventory_read, p->id)) return fail(Errc::not_found, "no pool " + std::string(id));
  return p;
}

Result<Pool> InventoryService::writable_pool(const Caller& who, std::string_view id) {
  auto p = visible_pool(who, id);
  if (!p) return p;
  if (!who.grants.covers_pool(auth::perm::inventory_write, p->id)) {
    return fail(Errc::permission_denied, "pool " + p->id + " is outside your inventory:write scope");
  }
  return p;
}

// A pool named as a destination: it must exist, and one the caller cannot
// see is reported like one that does not exist.
Status InventoryService::destination_reachable(const Caller& who, const std::optional<std::string>& pool_id) {
  Error missing{Errc::unprocessable, "pool " + pool_id.value_or("") + " does not exist", "pool_id"};
  if (pool_id) {
    if (auto p = catalog_.get_pool(*pool_id); !p) {
      if (p.error().code == Errc::not_found) return std::unexpected(std::move(missing));
      return std::unexpected(p.error());
    }
  }
  return pool_reachable(who, pool_id, auth::perm::inventory_write, auth::perm::inventory_read, std::move(missing));
}

Result<ComputerView> InventoryService::with_policy(Computer computer) {
  auto eff = catalog_.effective_policy(computer.id);
  if (!eff) return std::unexpected(eff.error());
  return ComputerView{std::move(computer), std::move(*eff)};
}

Result<PageOf<ComputerView>> InventoryService::computers(const Caller& who, ComputerFilter filter, const Page& page) {
  filter.scope = who.grants.scope(auth::perm::inventory_read);
  auto list = catalog_.list_computers(filter, page);
  if (!list) return std::unexpected(list.error());
  PageOf<ComputerView> out;
  out.next_token = std::move(list->next_token);
  out.items.reserve(list->items.size());
  for (auto& c : list->items) {
    auto v = with_policy(std::move(c));
    if (!v) return std::unexpected(v.error());
    out.items.push_back(std::move(*v));
  }
  return out;
}

Result<PageOf<ComputerView>> InventoryService::list_computers(const Caller& who, ComputerFilter filter,
                                                             const Page& page) {
  return computers(who, std::move(filter), page);
}

Result<ComputerView> InventoryService::create_computer(const Caller& who, const NewComputer& in) {
  if (auto st = check_name(in.name, "name"); !st) return std::unexpected(st.error());
  if (in.hostname.size() > kMaxNameBytes || in.os.size() > kMaxNameBytes) {
    return fail(Errc::unprocessable, "hostname and os must each have at most 256 bytes",
                in.hostname.size() > kMaxNameBytes ? "hostname" : "os");
  }
  if (auto st = destination_reachable(who, in.pool_id); !st) return std::unexpected(st.error());
  Computer c;
  c.id = random_id("cc-");
  c.name = in.name;
  c.hostname = in.hostname;
  c.os = in.os;
  c.pool_id = in.pool_id;
  c.created_at = clock_->now_ms();
  if (auto st = catalog_.create_computer(c); !st) return std::unexpected(st.error());
  audit_.record(who, "computer.create", c.id, {{"name", c.name}});
  return with_policy(std::move(c));
}

Result<ComputerView> InventoryService::get_computer(const Caller& who, std::string_view id) {
  auto c = visible_computer(who, id, auth::perm::inventory_read);
  if (!c) return std::unexpected(c.error());
  return with_policy(std::move(*c));
}

Result<ComputerView> InventoryService::update_computer(const Caller& who, std::string_view id,
                                                       const ComputerChange& change) {
  auto c = writable_computer(who, id);
  if (!c) return std::unexpected(c.error());
  Json details = Json::object();
  if (change.pool_id) {
    const auto& to = *change.pool_id;
    if (to) {
      if (auto p = catalog_.get_pool(*to); !p) {
        if (p.error().code == Errc::not_found) return fail(Errc::unprocessable, "pool " + *to + " does not exist", "pool_id");
        return std::unexpected(p.error());
      }
    }
    if (to != c->pool_id) {
      if (auto st = may_move_out(who, *c); !st) return std::unexpected(st.error());
      if (auto st = destination_reachable(who, to); !st) return std::unexpected(st.error());
    }
    details["pool_id"] = opt(to);
  }
  if (change.name) {
    if (auto st = check_name(*change.name, "name"); !st) return std::unexpected(st.error());
    c->name = *change.name;
    details["name"] = c->name;
  }
  if (auto st = catalog_.update_computer(*c); !st) return std::unexpected(st.error());
  if (change.pool_id) {
    if (auto st = catalog_.set_computer_pool(c->id, *change.pool_id); !st) return std::unexpected(st.error());
    c->pool_id = *change.pool_id;
  }
  audit_.record(who, "computer.update", c->id, details);
  return with_policy(std::move(*c));
}

Status InventoryService::delete_computer(const Caller& who, std::string_view id) {
  auto c = writable_computer(who, id);
  if (!c) return std::unexpected(c.error());
  if (auto st = catalog_.delete_computer(c->id); !st) return st;
  audit_.record(who, "computer.delete", c->id, {{"name", c->name}});
  return {};
}

Result<ComputerView> InventoryService::effective_policy(const Caller& who, std::string_view id) {
  auto c = visible_computer(who, id, auth::perm::policy_read);
  if (!c) return std::unexpected(c.error());
  return with_policy(std::move(*c));
}

Result<RecordingStatusReport> InventoryService::recording_status(const Caller& who, std::string_view id) {
  auto c = visible_computer(who, id, auth::perm::inventory_read);
  if (!c) return std::unexpected(c.error());
  const auto now = clock_->now_ms();
  const auto& a = c->agent;
  RecordingStatusReport report{c->id, true, {}};
  auto add = [&](std::string check_id, std::string label, bool ok, std::string detail) {
    report.checks.push_back({std::move(check_id), std::move(label), ok, std::move(detail)});
  };
  add("enrolled", "Agent enrolled", c->enrolled,
      c->enrolled ? "the agent holds a credential for this computer"
                  : "no agent has enrolled: create an enrollment token and run deskaudit-agent on the computer");
  const bool online = a.last_seen_at > 0 && now - a.last_seen_at <= settings_.agent_offline_after_ms;
  add("agent_online", "Agent reporting", online,
      a.last_seen_at == 0 ? "the agent has never sent a heartbeat"
      : online            ? "last heartbeat " + format_rfc3339(a.last_seen_at)
                          : "no heartbeat since " + format_rfc3339(a.last_seen_at) +
                     ": is the agent running and can it reach the server?");
  const bool version_ok = !a.agent_version.empty() && version_at_least(a.agent_version, kMinAgentVersion);
  add("agent_version", "Agent version supported", version_ok,
      a.agent_version.empty() ? "unknown: no heartbeat yet"
      : version_ok            ? "version " + a.agent_version
                   : "version " + a.agent_version + " is older than " + std::string(kMinAgentVersion) +
                         ": upgrade the agent");
  const bool os_ok = c->os.empty() || c->os.find("Linux") != std::string::npos || c->os.find("linux") != std::string::npos;
  add("os", "Operating system supported", os_ok && !c->os.empty(),
      c->os.empty() ? "unknown: the agent has not reported it"
      : os_ok       ? c->os
                    : c->os + " is not supported yet (Linux/X11 only)");
  report.checks.push_back(capture_check(a));
  auto eff = catalog_.effective_policy(c->id);
  if (!eff) return std::unexpected(eff.error());
  report.checks.push_back(policy_check(*eff));
  const EpochMs applied = eff->policy ? eff->policy->updated_at : 0;
  const bool session_ok = a.last_session_at > 0 && a.last_session_at >= applied;
  add("session", "A user connected since the policy applied", session_ok,
      a.last_session_at == 0 ? "no user session has started on this computer"
      : session_ok           ? "last session started " + format_rfc3339(a.last_session_at)
                   : "last session started " + format_rfc3339(a.last_session_at) +
                         ", before the policy changed at " + format_rfc3339(applied));
  const bool upload_ok = a.last_upload_error.empty() && a.last_error.empty();
  std::string upload_detail = a.last_upload_at > 0 ? "last upload " + format_rfc3339(a.last_upload_at) : "nothing uploaded yet";
  if (!a.last_upload_error.empty()) upload_detail += "; last upload error: " + a.last_upload_error;
  if (!a.last_error.empty()) upload_detail += "; agent error: " + a.last_error;
  if (a.spool_bytes > 0) upload_detail += "; " + std::to_string(a.spool_bytes) + " bytes waiting in the spool";
  report.checks.push_back(audio_check(a, *eff));
  add("upload", "Uploads succeed", upload_ok, std::move(upload_detail));
  report.checks.push_back(set_aside_check(a));
  auto silent = silent_during_session(catalog_, *c, *eff, now, settings_.agent_offline_after_ms);
  if (!silent) return std::unexpected(silent.error());
  add("agent_silent", "Agent reporting during the session", !*silent,
      silent->value_or("no recorded session is missing heartbeats"));
  report.ok = std::ranges::all_of(report.checks, &StatusCheck::ok);
  return report;
}

Result<PageOf<Pool>> InventoryService::list_pools(const Caller& who, std::string_view q, const Page& page) {
  return catalog_.list_pools(q, who.grants.scope(auth::perm::inventory_read), page);
}

Result<Pool> InventoryService::create_pool(const Caller& who, const NewPool& in) {
  if (!who.grants.everywhere(auth::perm::inventory_write)) {
    return fail(Errc::permission_denied, "only an administrator holding inventory:write without a scope may create pools");
  }
  if (auto st = check_name(in.name, "name"); !st) return std::unexpected(st.error());
  if (in.description.size() > kMaxMessageBytes) {
    return fail(Errc::unprocessable, "description must have at most 2048 bytes", "description");
  }
  Pool p{random_id("pool-"), in.name, in.description, clock_->now_ms()};
  if (auto st = catalog_.create_pool(p); !st) return std::unexpected(st.error());
  audit_.record(who, "pool.create", p.id, {{"name", p.name}});
  return p;
}

Result<Pool> InventoryService::get_pool(const Caller& who, std::string_view id) { return visible_pool(who, id); }

Result<Pool> InventoryService::update_pool(const Caller& who, std::string_view id, const PoolChange& change) {
  auto p = writable_pool(who, id);
  if (!p) return p;
  Json details = Json::object();
  if (change.name) {
    if (auto st = check_name(*change.name, "name"); !st) return std::unexpected(st.error());
    p->name = *change.name;
    details["name"] = p->name;
  }
  if (change.description) {
    if (change.description->size() > kMaxMessageBytes) {
      return fail(Errc::unprocessable, "description must have at most 2048 bytes", "description");
    }
    p->description = *change.description;
    details["description"] = p->description;
  }
  if (auto st = catalog_.update_pool(*p); !st) return std::unexpected(st.error());
  audit_.record(who, "pool.update", p->id, details);
  return p;
}

Status InventoryService::delete_pool(const Caller& who, std::string_view id) {
  auto p = writable_pool(who, id);
  if (!p) return std::unexpected(p.error());
  if (auto st = catalog_.delete_pool(p->id); !st) return st;
  audit_.record(who, "pool.delete", p->id, {{"name", p->name}});
  return {};
}

Result<PageOf<ComputerView>> InventoryService::list_pool_computers(const Caller& who, std::string_view pool_id,
                                                                  std::string q, const Page& page) {
  auto p = visible_pool(who, pool_id);
  if (!p) return std::unexpected(p.error());
  ComputerFilter f;
  f.pool_id = p->id;
  f.q = std::move(q);
  return computers(who, std::move(f), page);
}

Status InventoryService::add_to_pool(const Caller& who, std::string_view pool_id, std::string_view computer_id) {
  // Both ends of the move: the computer (and the pool it leaves) and the
  // pool it joins.
  auto c = writable_computer(who, computer_id);
  if (!c) return std::unexpected(c.error());
  auto p = writable_pool(who, pool_id);
  if (!p) return std::unexpected(p.error());
  if (c->pool_id != p->id) {
    if (auto st = may_move_out(who, *c); !st) return st;
  }
  if (auto st = catalog_.set_computer_pool(c->id, p->id); !st) return st;
  audit_.record(who, "pool.add_computer", p->id, {{"computer_id", c->id}});
  return {};
}

Status InventoryService::remove_from_pool(const Caller& who, std::string_view pool_id, std::string_view computer_id) {
  auto c = writable_computer(who, computer_id);
  if (!c) return std::unexpected(c.error());
  if (c->pool_id != pool_id) {
    return fail(Errc::not_found, "computer " + c->id + " is not in pool " + std::string(pool_id));
  }
  // Out of every pool is outside every scoped grant.
  if (auto st = may_move_out(who, *c); !st) return st;
  if (auto st = destination_reachable(who, std::nullopt); !st) return st;
  if (auto st = catalog_.set_computer_pool(c->id, std::nullopt); !st) return st;
  audit_.record(who, "pool.remove_computer", std::string(pool_id), {{"computer_id", c->id}});
  return {};
}

Result<PageOf<EnrollmentToken>> InventoryService::list_enrollment_tokens(const Caller& who, const Page& page) {
  auto list = catalog_.list_enrollment_tokens(page);
  if (!list) return list;
  std::erase_if(list->items, [&](const EnrollmentToken& t) { return !token_in_scope(who, t); });
  return list;
}

Result<IssuedEnrollmentToken> InventoryService::create_enrollment_token(const Caller& who,
                                                                        const NewEnrollmentToken& in) {
  const auto now = clock_->now_ms();
  if (in.expires_at && *in.expires_at <= now) {
    return fail(Errc::unprocessable, "expires_at must be in the future", "expires_at");
  }
  if (in.max_uses && (*in.max_uses < 1 || *in.max_uses > kMaxEnrollmentUses)) {
    return fail(Errc::unprocessable, "max_uses must be from 1 to 1000000", "max_uses");
  }
  if (auto st = destination_reachable(who, in.pool_id); !st) return std::unexpected(st.error());
  IssuedEnrollmentToken out;
  out.secret = random_token(kEnrollPrefix);
  auto& t = out.token;
  t.id = random_id("enr-");
  t.token_sha256 = sha256_hex(out.secret);
  t.pool_id = in.pool_id;
  t.expires_at = in.expires_at;
  t.max_uses = in.max_uses;
  t.created_by = who.user_id;
  t.created_at = now;
  if (auto st = catalog_.create_enrollment_token(t); !st) return std::unexpected(st.error());
  audit_.record(who, "enrollment_token.create", t.id,
                {{"pool_id", opt(t.pool_id)},
                 {"expires_at", t.expires_at ? Json(format_rfc3339(*t.expires_at)) : Json(nullptr)},
                 {"max_uses", t.max_uses ? Json(*t.max_uses) : Json(nullptr)}});
  return out;
}

Status InventoryService::revoke_enrollment_token(const Caller& who, std::string_view id) {
  auto t = catalog_.get_enrollment_token(id);
  if (!t) return std::unexpected(t.error());
  if (!token_in_scope(who, *t)) return fail(Errc::not_found, "no enrollment token " + t->id);
  if (auto st = catalog_.revoke_enrollment_token(t->id); !st) return st;
  audit_.record(who, "enrollment_token.revoke", t->id);
  return {};
}

}  // namespace deskaudit::service

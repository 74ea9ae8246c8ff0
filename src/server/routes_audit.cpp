// The audit log's integrity: verification of the hash chain and its signed
// checkpoints, the raw chain for verifiers outside the server, and the
// signing keys (list, rotate); handlers over service::AuditService. Listing
// and filtering are in routes_admin.cpp.
#include <charconv>

#include "audit/json.hpp"
#include "server/services.hpp"

namespace deskaudit::server {
namespace {

// A non-negative whole-number query parameter; `fallback` when absent.
Result<std::int64_t> count_query(const Context& ctx, const std::string& name, std::int64_t fallback) {
  if (!ctx.has_query(name)) return fallback;
  const auto text = ctx.query(name);
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v < 0) {
    return fail(Errc::invalid_argument, name + " must be a non-negative whole number", name);
  }
  return v;
}

Json keys_json(const keys::PublicKey& current, const keys::Keyring& ring) {
  Json trusted = Json::array();
  for (const auto& k : ring.keys()) {
    trusted.push_back({{"key_id", k.key_id},
                       {"algorithm", "ed25519"},
                       {"public_key", k.base64()},
                       {"current", k.key_id == current.key_id}});
  }
  return {{"current_key_id", current.key_id}, {"trusted", trusted}, {"keyring", ring.to_text()}};
}

Status verify(Services& s, Context& ctx) {
  auto report = s.audit_service->verify(caller_of(ctx.principal));
  if (!report) return std::unexpected(report.error());
  ctx.reply(audit::to_json(*report));
  return {};
}

Status chain(Services& s, Context& ctx) {
  auto after = count_query(ctx, "after_seq", 0);
  if (!after) return std::unexpected(after.error());
  auto limit = count_query(ctx, "limit", 1000);
  if (!limit) return std::unexpected(limit.error());
  auto batch = s.audit_service->chain(caller_of(ctx.principal), *after, *limit);
  if (!batch) return std::unexpected(batch.error());
  Json items = Json::array();
  for (const auto& e : *batch) items.push_back(audit::to_json(e));
  ctx.reply({{"items", items}});
  return {};
}

Status checkpoints(Services& s, Context& ctx) {
  auto after = count_query(ctx, "after_n", 0);
  if (!after) return std::unexpected(after.error());
  auto limit = count_query(ctx, "limit", 1000);
  if (!limit) return std::unexpected(limit.error());
  auto batch = s.audit_service->checkpoints(caller_of(ctx.principal), *after, *limit);
  if (!batch) return std::unexpected(batch.error());
  Json items = Json::array();
  for (const auto& cp : *batch) items.push_back(audit::to_json(cp));
  ctx.reply({{"items", items}});
  return {};
}

Status signing_keys(Services& s, Context& ctx) {
  auto k = s.audit_service->signing_keys(caller_of(ctx.principal));
  if (!k) return std::unexpected(k.error());
  Json out = keys_json(k->current, k->trusted);
  Json untrusted = Json::array();
  for (const auto& p : k->untrusted_in_catalog) {
    untrusted.push_back({{"key_id", p.key_id}, {"algorithm", p.algorithm}, {"public_key", p.public_key}});
  }
  out["untrusted_in_catalog"] = untrusted;
  ctx.reply(out);
  return {};
}

Status rotate(Services& s, Context& ctx) {
  auto r = s.audit_service->rotate_key(caller_of(ctx.principal));
  if (!r) return std::unexpected(r.error());
  Json out = keys_json(r->current, r->trusted);
  out["old_key_id"] = r->old_key.key_id;
  ctx.reply(out);
  return {};
}

}  // namespace

void add_audit_routes(std::vector<Route>& routes, Services& s) {
  const auto readers = Access::need_unscoped(auth::perm::audit_read);
  routes.push_back({"GET", "/api/v1/audit-log/verify", readers, handler_of(s, verify), false,
                    "Verify the audit log's hash chain and signed checkpoints against the trusted keys"});
  routes.push_back({"GET", "/api/v1/audit-log/chain", readers, handler_of(s, chain), false,
                    "Audit entries after after_seq in ascending order, exactly as hashed (for verifiers)"});
  routes.push_back({"GET", "/api/v1/audit-log/checkpoints", readers, handler_of(s, checkpoints), false,
                    "Signed checkpoints of the audit chain after after_n, ascending"});
  routes.push_back({"GET", "/api/v1/signing-keys", readers, handler_of(s, signing_keys), false,
                    "The server's signing key id and its trusted public keys (keyring text for pinning)"});
  routes.push_back({"POST", "/api/v1/signing-keys/rotate", Access::need_unscoped(auth::perm::admin_users),
                    handler_of(s, rotate), false,
                    "Make a new signing key current; old public keys stay trusted (audited)"});
}

}  // namespace deskaudit::server

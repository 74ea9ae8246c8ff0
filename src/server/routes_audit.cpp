// The audit log's integrity: verification of the hash chain and its signed
// checkpoints, the raw chain for verifiers outside the server, and the
// signing keys (list, rotate). Listing and filtering stay in routes_admin.cpp.
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

Json keys_json(Services& s) {
  const auto current = s.keys->current();
  const auto ring = s.keys->trusted();
  Json trusted = Json::array();
  for (const auto& k : ring.keys()) {
    trusted.push_back({{"key_id", k.key_id},
                       {"algorithm", "ed25519"},
                       {"public_key", k.base64()},
                       {"current", k.key_id == current.key_id}});
  }
  return {{"current_key_id", current.key_id}, {"trusted", trusted}, {"keyring", ring.to_text()}};
}

}  // namespace

void add_audit_routes(std::vector<Route>& routes, Services& s) {
  routes.push_back({"GET", "/api/v1/audit-log/verify", Access::need_unscoped(auth::perm::audit_read),
                    [&s](Context& ctx) -> Status {
                      auto report = s.audit_signer->verify();
                      if (!report) return std::unexpected(report.error());
                      ctx.reply(audit::to_json(*report));
                      return {};
                    },
                    false, "Verify the audit log's hash chain and signed checkpoints against the trusted keys"});
  routes.push_back({"GET", "/api/v1/audit-log/chain", Access::need_unscoped(auth::perm::audit_read),
                    [&s](Context& ctx) -> Status {
                      auto after = count_query(ctx, "after_seq", 0);
                      if (!after) return std::unexpected(after.error());
                      auto limit = count_query(ctx, "limit", 1000);
                      if (!limit) return std::unexpected(limit.error());
                      auto batch =
                          s.catalog->audit_after(*after, static_cast<int>(std::clamp<std::int64_t>(*limit, 1, 5000)));
                      if (!batch) return std::unexpected(batch.error());
                      Json items = Json::array();
                      for (const auto& e : *batch) items.push_back(audit::to_json(e));
                      ctx.reply({{"items", items}});
                      return {};
                    },
                    false, "Audit entries after after_seq in ascending order, exactly as hashed (for verifiers)"});
  routes.push_back({"GET", "/api/v1/audit-log/checkpoints", Access::need_unscoped(auth::perm::audit_read),
                    [&s](Context& ctx) -> Status {
                      auto after = count_query(ctx, "after_n", 0);
                      if (!after) return std::unexpected(after.error());
                      auto limit = count_query(ctx, "limit", 1000);
                      if (!limit) return std::unexpected(limit.error());
                      auto batch = s.catalog->audit_checkpoints_after(
                          *after, static_cast<int>(std::clamp<std::int64_t>(*limit, 1, 5000)));
                      if (!batch) return std::unexpected(batch.error());
                      Json items = Json::array();
                      for (const auto& cp : *batch) items.push_back(audit::to_json(cp));
                      ctx.reply({{"items", items}});
                      return {};
                    },
                    false, "Signed checkpoints of the audit chain after after_n, ascending"});
  routes.push_back(
      {"GET", "/api/v1/signing-keys", Access::need_unscoped(auth::perm::audit_read),
       [&s](Context& ctx) -> Status {
         Json out = keys_json(s);
         // Keys announced in the catalog but absent from the keyring
         // are shown untrusted: anyone with database access can add one.
         auto published = s.catalog->list_published_keys();
         if (!published) return std::unexpected(published.error());
         Json untrusted = Json::array();
         const auto ring = s.keys->trusted();
         for (const auto& k : *published) {
           if (ring.find(k.key_id) == nullptr) {
             untrusted.push_back({{"key_id", k.key_id}, {"algorithm", k.algorithm}, {"public_key", k.public_key}});
           }
         }
         out["untrusted_in_catalog"] = untrusted;
         ctx.reply(out);
         return {};
       },
       false, "The server's signing key id and its trusted public keys (keyring text for pinning)"});
  routes.push_back(
      {"POST", "/api/v1/signing-keys/rotate", Access::need_unscoped(auth::perm::admin_users),
       [&s](Context& ctx) -> Status {
         auto r = s.audit_signer->rotate_key();
         if (!r) return std::unexpected(r.error());
         if (auto st = s.catalog->publish_key({r->new_key.key_id, "ed25519", r->new_key.base64(), s.now()}); !st) {
           return st;
         }
         s.audit(ctx.principal, "signing_key.rotate", r->new_key.key_id,
                 {{"old_key_id", r->old_key.key_id}, {"new_key_id", r->new_key.key_id}});
         // The rotation entry itself is signed at once, by the new key.
         if (auto cp = s.audit_signer->sign_head(audit::kCheckpointRotation); !cp) return std::unexpected(cp.error());
         Json out = keys_json(s);
         out["old_key_id"] = r->old_key.key_id;
         ctx.reply(out);
         return {};
       },
       false, "Make a new signing key current; old public keys stay trusted (audited)"});
}

}  // namespace deskaudit::server

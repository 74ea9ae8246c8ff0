#include "service/audit_service.hpp"

#include <algorithm>

namespace deskaudit::service {

namespace {

Status require_unscoped(const Caller& caller, std::string_view permission) {
  if (caller.grants.everywhere(permission)) return {};
  return fail(Errc::permission_denied,
              "permission " + std::string(permission) + " is required, granted without a scope");
}

int batch_limit(std::int64_t limit) { return static_cast<int>(std::clamp<std::int64_t>(limit, 1, 5000)); }

}  // namespace

AuditService::AuditService(catalog::Catalog& catalog, keys::KeyService& keys, AuditSigner& signer, AuditLog& audit,
                           std::shared_ptr<const Clock> clock)
    : catalog_(catalog), keys_(keys), signer_(signer), audit_(audit), clock_(std::move(clock)) {}

Result<catalog::PageOf<catalog::AuditEntry>> AuditService::list(const Caller& caller,
                                                                const catalog::AuditFilter& filter,
                                                                const catalog::Page& page) {
  if (auto st = require_unscoped(caller, auth::perm::audit_read); !st) return std::unexpected(st.error());
  return catalog_.list_audit(filter, page);
}

Result<audit::Report> AuditService::verify(const Caller& caller) {
  if (auto st = require_unscoped(caller, auth::perm::audit_read); !st) return std::unexpected(st.error());
  return signer_.verify();
}

Result<std::vector<catalog::AuditEntry>> AuditService::chain(const Caller& caller, std::int64_t after_seq,
                                                             std::int64_t limit) {
  if (auto st = require_unscoped(caller, auth::perm::audit_read); !st) return std::unexpected(st.error());
  return catalog_.audit_after(after_seq, batch_limit(limit));
}

Result<std::vector<catalog::AuditCheckpoint>> AuditService::checkpoints(const Caller& caller, std::int64_t after_n,
                                                                        std::int64_t limit) {
  if (auto st = require_unscoped(caller, auth::perm::audit_read); !st) return std::unexpected(st.error());
  return catalog_.audit_checkpoints_after(after_n, batch_limit(limit));
}

Result<SigningKeys> AuditService::signing_keys(const Caller& caller) {
  if (auto st = require_unscoped(caller, auth::perm::audit_read); !st) return std::unexpected(st.error());
  SigningKeys out{keys_.current(), keys_.trusted(), {}};
  auto published = catalog_.list_published_keys();
  if (!published) return std::unexpected(published.error());
  for (auto& k : *published) {
    if (out.trusted.find(k.key_id) == nullptr) out.untrusted_in_catalog.push_back(std::move(k));
  }
  return out;
}

Result<KeyRotation> AuditService::rotate_key(const Caller& caller) {
  if (auto st = require_unscoped(caller, auth::perm::admin_users); !st) return std::unexpected(st.error());
  auto r = signer_.rotate_key();
  if (!r) return std::unexpected(r.error());
  if (auto st = catalog_.publish_key({r->new_key.key_id, "ed25519", r->new_key.base64(), clock_->now_ms()}); !st) {
    return std::unexpected(st.error());
  }
  audit_.record(caller, "signing_key.rotate", r->new_key.key_id,
                {{"old_key_id", r->old_key.key_id}, {"new_key_id", r->new_key.key_id}});
  // The rotation entry itself is signed at once, by the new key.
  if (auto cp = signer_.sign_head(audit::kCheckpointRotation); !cp) return std::unexpected(cp.error());
  return KeyRotation{r->old_key, keys_.current(), keys_.trusted()};
}

}  // namespace deskaudit::service

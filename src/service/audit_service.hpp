#pragma once
// The audit log for those who read it: entries (filtered, newest first),
// the raw chain and checkpoints for verifiers outside the server,
// verification against the trusted keys, and the signing keys (list,
// rotate). Every method needs audit:read without a scope, rotation
// admin:users without a scope (permission_denied otherwise; the route table
// checks the same). Thread-safe as the catalog and the key service are.
#include <cstdint>
#include <memory>
#include <vector>

#include "audit/chain.hpp"
#include "catalog/catalog.hpp"
#include "common/error.hpp"
#include "common/time.hpp"
#include "keys/key_service.hpp"
#include "service/audit_log.hpp"
#include "service/audit_signer.hpp"
#include "service/caller.hpp"

namespace deskaudit::service {

struct SigningKeys {
  keys::PublicKey current;
  keys::Keyring trusted;
  // Announced in the catalog but absent from the keyring: shown untrusted,
  // since anyone with database access can add one.
  std::vector<catalog::PublishedKey> untrusted_in_catalog;
};

struct KeyRotation {
  keys::PublicKey old_key;
  keys::PublicKey current;
  keys::Keyring trusted;
};

class AuditService {
 public:
  AuditService(catalog::Catalog& catalog, keys::KeyService& keys, AuditSigner& signer, AuditLog& audit,
               std::shared_ptr<const Clock> clock);

  Result<catalog::PageOf<catalog::AuditEntry>> list(const Caller& caller, const catalog::AuditFilter& filter,
                                                    const catalog::Page& page);
  // The whole chain and every checkpoint against the trusted keys and this
  // server's witness.
  Result<audit::Report> verify(const Caller& caller);
  // Entries after after_seq, ascending, exactly as hashed; limit clamped to 1..5000.
  Result<std::vector<catalog::AuditEntry>> chain(const Caller& caller, std::int64_t after_seq, std::int64_t limit);
  // Checkpoints after after_n, ascending; limit clamped to 1..5000.
  Result<std::vector<catalog::AuditCheckpoint>> checkpoints(const Caller& caller, std::int64_t after_n,
                                                            std::int64_t limit);
  Result<SigningKeys> signing_keys(const Caller& caller);
  // Signs the head with the old key, makes a new key current and announces
  // it in the catalog, writes signing_key.rotate and signs that entry at
  // once with the new key. Old public keys stay trusted.
  Result<KeyRotation> rotate_key(const Caller& caller);

 private:
  catalog::Catalog& catalog_;
  keys::KeyService& keys_;
  AuditSigner& signer_;
  AuditLog& audit_;
  std::shared_ptr<const Clock> clock_;
};

}  // namespace deskaudit::service

#pragma once
// Signs the audit chain head with the server's key (keys::KeyService):
// every `every` entries, when the server stops, and around a key rotation.
// Remembers the newest checkpoint it wrote in a witness file outside the
// catalog, so that cutting off the newest entries together with their
// checkpoints is still detected by this server's verify. Thread-safe.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>

#include "audit/chain.hpp"
#include "catalog/catalog.hpp"
#include "common/time.hpp"
#include "keys/key_service.hpp"

namespace deskaudit::service {

class AuditSigner {
 public:
  // Loads the witness (corrupt: a malformed witness file, named).
  static Result<std::unique_ptr<AuditSigner>> create(catalog::Catalog& catalog, keys::KeyService& keys,
                                                     std::int64_t every, std::string replica,
                                                     std::filesystem::path witness_file,
                                                     std::shared_ptr<const Clock> clock);

  // After entry `seq` was appended: signs the head when seq is a multiple of
  // `every`. A failure is logged (the entry stays unsigned until the next
  // checkpoint, and verify reports it as unsigned).
  void after_append(std::int64_t seq);
  // Signs the current head now (audit::kCheckpoint* kind).
  Result<catalog::AuditCheckpoint> sign_head(std::string_view kind);
  // The whole chain and every checkpoint against the trusted keys and the witness.
  Result<audit::Report> verify();
  std::optional<audit::Witness> witness() const;

  struct Rotation {
    keys::PublicKey old_key, new_key;
  };
  // Signs the head with the current key, then makes a new key current
  // (keys::KeyService::rotate); no checkpoint is signed in between.
  Result<Rotation> rotate_key();

 private:
  AuditSigner(catalog::Catalog& catalog, keys::KeyService& keys, std::int64_t every, std::string replica,
              std::filesystem::path witness_file, std::shared_ptr<const Clock> clock);

  catalog::Catalog& catalog_;
  keys::KeyService& keys_;
  std::int64_t every_;
  std::string replica_;
  std::filesystem::path witness_file_;
  std::shared_ptr<const Clock> clock_;
  Result<catalog::AuditCheckpoint> sign_head_locked(std::string_view kind);

  // Shared while signing, exclusive while rotating: a checkpoint's key id
  // and signature always come from the same key.
  std::shared_mutex rotate_mu_;
  mutable std::mutex mu_;
  std::optional<audit::Witness> witness_;  // guarded by mu_
};

}  // namespace deskaudit::service

#include "service/audit_signer.hpp"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "common/fs.hpp"

namespace deskaudit::service {

AuditSigner::AuditSigner(catalog::Catalog& catalog, keys::KeyService& keys, std::int64_t every, std::string replica,
                         std::filesystem::path witness_file, std::shared_ptr<const Clock> clock)
    : catalog_(catalog),
      keys_(keys),
      every_(every),
      replica_(std::move(replica)),
      witness_file_(std::move(witness_file)),
      clock_(std::move(clock)) {}

Result<std::unique_ptr<AuditSigner>> AuditSigner::create(catalog::Catalog& catalog, keys::KeyService& keys,
                                                         std::int64_t every, std::string replica,
                                                         std::filesystem::path witness_file,
                                                         std::shared_ptr<const Clock> clock) {
  if (every < 1) return fail(Errc::invalid_argument, "audit_sign_every must be at least 1", "audit_sign_every");
  std::unique_ptr<AuditSigner> signer(
      new AuditSigner(catalog, keys, every, std::move(replica), std::move(witness_file), std::move(clock)));
  auto text = read_file(signer->witness_file_, 4096);
  if (text) {
    const auto j = nlohmann::json::parse(*text, nullptr, false);
    if (!j.is_object() || !j.contains("n") || !j["n"].is_number_integer() || !j.contains("seq") ||
        !j["seq"].is_number_integer() || !j.contains("entry_hash") || !j["entry_hash"].is_string()) {
      return fail(Errc::corrupt, "audit witness file " + signer->witness_file_.string() +
                                     " is malformed (it records the newest signed checkpoint; see docs/keys.md)");
    }
    signer->witness_ =
        audit::Witness{j["n"].get<std::int64_t>(), j["seq"].get<std::int64_t>(), j["entry_hash"].get<std::string>()};
  } else if (text.error().code != Errc::not_found) {
    return std::unexpected(text.error());
  }
  return signer;
}

void AuditSigner::after_append(std::int64_t seq) {
  if (seq % every_ != 0) return;
  if (auto cp = sign_head(audit::kCheckpointEvery); !cp) {
    spdlog::error("audit log checkpoint after seq {} failed: {}", seq, cp.error().message);
  }
}

Result<catalog::AuditCheckpoint> AuditSigner::sign_head(std::string_view kind) {
  std::shared_lock lock(rotate_mu_);
  return sign_head_locked(kind);
}

Result<catalog::AuditCheckpoint> AuditSigner::sign_head_locked(std::string_view kind) {
  auto cp = catalog_.sign_audit_head(
      keys_.current().key_id, [&](std::string_view message) { return keys_.sign(message).signature; }, kind, replica_,
      clock_->now_ms());
  if (!cp) return cp;
  std::lock_guard lock(mu_);
  if (!witness_ || cp->n > witness_->n) {
    const nlohmann::json j = {{"n", cp->n}, {"seq", cp->seq}, {"entry_hash", cp->entry_hash}};
    if (auto st = write_file_atomic(witness_file_, j.dump() + "\n", 0600); !st) return std::unexpected(st.error());
    witness_ = audit::Witness{cp->n, cp->seq, cp->entry_hash};
  }
  return cp;
}

Result<AuditSigner::Rotation> AuditSigner::rotate_key() {
  std::unique_lock lock(rotate_mu_);
  Rotation r;
  r.old_key = keys_.current();
  if (auto cp = sign_head_locked(audit::kCheckpointRotation); !cp && cp.error().code != Errc::not_found) {
    return std::unexpected(cp.error());
  }
  auto next = keys_.rotate();
  if (!next) return std::unexpected(next.error());
  r.new_key = *next;
  return r;
}

Result<audit::Report> AuditSigner::verify() {
  const auto ring = keys_.trusted();
  return audit::verify([&](std::int64_t after) { return catalog_.audit_after(after, 1000); },
                       [&](std::int64_t after) { return catalog_.audit_checkpoints_after(after, 1000); }, ring,
                       witness());
}

std::optional<audit::Witness> AuditSigner::witness() const {
  std::lock_guard lock(mu_);
  return witness_;
}

}  // namespace deskaudit::service

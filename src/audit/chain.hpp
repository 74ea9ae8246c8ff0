#pragma once
// The audit log's integrity: a hash chain over the entries, and checkpoints
// that sign the chain head (seq + hash) with a key kept outside the catalog.
//
// A checkpoint's hash covers every entry up to its seq through the chain, so
// an entry rewritten with every later hash recomputed no longer matches the
// next checkpoint. Checkpoints are numbered n = 1, 2, ... and each signs the
// previous checkpoint's signature too, so a deleted or reordered checkpoint
// row breaks that second chain. What the catalog alone cannot show, the
// newest checkpoints being cut off together with the newest entries, a
// Witness kept outside the catalog (the signing server's last checkpoint)
// shows.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "common/time.hpp"
#include "keys/key_service.hpp"

namespace deskaudit::audit {

struct Entry {
  std::int64_t seq = 0;  // 1, 2, ... in append order
  EpochMs time = 0;
  std::string actor;   // username, "agent:<computer id>", "system"
  std::string action;  // "auth.login", "policy.update", "recording.play", ...
  std::string target;  // an id or name
  std::string details_json = "{}";
  std::string prev_hash;  // hash of entry seq-1 ("" for the first)
  std::string hash;       // entry_hash(*this)
};

// sha256 hex over prev_hash and the entry's canonical text (seq, time, actor,
// action, target, details_json), the chain's link.
std::string entry_hash(const Entry& entry);

// Why a checkpoint was signed.
inline constexpr std::string_view kCheckpointEvery = "checkpoint";   // every audit_sign_every entries
inline constexpr std::string_view kCheckpointShutdown = "shutdown";  // the head when a server stops
inline constexpr std::string_view kCheckpointRotation = "rotation";  // the head when the key changes

struct Checkpoint {
  std::int64_t n = 0;          // 1, 2, ... in signing order
  std::int64_t seq = 0;        // the signed entry (the head when signed)
  std::string entry_hash;      // its hash
  std::string prev_signature;  // checkpoint n-1's signature ("" for n = 1)
  EpochMs signed_at = 0;
  std::string kind;     // kCheckpoint*
  std::string replica;  // the server that signed
  std::string key_id;
  std::string signature;  // base64 Ed25519 over signed_message(*this)
};

// The bytes a checkpoint's signature covers: every field but the signature,
// length-prefixed so no field can imitate another.
std::string signed_message(const Checkpoint& cp);

// What a signing server remembers outside the catalog: its newest checkpoint.
struct Witness {
  std::int64_t n = 0;
  std::int64_t seq = 0;
  std::string entry_hash;
};

struct Report {
  bool ok = true;
  std::int64_t entries = 0;           // entries read (the log's length when ok)
  std::string last_hash;              // hash of the newest entry read
  std::int64_t checkpoints = 0;       // checkpoints verified
  std::int64_t signed_through = 0;    // newest seq covered by a verified checkpoint (0: none)
  std::int64_t unsigned_entries = 0;  // entries after signed_through: not yet signed, not a failure
  // When !ok: entries first_bad_seq..untrusted_through_seq cannot be trusted.
  // A broken hash link names the exact entry (both equal); a checkpoint that
  // no longer matches names the range since the previous good checkpoint.
  std::int64_t first_bad_seq = 0;
  std::int64_t untrusted_through_seq = 0;
  std::string reason;
  std::vector<std::string> key_ids;  // keys that signed verified checkpoints
};

// Batches in ascending order after the given seq / n; an empty batch ends.
using EntrySource = std::function<Result<std::vector<Entry>>(std::int64_t after_seq)>;
using CheckpointSource = std::function<Result<std::vector<Checkpoint>>(std::int64_t after_n)>;

// Streams the whole log and every checkpoint once. Failures to read are
// errors; everything found wrong is in the Report.
Result<Report> verify(const EntrySource& entries, const CheckpointSource& checkpoints, const keys::Keyring& trusted,
                      const std::optional<Witness>& witness = std::nullopt);

}  // namespace deskaudit::audit

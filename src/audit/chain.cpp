#include "audit/chain.hpp"

#include <algorithm>
#include <deque>

#include "common/crypto.hpp"

namespace deskaudit::audit {
namespace {

void canonical_field(std::string& out, std::string_view name, std::string_view value) {
  // Length-prefixed so that no value (which may hold '\n') can imitate
  // another field.
  out += name;
  out += '=';
  out += std::to_string(value.size());
  out += ':';
  out += value;
  out += '\n';
}

// Pulls checkpoints in n order, one batch at a time.
class CheckpointStream {
 public:
  explicit CheckpointStream(const CheckpointSource& source) : source_(source) {}
  // The next checkpoint, or nullptr at the end.
  Result<const Checkpoint*> peek() {
    if (buffer_.empty() && !done_) {
      auto batch = source_(after_);
      if (!batch) return std::unexpected(batch.error());
      if (batch->empty()) done_ = true;
      for (auto& cp : *batch) {
        after_ = cp.n;
        buffer_.push_back(std::move(cp));
      }
    }
    return buffer_.empty() ? nullptr : &buffer_.front();
  }
  void pop() { buffer_.pop_front(); }

 private:
  const CheckpointSource& source_;
  std::deque<Checkpoint> buffer_;
  std::int64_t after_ = 0;
  bool done_ = false;
};

}  // namespace

std::string entry_hash(const Entry& e) {
  std::string text = e.prev_hash;
  text += '\n';
  text += "seq=" + std::to_string(e.seq) + "\n";
  text += "time=" + std::to_string(e.time) + "\n";
  canonical_field(text, "actor", e.actor);
  canonical_field(text, "action", e.action);
  canonical_field(text, "target", e.target);
  canonical_field(text, "details", e.details_json);
  return sha256_hex(text);
}

std::string signed_message(const Checkpoint& cp) {
  std::string text = "deskaudit audit checkpoint v1\n";
  text += "n=" + std::to_string(cp.n) + "\n";
  text += "seq=" + std::to_string(cp.seq) + "\n";
  canonical_field(text, "hash", cp.entry_hash);
  canonical_field(text, "prev_signature", cp.prev_signature);
  text += "signed_at=" + std::to_string(cp.signed_at) + "\n";
  canonical_field(text, "kind", cp.kind);
  canonical_field(text, "replica", cp.replica);
  canonical_field(text, "key_id", cp.key_id);
  return text;
}

Result<Report> verify(const EntrySource& entries, const CheckpointSource& checkpoints, const keys::Keyring& trusted,
                      const std::optional<Witness>& witness) {
  Report r;
  CheckpointStream cps(checkpoints);
  std::int64_t last_n = 0;
  std::string last_signature;
  bool witness_seen = false;

  // Entries after the newest good checkpoint up to `through` cannot be trusted.
  auto untrusted = [&](std::int64_t through, std::string reason) {
    r.ok = false;
    r.first_bad_seq = r.signed_through + 1;
    r.untrusted_through_seq = std::max(through, r.first_bad_seq);
    r.reason = std::move(reason);
  };
  // Checks one checkpoint on its own and against the checkpoint chain; on
  // success it covers `entry` (nullptr: its entry is missing).
  auto check = [&](const Checkpoint& cp, const Entry* entry) -> bool {
    const std::string which = "checkpoint n=" + std::to_string(cp.n) + " (seq " + std::to_string(cp.seq) + ")";
    if (cp.n != last_n + 1) {
      untrusted(cp.seq, cp.n > last_n + 1 ? "checkpoint rows n=" + std::to_string(last_n + 1) + ".." +
                                                std::to_string(cp.n - 1) + " are missing"
                                          : which + " is out of order");
      return false;
    }
    if (cp.prev_signature != last_signature) {
      untrusted(cp.seq, which + " does not follow checkpoint n=" + std::to_string(last_n) + " (altered or replaced)");
      return false;
    }
    if (auto st = trusted.verify(cp.key_id, signed_message(cp), cp.signature); !st) {
      untrusted(cp.seq, st.error().code == Errc::not_found
                            ? which + " is signed by key " + cp.key_id + ", which is not a trusted key"
                            : which + ": " + st.error().message + " (the row was altered)");
      return false;
    }
    if (witness && cp.n == witness->n) {
      witness_seen = true;
      if (cp.seq != witness->seq || cp.entry_hash != witness->entry_hash) {
        untrusted(cp.seq, which + " differs from the one this server signed");
        return false;
      }
    }
    if (entry == nullptr) {
      untrusted(cp.seq, "the log ends at seq " + std::to_string(r.entries) + " but " + which +
                            " was signed: the newest entries were cut off");
      return false;
    }
    if (entry->hash != cp.entry_hash) {
      untrusted(cp.seq, "entries were rewritten: the hash of seq " + std::to_string(cp.seq) + " differs from " + which);
      return false;
    }
    last_n = cp.n;
    last_signature = cp.signature;
    r.signed_through = cp.seq;
    ++r.checkpoints;
    if (std::find(r.key_ids.begin(), r.key_ids.end(), cp.key_id) == r.key_ids.end()) r.key_ids.push_back(cp.key_id);
    return true;
  };

  std::int64_t after = 0;
  for (;;) {
    auto batch = entries(after);
    if (!batch) return std::unexpected(batch.error());
    if (batch->empty()) break;
    for (const auto& e : *batch) {
      if (e.seq != after + 1) {
        r.ok = false;
        r.first_bad_seq = r.untrusted_through_seq = after + 1;
        r.reason = e.seq > after + 1
                       ? "entries " + std::to_string(after + 1) + ".." + std::to_string(e.seq - 1) + " are missing"
                       : "entry seq " + std::to_string(e.seq) + " is out of order";
        return r;
      }
      if (e.prev_hash != r.last_hash) {
        r.ok = false;
        r.first_bad_seq = r.untrusted_through_seq = e.seq;
        r.reason = "chain broken before this entry (prev_hash does not match the previous entry)";
        return r;
      }
      if (entry_hash(e) != e.hash) {
        r.ok = false;
        r.first_bad_seq = r.untrusted_through_seq = e.seq;
        r.reason = "hash does not match the entry (the entry was changed)";
        return r;
      }
      for (;;) {
        auto cp = cps.peek();
        if (!cp) return std::unexpected(cp.error());
        if (*cp == nullptr || (*cp)->seq > e.seq) break;
        if ((*cp)->seq < e.seq) {
          untrusted((*cp)->seq, "checkpoint n=" + std::to_string((*cp)->n) + " signs seq " +
                                    std::to_string((*cp)->seq) + " after a checkpoint of a later entry (out of order)");
          return r;
        }
        if (!check(**cp, &e)) return r;
        cps.pop();
      }
      after = e.seq;
      r.last_hash = e.hash;
      ++r.entries;
    }
  }
  // Checkpoints beyond the newest entry: the log was cut.
  auto cp = cps.peek();
  if (!cp) return std::unexpected(cp.error());
  if (*cp != nullptr) {
    check(**cp, nullptr);
    return r;
  }
  if (witness && !witness_seen) {
    untrusted(std::max(witness->seq, r.entries),
              "checkpoint n=" + std::to_string(witness->n) + " (seq " + std::to_string(witness->seq) +
                  "), signed by this server, is missing: checkpoints" +
                  (witness->seq > r.entries ? " and the newest entries were cut off" : " were deleted"));
    return r;
  }
  r.unsigned_entries = r.entries - r.signed_through;
  return r;
}

}  // namespace deskaudit::audit

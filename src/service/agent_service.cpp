#include "service/agent_service.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "common/crypto.hpp"
#include "common/text.hpp"
#include "evidence/segment_statement.hpp"
#include "keys/key_service.hpp"
#include "media/fmp4.hpp"

namespace deskaudit::service {
namespace {

using namespace catalog;
using Json = nlohmann::json;

// An agent's clock may run a little ahead of the server's; no recording
// starts or ends further ahead than this. There is no lower bound: the agent
// creates the server recording when it uploads from its spool, which can be
// days after the session after an outage, and an agent that enrolled again
// (new credential, same spool) uploads sessions from before its enrollment.
constexpr std::int64_t kClockSkewMs = 5 * 60'000;
// Recordings left open longer than this (an agent reinstalled with its
// spool lost) stop counting against max_open_recordings.
constexpr std::int64_t kOpenRecordingWindowMs = 24 * 3600'000;
// When a computer at its open-recordings cap may try again.
constexpr std::int64_t kOpenRecordingsRetryMs = 60'000;
constexpr std::int64_t kUploadWindowMs = 3600'000;
constexpr std::size_t kMaxVersionBytes = 64;
constexpr std::size_t kMaxReportJsonBytes = 4096;
constexpr std::size_t kMaxSetAsideItems = 20;
constexpr std::int64_t kMaxSetAsideCount = 1'000'000'000;

// A name from an agent (host, computer or user name): cut to the shared
// limit on a character boundary, then held to the rules of every name.
Result<std::string> agent_name(std::string_view text, std::string_view field) {
  auto cut = utf8_truncate(text, kMaxUserNameBytes);
  if (auto st = check_name(cut, field); !st) return std::unexpected(st.error());
  return cut;
}

Status check_not_ahead(EpochMs t, EpochMs now, std::string_view field) {
  if (t > now + kClockSkewMs) {
    return fail(Errc::unprocessable, std::string(field) + " is more than 5 minutes ahead of the server's clock",
                std::string(field));
  }
  return {};
}

Status object_or_null(const Json& j, std::string_view field) {
  if (j.is_object() || j.is_null()) return {};
  return fail(Errc::unprocessable, std::string(field) + " must be an object or null", std::string(field));
}

// The heartbeat's report of recordings the agent set aside, rebuilt from
// known fields only, each cut on a character boundary.
Result<Json> set_aside_from(const AgentReport& r) {
  if (!r.set_aside.is_null() && !r.set_aside.is_array()) {
    return fail(Errc::unprocessable, "set_aside must be an array", "set_aside");
  }
  if (r.set_aside_count.value_or(0) <= 0 || r.set_aside.is_null()) return Json(nullptr);
  if (*r.set_aside_count > kMaxSetAsideCount) {
    return fail(Errc::unprocessable, "set_aside_count is out of range", "set_aside_count");
  }
  Json items = Json::array();
  const auto text = [](const Json& item, const char* key, std::size_t max) -> Json {
    const auto f = item.find(key);
    return f != item.end() && f->is_string() ? Json(utf8_truncate(f->get_ref<const std::string&>(), max))
                                             : Json(nullptr);
  };
  for (const auto& item : r.set_aside) {
    if (items.size() >= kMaxSetAsideItems) break;
    if (!item.is_object()) return fail(Errc::unprocessable, "set_aside items must be objects", "set_aside");
    const auto status = item.find("http_status");
    const bool status_ok = status != item.end() && status->is_number_integer() &&
                           status->get<std::int64_t>() >= 100 && status->get<std::int64_t>() <= 599;
    items.push_back({{"local_id", text(item, "local_id", 64)},
                     {"recording_id", text(item, "recording_id", 64)},
                     {"username", text(item, "username", kMaxUserNameBytes)},
                     {"start_time", text(item, "start_time", 40)},
                     {"http_status", status_ok ? *status : Json(nullptr)},
                     {"error", text(item, "error", 512)},
                     {"set_aside_at", text(item, "set_aside_at", 40)}});
  }
  return Json{{"count", *r.set_aside_count}, {"items", std::move(items)}};
}

constexpr std::string_view kSignatureCodes[] = {"signature_missing",     "signature_malformed",
                                                "signature_key_unknown", "signature_key_foreign",
                                                "signature_key_retired", "signature_invalid"};

// A refused signature: the reason code leads the message (see
// signature_refusal()).
std::unexpected<Error> refuse_signature(Errc code, std::string_view reason, const std::string& message) {
  return fail(code, std::string(reason) + ": " + message, std::string(evidence::kSignatureHeader));
}

AgentPolicy agent_policy(EffectivePolicy eff) {
  std::string etag = "none";
  if (eff.policy) {
    etag = std::string(to_string(eff.source)) + ":" + eff.policy->id + ":" + std::to_string(eff.policy->version);
  }
  return {std::move(eff), std::move(etag)};
}

}  // namespace

std::string_view signature_refusal(const Error& e) {
  if (e.field != evidence::kSignatureHeader) return {};
  for (const auto code : kSignatureCodes) {
    if (e.message.starts_with(code) && e.message.substr(code.size()).starts_with(": ")) return code;
  }
  return {};
}

Result<std::optional<std::string>> silent_during_session(Catalog& catalog, const Computer& computer,
                                                         const EffectivePolicy& policy, EpochMs now,
                                                         std::int64_t offline_after_ms) {
  const auto& a = computer.agent;
  if (a.last_seen_at == 0 || now - a.last_seen_at <= offline_after_ms) return std::nullopt;
  // The server cannot tell the agent's local time, so a period policy counts
  // as recording; the open session or recording is the evidence.
  if (!policy.policy || policy.policy->recording.mode == RecordingMode::off) return std::nullopt;
  const bool session_open = a.session_json != "null" && !a.session_json.empty();
  RecordingFilter f;
  f.computer_id = computer.id;
  f.status = RecordingStatus::recording;
  auto open = catalog.count_recordings(f);
  if (!open) return std::unexpected(open.error());
  if (!session_open && *open == 0) return std::nullopt;
  std::string why = "no heartbeat since " + format_rfc3339(a.last_seen_at) + ", while policy \"" + policy.policy->name +
                    "\" records and ";
  why += session_open ? "a user session was open" : std::to_string(*open) + " recording(s) were open";
  why += ": this session may not be recorded";
  return std::optional<std::string>{std::move(why)};
}

AgentService::AgentService(Catalog& catalog, storage::ObjectStore& store, AuditLog& audit,
                           std::shared_ptr<const Clock> clock, AgentSettings settings)
    : catalog_(catalog),
      store_(store),
      audit_(audit),
      clock_(std::move(clock)),
      settings_(settings),
      upload_bytes_(settings.upload_bytes_per_hour, kUploadWindowMs) {}

Result<Enrollment> AgentService::enroll(const EnrollRequest& in) {
  auto host = agent_name(in.hostname, "hostname");
  if (!host) return std::unexpected(host.error());
  std::string name = *host;
  if (!in.name.empty()) {
    auto n = agent_name(in.name, "name");
    if (!n) return std::unexpected(n.error());
    name = std::move(*n);
  }
  std::optional<keys::PublicKey> public_key;
  if (!in.public_key.empty()) {
    auto key = keys::public_key_from_base64(in.public_key);
    if (!key) return fail(Errc::invalid_argument, key.error().message, "public_key");
    if (auto other = catalog_.get_agent_key(key->key_id); other) {
      return fail(Errc::conflict, "this public key is registered already; make a new key pair", "public_key");
    } else if (other.error().code != Errc::not_found) {
      return std::unexpected(other.error());
    }
    public_key = *key;
  }
  const auto now = clock_->now_ms();
  Computer c;
  c.id = random_id("cc-");
  c.name = std::move(name);
  c.hostname = *host;
  c.os = utf8_truncate(in.os, kMaxNameBytes);
  c.created_at = now;
  c.agent.agent_version = utf8_truncate(in.agent_version, kMaxVersionBytes);
  Enrollment out;
  out.agent_token = random_token(kAgentPrefix);
  auto enrolled = catalog_.enroll(sha256_hex(in.enrollment_token), c, sha256_hex(out.agent_token), now);
  if (!enrolled) {
    audit_.record_as("agent:" + *host, "agent.enroll_failed", *host, {{"reason", enrolled.error().message}});
    return std::unexpected(enrolled.error());
  }
  Json details = {{"hostname", *host}};
  if (public_key) {
    // After the enrollment: a key is never left pointing at no computer. An
    // agent whose key failed to register here registers it later
    // (POST /agent/keys) before it uploads.
    auto added = catalog_.add_agent_key({public_key->key_id, enrolled->id, public_key->base64(), now, std::nullopt});
    if (!added) return std::unexpected(added.error());
    details["key_id"] = public_key->key_id;
  }
  audit_.record_as("agent:" + enrolled->id, "agent.enroll", enrolled->id, details);
  out.computer = std::move(*enrolled);
  return out;
}

Result<KeyRegistered> AgentService::register_key(const Caller& agent, std::string_view public_key_base64) {
  auto key = keys::public_key_from_base64(public_key_base64);
  if (!key) return fail(Errc::invalid_argument, key.error().message, "public_key");
  AgentKey row{key->key_id, agent.computer_id, key->base64(), clock_->now_ms(), std::nullopt};
  auto added = catalog_.add_agent_key(row);
  if (!added) return std::unexpected(added.error());
  if (*added) {
    audit_.record_as("agent:" + agent.computer_id, "agent.key_register", agent.computer_id, {{"key_id", row.key_id}});
  }
  return KeyRegistered{std::move(row), *added};
}

// The agent signature of an upload (see accept_segment in the header): the
// key it names, or nullopt for an unsigned upload of a computer without keys.
Result<std::optional<AgentKey>> AgentService::signing_key_of(const Caller& agent, const Recording& rec,
                                                          const ReceivedSegment& in) {
  auto keys = catalog_.list_agent_keys(agent.computer_id);
  if (!keys) return std::unexpected(keys.error());
  const std::string header(evidence::kSignatureHeader);
  if (!in.signature) {
    if (keys->empty()) return std::optional<AgentKey>();
    return refuse_signature(Errc::unprocessable, "signature_missing",
                   "segment " + std::to_string(in.seq) + " of " + rec.id + " carries no " + header +
                       " but this computer has a signing key registered");
  }
  auto sig = evidence::parse_signature_header(*in.signature);
  if (!sig) return refuse_signature(Errc::unprocessable, "signature_malformed", sig.error().message);
  for (const auto& k : *keys) {
    if (k.key_id != sig->key_id) continue;
    if (k.retired_at) {
      return refuse_signature(Errc::permission_denied, "signature_key_retired",
                     "key " + k.key_id + " was replaced by a newer key of this computer");
    }
    return std::optional<AgentKey>(k);
  }
  auto other = catalog_.get_agent_key(sig->key_id);
  if (other) {
    return refuse_signature(Errc::permission_denied, "signature_key_foreign",
                   "key " + sig->key_id + " belongs to another computer");
  }
  if (other.error().code != Errc::not_found) return std::unexpected(other.error());
  return refuse_signature(Errc::unprocessable, "signature_key_unknown", "no agent registered key " + sig->key_id);
}

Result<AgentPolicy> AgentService::heartbeat(const Caller& agent, const AgentReport& r) {
  if (auto st = object_or_null(r.capture, "capture"); !st) return std::unexpected(st.error());
  if (auto st = object_or_null(r.session, "session"); !st) return std::unexpected(st.error());
  AgentState st;
  st.agent_version = utf8_truncate(r.agent_version, kMaxVersionBytes);
  st.capture_json = r.capture.dump(-1, ' ', false, Json::error_handler_t::replace);
  st.spool_bytes = std::max<std::int64_t>(0, r.spool_bytes);
  st.last_error = utf8_truncate(r.last_error, kMaxMessageBytes);
  st.session_json = r.session.dump(-1, ' ', false, Json::error_handler_t::replace);
  auto set_aside = set_aside_from(r);
  if (!set_aside) return std::unexpected(set_aside.error());
  st.set_aside_json = set_aside->dump();
  if (st.capture_json.size() > kMaxReportJsonBytes || st.session_json.size() > kMaxReportJsonBytes) {
    return fail(Errc::unprocessable, "capture and session must each be under 4 KiB");
  }
  st.last_seen_at = clock_->now_ms();
  if (auto u = catalog_.update_agent_heartbeat(agent.computer_id, st); !u) return std::unexpected(u.error());
  return policy(agent);
}

Result<AgentPolicy> AgentService::policy(const Caller& agent) {
  auto eff = catalog_.effective_policy(agent.computer_id);
  if (!eff) return std::unexpected(eff.error());
  return agent_policy(std::move(*eff));
}

Status AgentService::check_open_recordings(const std::string& computer_id) {
  RecordingFilter f;
  f.computer_id = computer_id;
  f.status = RecordingStatus::recording;
  Page page;
  page.limit = 100;
  auto open = catalog_.list_recordings(f, page);
  if (!open) return std::unexpected(open.error());
  const auto since = clock_->now_ms() - kOpenRecordingWindowMs;
  const auto recent = std::ranges::count_if(open->items, [&](const Recording& r) { return r.created_at >= since; });
  if (recent >= settings_.max_open_recordings) {
    return retry_later(kOpenRecordingsRetryMs, "this computer already has " + std::to_string(recent) +
                                                   " recordings open (agent_max_open_recordings); finish one first");
  }
  return {};
}

Result<Recording> AgentService::start_recording(const Caller& agent, const NewAgentRecording& in) {
  auto user = agent_name(in.username, "username");
  if (!user) return std::unexpected(user.error());
  auto computer = catalog_.get_computer(agent.computer_id);
  if (!computer) return std::unexpected(computer.error());
  const auto now = clock_->now_ms();
  if (auto st = check_not_ahead(in.start_time, now, "start_time"); !st) return std::unexpected(st.error());
  if (auto st = check_open_recordings(computer->id); !st) return std::unexpected(st.error());
  auto eff = catalog_.effective_policy(computer->id);
  if (!eff) return std::unexpected(eff.error());
  Recording r;
  r.id = random_id("rec-");
  r.computer_id = computer->id;
  r.computer_name = computer->name;
  r.username = std::move(*user);
  r.start_time = in.start_time;
  r.created_at = now;
  // The server's choice: the policy in force for the computer now, with its
  // retention, so no agent can file a recording under a shorter-lived policy.
  if (eff->policy) {
    r.policy_id = eff->policy->id;
    r.policy_name = eff->policy->name;
    r.retention_days = eff->policy->recording.retention_days;
  }
  if (auto st = catalog_.create_recording(r); !st) return std::unexpected(st.error());
  (void)catalog_.note_session_start(computer->id, r.start_time);
  return r;
}

Result<Recording> AgentService::finish_recording(const Caller& agent, std::string_view recording_id,
                                                 const FinishRequest& in) {
  auto rec = own_recording(agent, recording_id);
  if (!rec) return rec;
  if (in.end_time < rec->start_time) return fail(Errc::unprocessable, "end_time is before start_time", "end_time");
  if (auto st = check_not_ahead(in.end_time, clock_->now_ms(), "end_time"); !st) return std::unexpected(st.error());
  if (in.status == RecordingStatus::recording) {
    return fail(Errc::unprocessable, "status must be \"complete\" or \"interrupted\"", "status");
  }
  return catalog_.finish_recording(rec->id, in.end_time, in.status);
}

Result<Recording> AgentService::own_recording(const Caller& agent, std::string_view recording_id) {
  auto rec = catalog_.get_recording(recording_id);
  if (!rec || rec->computer_id != agent.computer_id) {
    if (rec || rec.error().code == Errc::not_found) {
      return fail(Errc::not_found, "no recording " + std::string(recording_id) + " on this computer");
    }
    return std::unexpected(rec.error());
  }
  return rec;
}

Status AgentService::admit_upload(const Caller& agent, const Recording& rec, std::int64_t seq,
                                  std::uint64_t claimed_bytes) {
  if (rec.computer_id != agent.computer_id) return fail(Errc::not_found, "no recording " + rec.id + " on this computer");
  if (seq < 0 || seq > kMaxSegmentSeq) {
    return fail(Errc::invalid_argument, "segment number must be a whole number from 0 to 10000000", "seq");
  }
  if (rec.status != RecordingStatus::recording) {
    return fail(Errc::conflict, "recording " + rec.id + " is finished: it takes no more segments");
  }
  // Counted when admitted, whatever becomes of the body: refused bodies cost
  // the server as much as stored ones.
  const auto amount = static_cast<std::int64_t>(std::min<std::uint64_t>(claimed_bytes, INT64_MAX));
  const auto now = clock_->now_ms();
  if (const auto wait = upload_bytes_.retry_after_ms(rec.computer_id, now, amount); wait > 0) {
    return retry_later(wait, "this computer uploaded its agent_upload_bytes_per_hour");
  }
  upload_bytes_.add(rec.computer_id, now, amount);
  return {};
}

Result<SegmentAccepted> AgentService::accept_segment(const Caller& agent, const Recording& rec,
                                                     const ReceivedSegment& in) {
  if (rec.computer_id != agent.computer_id) return fail(Errc::not_found, "no recording " + rec.id + " on this computer");
  const auto seq_text = std::to_string(in.seq);
  if (in.sha256 != in.claimed_sha256) {
    (void)catalog_.note_upload(rec.computer_id, clock_->now_ms(),
                               "segment " + seq_text + " arrived damaged (SHA-256 mismatch)");
    return fail(Errc::unprocessable, "SHA-256 of the body is " + in.sha256 + ", not " + in.claimed_sha256,
                "X-Content-SHA256");
  }
  if (auto existing = catalog_.get_segment(rec.id, in.seq)) {
    if (existing->sha256 != in.sha256) {
      return fail(Errc::conflict, "segment " + seq_text + " of " + rec.id + " is already stored with other bytes");
    }
    if (existing->events_sha256 != in.events_sha256) {
      return fail(Errc::conflict, "segment " + seq_text + " of " + rec.id + " is already stored with " +
                                      (existing->events_sha256 ? "another events document" : "no events document"));
    }
    return SegmentAccepted{std::move(*existing), false};
  } else if (existing.error().code != Errc::not_found) {
    return std::unexpected(existing.error());
  }
  if (in.events_sha256) {
    // Documents are never replaced once stored, so this check holds when
    // the row goes in.
    auto doc = catalog_.get_event_document(rec.id, in.seq);
    if (!doc && doc.error().code != Errc::not_found) return std::unexpected(doc.error());
    if (!doc || doc->sha256 != *in.events_sha256) {
      const std::string why = !doc ? "no events document of segment " + seq_text + " is stored"
                                   : "the stored events document of segment " + seq_text + " has SHA-256 " +
                                         doc->sha256;
      (void)catalog_.note_upload(rec.computer_id, clock_->now_ms(), "segment " + seq_text + " refused: " + why);
      return fail(Errc::events_missing,
                  why + ", not " + *in.events_sha256 + "; upload the events document first (PUT .../events)",
                  "X-Deskaudit-Events-SHA256");
    }
  }
  if (in.encoded_by && !in.index) return fail(Errc::internal, "an encoded upload of segment " + seq_text + " has no index");
  auto index = in.index ? *in.index : media::index_segment_file(in.file);
  if (!index) {
    (void)catalog_.note_upload(rec.computer_id, clock_->now_ms(), "segment " + seq_text + " rejected: " + index.error().message);
    return fail(Errc::unprocessable, "the segment is not a valid fragmented MP4: " + index.error().message);
  }
  auto key = signing_key_of(agent, rec, in);
  Segment seg;
  if (key && *key) {
    const auto times = evidence::media_times(*index);
    const evidence::SegmentStatement statement{
        rec.id,         rec.computer_id, in.seq, in.sha256, in.size_bytes, times.first_ms, times.last_ms,
        in.events_sha256.value_or(std::string(evidence::kNoEvents))};
    auto sig = evidence::parse_signature_header(*in.signature);
    auto pub = keys::public_key_from_base64((*key)->public_key);
    keys::Keyring ring;
    if (pub) ring.add(*pub);
    if (auto v = ring.verify((*key)->key_id, evidence::signed_bytes(statement), sig->signature); !v) {
      key = refuse_signature(Errc::unprocessable, "signature_invalid",
                    "the signature of segment " + seq_text + " by key " + (*key)->key_id +
                        " does not match its recording, computer, seq, hash, size, media times (" +
                        std::to_string(times.first_ms) + ".." + std::to_string(times.last_ms) +
                        " ms) and events digest");
    } else {
      seg.signature_key_id = (*key)->key_id;
      seg.signature = sig->signature;
    }
  }
  if (!key) {
    const auto& e = key.error();
    (void)catalog_.note_upload(rec.computer_id, clock_->now_ms(), "segment " + seq_text + " refused: " + e.message);
    if (const auto reason = signature_refusal(e); !reason.empty()) {
      audit_.record_as("agent:" + rec.computer_id, "segment.signature_refused", rec.id,
                       {{"seq", in.seq}, {"reason", reason}, {"detail", e.message}});
    }
    return std::unexpected(e);
  }
  seg.recording_id = rec.id;
  seg.seq = in.seq;
  seg.object_key = in.object_key;
  seg.size_bytes = static_cast<std::int64_t>(std::min<std::uint64_t>(in.size_bytes, INT64_MAX));
  seg.sha256 = in.sha256;
  seg.start_offset_ms = index->start_ms();
  seg.duration_ms = index->duration_ms();
  seg.index_json = media::to_json(*index).dump();
  seg.created_at = clock_->now_ms();
  seg.events_sha256 = in.events_sha256;
  // The object first: a catalog row never points at a missing object.
  if (auto st = in.encoded_by ? store_.put_encoded_file(seg.object_key, in.file, *in.encoded_by)
                              : store_.put_handed_over_file(seg.object_key, in.file, seg.sha256);
      !st) {
    return std::unexpected(st.error());
  }
  auto added = catalog_.add_segment(seg);
  if (!added) {
    // Lost a race with other bytes (conflict), or the recording was deleted
    // while the object was stored (not_found): nothing will point at it.
    if (added.error().code == Errc::conflict || added.error().code == Errc::not_found) {
      (void)store_.remove(seg.object_key);
    }
    return std::unexpected(added.error());
  }
  (void)catalog_.note_upload(rec.computer_id, clock_->now_ms(), "");
  return SegmentAccepted{std::move(seg), *added == SegmentOutcome::inserted};
}

Result<int> AgentService::note_silent_agents() {
  int audited = 0;
  for (;;) {
    const auto now = clock_->now_ms();
    auto silent = catalog_.list_newly_silent(now - settings_.offline_after_ms, 100);
    if (!silent) return std::unexpected(silent.error());
    if (silent->empty()) return audited;
    for (const auto& quiet : *silent) {
      auto computer = catalog_.get_computer(quiet.computer_id);
      if (!computer) {
        if (computer.error().code == Errc::not_found) continue;  // deleted meanwhile
        return std::unexpected(computer.error());
      }
      auto policy = catalog_.effective_policy(computer->id);
      if (!policy) return std::unexpected(policy.error());
      auto why = silent_during_session(catalog_, *computer, *policy, now, settings_.offline_after_ms);
      if (!why) return std::unexpected(why.error());
      // Noted first: a heartbeat arriving now makes this false, and then the
      // agent is back and there is nothing to report.
      auto noted = catalog_.note_silence(computer->id, quiet.last_seen_at);
      if (!noted) return std::unexpected(noted.error());
      if (!*noted || !*why) continue;
      audit_.record_as("system", "agent.silent", computer->id,
                       {{"last_heartbeat", format_rfc3339(quiet.last_seen_at)},
                        {"computer_name", computer->name},
                        {"policy_id", policy->policy->id},
                        {"detail", **why}});
      spdlog::warn("agent of computer {} silent since {} during a recorded session", computer->id,
                   format_rfc3339(quiet.last_seen_at));
      ++audited;
    }
  }
}

}  // namespace deskaudit::service

#include "agent/uploader.hpp"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "activity/document.hpp"
#include "agent/state.hpp"
#include "common/crypto.hpp"
#include "common/fs.hpp"
#include "events/events.hpp"
#include "evidence/segment_statement.hpp"
#include "media/fmp4.hpp"
#include "common/posix_compat.hpp"

namespace deskaudit::agent {

namespace fs = std::filesystem;

Uploader::Uploader(Spool& spool, UploaderOptions options, std::function<void(const Error&)> report_error)
    : spool_(spool), options_(std::move(options)), report_error_(std::move(report_error)) {}

Uploader::~Uploader() { stop(); }

void Uploader::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { run(); });
}

void Uploader::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Uploader::wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
    idle_ = false;
  }
  cv_.notify_all();
}

bool Uploader::drain(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mu_);
  draining_ = true;
  drain_kick_ = true;
  woken_ = true;
  idle_ = false;
  cv_.notify_all();
  const bool done = cv_.wait_until(lock, deadline, [&] { return idle_ || stop_; }) && idle_;
  draining_ = false;
  return done;
}

void Uploader::run() {
  AgentApi api(options_.server_url, options_.agent_token, options_.http);
  Backoff backoff(options_.backoff);
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
      woken_ = false;
    }
    const UploadPass p = pass(api);
    std::unique_lock lock(mu_);
    if (p.blocked) {
      idle_ = false;
      // While draining for shutdown, retry at the short end of the range;
      // but never sooner than the server asked.
      auto delay = draining_ ? std::min(backoff.next(), std::chrono::milliseconds(1000)) : backoff.next();
      if (p.retry_after) {
        delay = std::max<std::chrono::milliseconds>(delay, std::min(*p.retry_after, kMaxRetryAfter));
      }
      cv_.wait_for(lock, delay, [&] { return stop_ || drain_kick_; });
      drain_kick_ = false;
      continue;
    }
    backoff.reset();
    idle_ = !p.pending;
    cv_.notify_all();  // drain() waiters
    cv_.wait_for(lock, options_.idle_poll, [&] { return stop_ || woken_; });
  }
}

UploadPass Uploader::pass(AgentApi& api) {
  UploadPass out;
  if (options_.signing_key != nullptr && !key_registered_) {
    // Agents enrolled before signing existed, and a key that failed to
    // register at enrollment: the server refuses unsigned uploads only once
    // it knows a key, so this must come before the first signed upload.
    auto id = api.register_key(options_.signing_key->current().base64());
    if (!id) {
      report_error_(with_context(id.error(), "registering the agent's signing key"));
      out.retry_after = api.last_reply().retry_after;
      out.blocked = true;
      return out;
    }
    key_registered_ = true;
    spdlog::info("signing key registered key_id={}", *id);
  }
  auto dirs = spool_.recordings();
  if (!dirs) {
    report_error_(dirs.error());
    out.blocked = true;
    return out;
  }
  for (const auto& dir : *dirs) {
    if (!upload_recording(api, dir, out)) {
      out.blocked = true;
      return out;
    }
    {
      std::lock_guard lock(mu_);
      if (stop_) break;
    }
  }
  return out;
}

bool Uploader::refused(AgentApi& api, const fs::path& dir, const Error& error, UploadPass& out) {
  const LastReply reply = api.last_reply();
  if (!permanent_rejection(reply.http_status)) {
    report_error_(error);
    out.retry_after = reply.retry_after;
    return false;
  }
  report_error_(with_context(error, "the server refused recording " + dir.filename().string() +
                                        " for good: it is set aside (see deskaudit-agent spool list)"));
  const SetAsideReason reason{reply.http_status, error.message, SystemClock().now_ms()};
  if (auto st = spool_.update(dir, [&](RecordingMeta& m) { m.set_aside = reason; }); !st) {
    report_error_(st.error());
    return false;
  }
  return set_aside_if_finished(dir, out);
}

bool Uploader::set_aside_if_finished(const fs::path& dir, UploadPass& out) {
  auto meta = spool_.load(dir);
  if (!meta) {
    report_error_(meta.error());
    return false;
  }
  // The recorder may still be writing into an open recording: it moves once
  // finished; until then the uploader passes it by.
  if (!meta->finished) return true;
  auto moved = spool_.set_aside(dir, *meta->set_aside);
  if (!moved) {
    report_error_(with_context(moved.error(), "setting aside " + dir.filename().string()));
    return false;
  }
  ++out.recordings_set_aside;
  spdlog::warn("recording set aside local_id={} server_id={} http_status={}", meta->local_id,
               meta->server_id.value_or("-"), meta->set_aside->http_status);
  return true;
}

std::string Uploader::segment_signature(const std::string& recording_id, const SegmentFile& segment,
                                        const std::string& sha256_hex, std::uint64_t size_bytes,
                                        const std::string& events_sha256_hex) const {
  if (options_.signing_key == nullptr) return {};
  // The media times as the server will read them from the same bytes.
  auto index = media::index_segment_file(segment.path);
  if (!index) return {};
  const auto times = evidence::media_times(*index);
  const evidence::SegmentStatement statement{
      recording_id,  options_.computer_id,
      segment.seq,   sha256_hex,
      size_bytes,    times.first_ms,
      times.last_ms, events_sha256_hex.empty() ? std::string(evidence::kNoEvents) : events_sha256_hex};
  const auto sig = options_.signing_key->sign(evidence::signed_bytes(statement));
  return evidence::signature_header({sig.key_id, sig.signature});
}

Result<std::string> Uploader::events_body(const fs::path& path, const std::string& recording_id) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::string();  // no events in this segment
  auto text = read_file(path, events::kMaxDocumentBytes + 4096);
  if (!text) return fail(Errc::corrupt, text.error().message);
  // The spool's document does not know the server's id (the recording may
  // be created long after; its recording_id is empty): it is set once, on
  // disk, so every retry sends the same bytes.
  auto doc = nlohmann::json::parse(*text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return fail(Errc::corrupt, path.string() + " is not an events document");
  }
  // (A retried set-aside recording may have been created anew: its new id.)
  const auto* id = doc.contains("recording_id") ? doc["recording_id"].get_ptr<const std::string*>() : nullptr;
  if (id == nullptr || *id != recording_id) {
    auto with_id = activity::with_recording_id(*text, recording_id);
    if (!with_id) return fail(Errc::corrupt, path.string() + ": " + with_id.error().message);
    if (auto st = write_file_atomic(path, *with_id); !st) return std::unexpected(st.error());
    *text = std::move(*with_id);
  }
  return std::move(*text);
}

namespace {

constexpr std::string_view kUnreadableSuffix = ".unreadable";

// Whether an earlier pass kept an unreadable events document in `dir`.
bool has_unreadable_events(const fs::path& dir) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename().string().ends_with(kUnreadableSuffix)) return true;
  }
  return false;
}

SetAsideReason kept_files_reason(const std::string& recording_id, bool unreadable) {
  return SetAsideReason{
      unreadable ? 0 : 409,
      unreadable ? "an activity events document of " + recording_id +
                       " could not be read; its segment was uploaded without it (kept as "
                       ".unreadable)"
                 : "the server holds other bytes for a segment of " + recording_id + " (ours kept as .conflict)",
      SystemClock().now_ms()};
}

}  // namespace

bool Uploader::upload_recording(AgentApi& api, const fs::path& dir, UploadPass& out) {
  auto meta = spool_.load(dir);
  if (!meta) {
    report_error_(meta.error());
    return false;
  }
  auto segments = list_segments(dir);
  if (!segments) {
    report_error_(segments.error());
    return false;
  }
  bool has_closed = false, has_conflict = false, has_part = false;
  for (const auto& s : *segments) {
    has_closed |= s.kind == SegmentFile::Kind::closed;
    has_conflict |= s.kind == SegmentFile::Kind::conflict;
    has_part |= s.kind == SegmentFile::Kind::part;
  }
  bool has_unreadable = has_unreadable_events(dir);
  if (meta->set_aside) return set_aside_if_finished(dir, out);
  if (meta->finish_confirmed) {
    // Finished on the server with .conflict or .unreadable files kept (also
    // by an earlier agent version, which left them in the queue).
    if (auto st = spool_.update(dir,
                                [&](RecordingMeta& m) {
                                  m.set_aside = kept_files_reason(meta->server_id.value_or(meta->local_id),
                                                                  has_unreadable && !has_conflict);
                                });
        !st) {
      report_error_(st.error());
      return false;
    }
    return set_aside_if_finished(dir, out);
  }
  // A recording that never wrote a segment and never reached the server
  // (the recorder could not start, or was stopped at once) leaves nothing.
  if (!meta->server_id && meta->finished && !has_closed && !has_part && !has_conflict) {
    if (auto st = spool_.remove(dir); !st) report_error_(st.error());
    return true;
  }
  // Its start is not known before the recorder's first frame (Agent sets it
  // then and wakes us): the server recording is created with the true one.
  if (!meta->server_id && meta->awaiting_first_frame && !meta->finished) return true;
  if (!meta->server_id) {
    // A name an older agent spooled may exceed what the server takes.
    auto id = api.create_recording(NewRecording{meta->local_id, usable_username(meta->username), meta->start_time,
                                                meta->policy_id, meta->policy_version});
    if (!id) return refused(api, dir, with_context(id.error(), "creating the server recording"), out);
    meta->server_id = *id;
    if (auto st = spool_.update(dir, [&](RecordingMeta& m) { m.server_id = *id; }); !st) {
      report_error_(st.error());
      return false;
    }
    ++out.recordings_created;
    spdlog::info("recording created server_id={} local_id={} user={}", *id, meta->local_id, meta->username);
  }
  for (const auto& seg : *segments) {
    if (seg.kind != SegmentFile::Kind::closed) continue;
    std::error_code ec;
    const auto size = fs::file_size(seg.path, ec);
    if (ec) {
      report_error_(Error{Errc::io, "stat " + seg.path.string() + ": " + ec.message(), {}});
      return false;
    }
    auto sha = sha256_file_hex(seg.path);
    if (!sha) {
      report_error_(sha.error());
      return false;
    }
    // The events document goes first: the segment names its hash, and the
    // server stores no segment whose document it does not hold.
    const fs::path events_path = dir / events_file_name(seg.seq);
    auto body = events_body(events_path, *meta->server_id);
    if (!body && body.error().code == Errc::corrupt) {
      // Unreadable here, so unreadable on any retry: keep it for an operator,
      // say so, and upload the video without it.
      const fs::path kept = fs::path(events_path).concat(kUnreadableSuffix);
      if (::rename(events_path.c_str(), kept.c_str()) != 0) {
        report_error_(Error{Errc::io, errno_message("rename " + events_path.string(), errno), {}});
        return false;
      }
      report_error_(with_context(body.error(), "the activity events of segment " + std::to_string(seg.seq) + " of " +
                                                   *meta->server_id +
                                                   " are unreadable: the segment is uploaded "
                                                   "without them, the document is kept as " +
                                                   kept.string() + " and the recording set aside once finished"));
      has_unreadable = true;
      body = std::string();
    }
    if (!body) {
      // A local failure (writing the document back): no server answer to go
      // by, so retried like a network error.
      report_error_(body.error());
      return false;
    }
    std::string events = body->empty() ? std::string() : sha256_hex(*body);
    Status st;
    if (!events.empty()) {
      st = api.put_events(*meta->server_id, seg.seq, *body, events);
      if (!st && api.last_reply().http_status == 422 && st.error().field == "format") {
        // A server older than the document's version (deskaudit-events/2):
        // the same events as version 1, which it stores instead (nothing
        // was stored, so nothing is replaced); kept on disk for retries.
        auto doc = events::parse_document(*body, *meta->server_id, seg.seq);
        if (doc) {
          const std::string v1 = events::to_json(*doc).dump();
          if (auto wst = write_file_atomic(events_path, v1); !wst) {
            report_error_(wst.error());
            return false;
          }
          *body = v1;
          events = sha256_hex(*body);
          spdlog::info("events of segment {} of {} sent as version 1: the server refused version 2", seg.seq,
                       *meta->server_id);
          st = api.put_events(*meta->server_id, seg.seq, *body, events);
        }
      }
    }
    if (st) {
      st = api.put_segment(*meta->server_id, seg.seq, seg.path, size, *sha, events,
                           segment_signature(*meta->server_id, seg, *sha, size, events));
    }
    if (!st && api.last_reply().http_status == 409) {
      // The server holds different bytes under this seq: keep ours for an
      // operator to compare, report it, and move on rather than loop.
      const fs::path kept = fs::path(seg.path).concat(".conflict");
      if (!events.empty()) {
        const fs::path kept_events = fs::path(events_path).concat(".conflict");
        if (::rename(events_path.c_str(), kept_events.c_str()) != 0 && errno != ENOENT) {
          report_error_(Error{Errc::io, errno_message("rename " + events_path.string(), errno), {}});
          return false;
        }
      }
      report_error_(with_context(st.error(), "segment " + std::to_string(seg.seq) + " of " + *meta->server_id +
                                                 " kept as " + kept.string()));
      if (::rename(seg.path.c_str(), kept.c_str()) != 0) {
        report_error_(Error{Errc::io, errno_message("rename " + seg.path.string(), errno), {}});
        return false;
      }
      has_conflict = true;
      continue;
    }
    if (!st) return refused(api, dir, st.error(), out);
    // Confirmed by the server (it checked X-Content-SHA256): now it may go.
    if (::unlink(seg.path.c_str()) != 0) {
      report_error_(Error{Errc::io, errno_message("unlink " + seg.path.string(), errno), {}});
      return false;
    }
    if (!events.empty() && ::unlink(events_path.c_str()) != 0 && errno != ENOENT) {
      report_error_(Error{Errc::io, errno_message("unlink " + events_path.string(), errno), {}});
    }
    if (auto fst = fsync_dir(dir); !fst) report_error_(fst.error());
    ++out.segments_uploaded;
    spdlog::debug("segment uploaded recording={} seq={} bytes={}", *meta->server_id, seg.seq, size);
  }
  // Re-read: the recorder may have finished it while we uploaded.
  meta = spool_.load(dir);
  if (!meta) {
    report_error_(meta.error());
    return false;
  }
  auto left = list_segments(dir);
  if (!left) {
    report_error_(left.error());
    return false;
  }
  for (const auto& s : *left) {
    if (s.kind != SegmentFile::Kind::conflict) {
      out.pending = true;  // a new segment, or the open .part
      return true;
    }
  }
  if (!meta->finished) {
    out.pending = true;
    return true;
  }
  const EpochMs end = meta->end_time.value_or(meta->start_time + meta->media_end_ms);
  if (auto st = api.finish(*meta->server_id, end, finish_status_name(meta->status));
      !st && api.last_reply().http_status != 409) {
    // 409 = already finished (a retry after a lost reply): done.
    return refused(api, dir, with_context(st.error(), "finishing recording " + *meta->server_id), out);
  }
  ++out.recordings_finished;
  spdlog::info("recording finished server_id={} status={}", *meta->server_id, finish_status_name(meta->status));
  if (has_conflict || has_unreadable) {
    // Keep our bytes for an operator to compare with the server's, and an
    // unreadable events document for a look at what damaged it.
    if (auto st = spool_.update(dir,
                                [&](RecordingMeta& m) {
                                  m.finish_confirmed = true;
                                  m.set_aside = kept_files_reason(*meta->server_id, has_unreadable && !has_conflict);
                                });
        !st) {
      report_error_(st.error());
      return true;
    }
    return set_aside_if_finished(dir, out);
  }
  if (auto st = spool_.remove(dir); !st) report_error_(st.error());
  return true;
}

}  // namespace deskaudit::agent

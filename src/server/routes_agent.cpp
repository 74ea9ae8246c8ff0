// The agent side: enroll, heartbeat, policy, recordings and segment upload.
// An agent touches only its own computer: every recording id is checked
// against the credential's computer, and foreign ids look absent (404).
#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <tuple>

#include <spdlog/spdlog.h>

#include "common/crypto.hpp"
#include "common/fs.hpp"
#include "common/http_status.hpp"
#include "events/events.hpp"
#include "evidence/segment_statement.hpp"
#include "media/fmp4.hpp"
#include "server/services.hpp"
#include "server/views.hpp"
#include "storage/layout.hpp"

namespace deskaudit::server {
namespace {

using namespace catalog;

Result<std::int64_t> parse_seq(const std::string& text) {
  std::int64_t seq = -1;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), seq);
  if (ec != std::errc() || p != text.data() + text.size() || seq < 0 || seq > service::kMaxSegmentSeq) {
    return fail(Errc::invalid_argument, "segment number must be a whole number from 0 to 10000000", "seq");
  }
  return seq;
}

// Removes a temp file when it goes out of scope.
struct TempFile {
  std::filesystem::path path;
  ~TempFile() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove(path, ec);
  }
};

// A segment's temp file. With `direct` (a local store, which fsyncs and
// renames this very file into place) it is written with O_DIRECT where the
// file system allows it: the block layer takes the bytes from an aligned
// buffer of ours instead of the kernel copying each one into the page cache,
// the largest CPU cost of an upload (bench/ingest: 3.0 -> 1.7 CPU s/GiB).
// Nothing reads it back: the index is made as the body arrives, and an
// encrypting store's encoder seals each chunk straight into that buffer
// (the storage::ByteOutput side). Whole aligned blocks go out direct, the
// tail at the end through the page cache. Without `direct` (an S3 store
// reads the file back at once, and never needs it on disk) or where
// O_DIRECT is refused (tmpfs): buffered writes, an encoder's through the
// same buffer.
class SegmentFile final : public storage::ByteOutput {
 public:
  static constexpr std::size_t kBlock = 1 << 20;  // a multiple of any logical block size
  Status open(const std::filesystem::path& path, bool direct) {
    path_ = path.string();
    const int flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC;
    if (direct) {
      fd_ = UniqueFd(::open(path.c_str(), flags | O_DIRECT, 0600));
      if (fd_) {
        direct_ = true;
        return allocate();
      }
      if (errno != EINVAL) return fail(Errc::io, errno_message("create " + path_, errno));
    }
    fd_ = UniqueFd(::open(path.c_str(), flags, 0600));
    if (!fd_) return fail(Errc::io, errno_message("create " + path_, errno));
    return {};
  }
  Status write(const char* data, std::size_t n) {
    if (!direct_ && used_ == 0) return write_all(fd_.get(), data, n, path_);
    return storage::ByteOutput::write(std::as_bytes(std::span(data, n)));
  }
  Result<std::span<std::byte>> space() override {
    if (!buf_) {
      if (auto st = allocate(); !st) return std::unexpected(st.error());
    }
    return std::span(reinterpret_cast<std::byte*>(buf_.get()) + used_, kBlock - used_);
  }
  Status commit(std::size_t n) override {
    used_ += std::min(n, kBlock - used_);
    if (used_ < kBlock) return {};
    used_ = 0;
    return write_all(fd_.get(), buf_.get(), kBlock, path_);
  }
  // Writes what is left and closes.
  Status finish() {
    if (used_ > 0) {
      if (direct_) {
        const int flags = ::fcntl(fd_.get(), F_GETFL);
        if (flags < 0 || ::fcntl(fd_.get(), F_SETFL, flags & ~O_DIRECT) != 0)
          return fail(Errc::io, errno_message("fcntl " + path_, errno));
      }
      if (auto st = write_all(fd_.get(), buf_.get(), used_, path_); !st) return st;
      used_ = 0;
    }
    fd_.reset();
    return {};
  }

 private:
  struct Free {
    void operator()(char* p) const { std::free(p); }
  };
  Status allocate() {
    buf_.reset(static_cast<char*>(std::aligned_alloc(4096, kBlock)));
    if (!buf_) return fail(Errc::io, "out of memory for an upload buffer");
    return {};
  }
  std::string path_;
  UniqueFd fd_;
  bool direct_ = false;
  std::unique_ptr<char, Free> buf_;
  std::size_t used_ = 0;  // bytes of buf_ not yet written
};

// The JSON object field `field` as sent (null when absent).
Json field_of(const Json& body, std::string_view field) {
  const auto it = body.find(field);
  return it == body.end() ? Json(nullptr) : *it;
}

Status enroll(Services& s, Context& ctx) {
  auto body = ctx.json_body();
  if (!body) return std::unexpected(body.error());
  service::EnrollRequest in;
  for (auto [field, out, required] :
       {std::tuple{"enrollment_token", &in.enrollment_token, true}, std::tuple{"hostname", &in.hostname, true},
        std::tuple{"os", &in.os, false}, std::tuple{"agent_version", &in.agent_version, false},
        std::tuple{"name", &in.name, false}, std::tuple{"public_key", &in.public_key, false}}) {
    auto text = get_string(*body, field, required);
    if (!text) return std::unexpected(text.error());
    *out = std::move(*text);
  }
  auto enrolled = s.agents->enroll(in);
  if (!enrolled) return std::unexpected(enrolled.error());
  const auto& c = enrolled->computer;
  Json out = {{"computer_id", c.id},
              {"agent_token", enrolled->agent_token},
              {"pool_id", c.pool_id ? Json(*c.pool_id) : Json(nullptr)}};
  if (!in.public_key.empty()) out["key_id"] = keys::public_key_from_base64(in.public_key)->key_id;
  ctx.reply(out, 201);
  return {};
}

// An agent's new signing key (agents enrolled before signing existed, and
// key rotation); idempotent for the current key.
Status register_key(Services& s, Context& ctx) {
  auto body = ctx.json_body();
  if (!body) return std::unexpected(body.error());
  auto key = get_string(*body, "public_key");
  if (!key) return std::unexpected(key.error());
  auto registered = s.agents->register_key(caller_of(ctx.principal), *key);
  if (!registered) return std::unexpected(registered.error());
  ctx.reply({{"key_id", registered->key.key_id},
             {"created_at", format_rfc3339(registered->key.created_at)},
             {"status", registered->inserted ? "registered" : "already_current"}},
            registered->inserted ? 201 : 200);
  return {};
}

Status heartbeat(Services& s, Context& ctx) {
  auto body = ctx.json_body();
  if (!body) return std::unexpected(body.error());
  service::AgentReport report;
  auto version = get_string(*body, "agent_version", false);
  if (!version) return std::unexpected(version.error());
  report.agent_version = std::move(*version);
  auto spool = get_int(*body, "spool_bytes");
  if (!spool) return std::unexpected(spool.error());
  report.spool_bytes = spool->value_or(0);
  auto err = get_string(*body, "last_error", false);
  if (!err) return std::unexpected(err.error());
  report.last_error = std::move(*err);
  auto count = get_int(*body, "set_aside_count");
  if (!count) return std::unexpected(count.error());
  report.set_aside_count = *count;
  report.capture = field_of(*body, "capture");
  report.session = field_of(*body, "session");
  report.set_aside = field_of(*body, "set_aside");
  auto policy = s.agents->heartbeat(caller_of(ctx.principal), report);
  if (!policy) return std::unexpected(policy.error());
  ctx.reply({{"policy_etag", policy->etag}, {"server_time", format_rfc3339(s.now())}});
  return {};
}

Status agent_policy(Services& s, Context& ctx) {
  auto policy = s.agents->policy(caller_of(ctx.principal));
  if (!policy) return std::unexpected(policy.error());
  Json j = to_json(*policy);
  j["computer_id"] = ctx.principal.computer_id;
  ctx.reply(j);
  return {};
}

// What the agent names besides (policy_id, policy_version, retention) is
// ignored: the server picks the policy.
Status start_recording(Services& s, Context& ctx) {
  auto body = ctx.json_body();
  if (!body) return std::unexpected(body.error());
  auto user = get_string(*body, "username");
  if (!user) return std::unexpected(user.error());
  auto start = get_time(*body, "start_time");
  if (!start) return std::unexpected(start.error());
  if (!*start) return fail(Errc::unprocessable, "start_time is required", "start_time");
  auto rec = s.agents->start_recording(caller_of(ctx.principal), {std::move(*user), **start});
  if (!rec) return std::unexpected(rec.error());
  ctx.reply({{"id", rec->id}, {"retention_days", rec->retention_days}}, 201);
  return {};
}

Status finish_recording(Services& s, Context& ctx) {
  auto body = ctx.json_body();
  if (!body) return std::unexpected(body.error());
  const auto caller = caller_of(ctx.principal);
  // A foreign or missing recording answers 404 before the body is judged.
  if (auto rec = s.agents->own_recording(caller, ctx.param(1)); !rec) return std::unexpected(rec.error());
  auto end = get_time(*body, "end_time");
  if (!end) return std::unexpected(end.error());
  if (!*end) return fail(Errc::unprocessable, "end_time is required", "end_time");
  auto status_text = get_string(*body, "status", false);
  if (!status_text) return std::unexpected(status_text.error());
  auto status = status_text->empty() ? std::optional(RecordingStatus::complete) : recording_status_from(*status_text);
  if (!status) return fail(Errc::unprocessable, "status must be \"complete\" or \"interrupted\"", "status");
  auto done = s.agents->finish_recording(caller, ctx.param(1), {**end, *status});
  if (!done) return std::unexpected(done.error());
  // The signed manifest now; should this fail, the first export writes it.
  if (auto m = s.evidence->manifest(*done); !m) {
    spdlog::warn("manifest of recording {} not written yet: {}", done->id, m.error().message);
  }
  ctx.reply(to_json(*done));
  return {};
}

// What every upload names: the agent's own recording (404 otherwise), the
// segment number and the body's claimed SHA-256.
struct UploadTarget {
  service::Caller caller;
  Recording rec;
  std::int64_t seq = 0;
  std::string claimed_sha;
};

Result<UploadTarget> upload_target(Services& s, Context& ctx) {
  UploadTarget t{caller_of(ctx.principal), {}, 0, ctx.req.get_header_value("X-Content-SHA256")};
  auto rec = s.agents->own_recording(t.caller, ctx.param(1));
  if (!rec) return std::unexpected(rec.error());
  t.rec = std::move(*rec);
  auto seq = parse_seq(ctx.param(2));
  if (!seq) return std::unexpected(seq.error());
  t.seq = *seq;
  if (!is_sha256_hex(t.claimed_sha)) {
    return fail(Errc::invalid_argument, "X-Content-SHA256 must be the body's SHA-256 as 64 lowercase hex digits",
                "X-Content-SHA256");
  }
  return t;
}

// The transport's part of an upload: headers checked, the body streamed to
// a private temp file while hashing (never whole in memory); the service
// decides what to accept and keeps the books.
Status upload_segment(Services& s, Context& ctx) {
  auto target = upload_target(s, ctx);
  if (!target) return std::unexpected(target.error());
  const auto& [caller, rec, seq, claimed_sha] = *target;
  if (!ctx.req.content_length) {
    return fail(Errc::invalid_argument, "Content-Length is required for segment uploads", "Content-Length");
  }
  const auto claimed_size = *ctx.req.content_length;
  if (auto st = s.agents->admit_upload(caller, rec, seq, claimed_size); !st) return st;

  // The key is known before the body: a body whose SHA-256 is not the
  // claimed one is refused (AgentService::accept_segment) and never stored.
  auto key = storage::segment_key(rec.computer_id, rec.id, seq, claimed_sha);
  if (!key) return std::unexpected(key.error());
  // An encrypting store seals each chunk as it arrives; the file then holds
  // the sealed object, handed over as it is.
  auto encoder = s.store->encoder(*key, claimed_size);
  if (!encoder) return std::unexpected(encoder.error());
  TempFile tmp{s.incoming_dir / (random_id("up-") + ".part")};
  SegmentFile file;
  if (auto st = file.open(tmp.path, s.config.store.starts_with("file://")); !st) return st;
  Sha256 hash;
  media::SegmentIndexer indexer;
  std::uint64_t received = 0;
  Status write_status;
  bool too_large = false;
  const auto limit = static_cast<std::uint64_t>(s.config.max_segment_bytes);
  const bool complete = ctx.read_body([&](const char* data, std::size_t n) {
    if (received + n > limit || received + n > claimed_size) {
      too_large = true;
      return false;
    }
    // Hash, index and write (or seal) a slice at a time, so each pass reads
    // from cache what the one before it just read, instead of reading a
    // whole piece from memory again.
    constexpr std::size_t kSlice = 256 * 1024;
    for (std::size_t at = 0; at < n && write_status; at += kSlice) {
      const auto slice = std::as_bytes(std::span(data + at, std::min(kSlice, n - at)));
      hash.update(slice);
      indexer.update(slice);
      write_status = *encoder ? (*encoder)->update(slice, file)
                              : file.write(reinterpret_cast<const char*>(slice.data()), slice.size());
    }
    received += n;
    return write_status.has_value();
  });
  if (!write_status) return write_status;
  if (too_large) return fail(Errc::too_large, "the body is longer than Content-Length or the segment limit");
  if (!complete || received != claimed_size) {
    return fail(Errc::invalid_argument, "the body ended after " + std::to_string(received) + " of " +
                                            std::to_string(claimed_size) + " bytes");
  }
  if (*encoder) {
    if (auto st = (*encoder)->finish(file); !st) return st;
  }
  // No fsync here: the store makes the object durable (the local store
  // renames this very file into place after an fsync; S3 needs no local copy).
  if (auto st = file.finish(); !st) return st;
  const auto actual_sha = hash.hex();
  std::optional<std::string> events_sha;
  if (ctx.req.has_header("X-Deskaudit-Events-SHA256")) {
    events_sha = ctx.req.get_header_value("X-Deskaudit-Events-SHA256");
    if (!is_sha256_hex(*events_sha)) {
      return fail(Errc::invalid_argument,
                  "X-Deskaudit-Events-SHA256 must be the events document's SHA-256 as 64 lowercase hex digits",
                  "X-Deskaudit-Events-SHA256");
    }
  }
  service::ReceivedSegment received_segment{seq,      claimed_sha,     actual_sha,           received,
                                            tmp.path, std::move(*key), std::move(events_sha)};
  received_segment.index = indexer.finish();
  received_segment.encoded_by = encoder->get();
  if (ctx.req.has_header(std::string(evidence::kSignatureHeader))) {
    received_segment.signature = ctx.req.get_header_value(std::string(evidence::kSignatureHeader));
  }
  auto accepted = s.agents->accept_segment(caller, rec, received_segment);
  if (!accepted) {
    // A refused signature answers its precise reason as error.code.
    const auto& e = accepted.error();
    if (const auto reason = service::signature_refusal(e); !reason.empty()) {
      ctx.reply({{"error", {{"code", std::string(reason)}, {"message", e.message}, {"field", e.field}}}},
                http_status_for(e.code));
      return {};
    }
    return std::unexpected(e);
  }
  const auto& seg = accepted->segment;
  ctx.reply({{"seq", seg.seq},
             {"sha256", seg.sha256},
             {"size_bytes", seg.size_bytes},
             {"status", accepted->inserted ? "inserted" : "already_present"}},
            accepted->inserted ? 201 : 200);
  return {};
}

// A segment's events document: small (events::kMaxDocumentBytes), read
// whole within that limit whatever the JSON body limit is, then checked and
// stored by EventService. Answers as a segment upload does.
Status upload_events(Services& s, Context& ctx) {
  auto target = upload_target(s, ctx);
  if (!target) return std::unexpected(target.error());
  const auto& [caller, rec, seq, claimed_sha] = *target;
  const auto too_large = [] {
    return fail(Errc::too_large,
                "an events document is at most " + std::to_string(events::kMaxDocumentBytes) + " bytes");
  };
  if (ctx.req.content_length && *ctx.req.content_length > events::kMaxDocumentBytes) return too_large();
  if (auto st = s.agents->admit_upload(caller, rec, seq, ctx.req.content_length.value_or(0)); !st) return st;
  service::ReceivedEvents in{seq, claimed_sha, {}};
  bool over = false;
  const bool complete = ctx.read_body([&](const char* data, std::size_t n) {
    if (in.body.size() + n > events::kMaxDocumentBytes) {
      over = true;
      return false;
    }
    in.body.append(data, n);
    return true;
  });
  if (over) return too_large();
  if (!complete || (ctx.req.content_length && in.body.size() != *ctx.req.content_length)) {
    return fail(Errc::invalid_argument, "the body ended after " + std::to_string(in.body.size()) + " bytes");
  }
  auto accepted = s.events->accept_document(caller, rec, in);
  if (!accepted) return std::unexpected(accepted.error());
  const auto& doc = accepted->document;
  ctx.reply({{"seq", doc.seq},
             {"sha256", doc.sha256},
             {"size_bytes", doc.size_bytes},
             {"event_count", doc.event_count},
             {"status", accepted->inserted ? "inserted" : "already_present"}},
            accepted->inserted ? 201 : 200);
  return {};
}

}  // namespace

void add_agent_routes(std::vector<Route>& routes, Services& s) {
  const auto on = [&s](ServiceHandler handler) { return bind_handler(s, handler); };
  routes.push_back({"POST", "/api/v1/agent/enroll", Access::open(), on(enroll), false,
                    "Enroll an agent with an enrollment token; returns its own credential"});
  routes.push_back({"POST", "/api/v1/agent/heartbeat", Access::agent(), on(heartbeat), false,
                    "Agent state report; answers with the policy's etag"});
  routes.push_back({"GET", "/api/v1/agent/policy", Access::agent(), on(agent_policy), false,
                    "The effective policy of the agent's computer"});
  routes.push_back({"POST", "/api/v1/agent/recordings", Access::agent(), on(start_recording), false,
                    "Start a recording of a user session on the agent's computer"});
  routes.push_back({"PUT", "/api/v1/agent/recordings/([^/]+)/segments/([^/]+)", Access::agent(), on(upload_segment),
                    true,
                    "Upload one segment file (streamed; X-Content-SHA256 and X-Deskaudit-Signature checked; "
                    "idempotent)"});
  routes.push_back({"PUT", "/api/v1/agent/recordings/([^/]+)/segments/([^/]+)/events", Access::agent(),
                    on(upload_events), true,
                    "Upload a segment's activity events document (before the segment; idempotent)"});
  routes.push_back({"POST", "/api/v1/agent/keys", Access::agent(), on(register_key), false,
                    "Register the agent's Ed25519 public key (retires its older keys; they stay for verification)"});
  routes.push_back({"POST", "/api/v1/agent/recordings/([^/]+)/finish", Access::agent(), on(finish_recording), false,
                    "End a recording; fixes its expiry (end time + retention)"});
}

}  // namespace deskaudit::server

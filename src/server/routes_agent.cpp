// The agent side: enroll, heartbeat, policy, recordings and segment upload.
// An agent touches only its own computer: every recording id is checked
// against the credential's computer, and foreign ids look absent (404).
#include <fcntl.h>
#include <unistd.h>

#include <charconv>

#include <spdlog/spdlog.h>

#include "common/crypto.hpp"
#include "common/fs.hpp"
#include "common/text.hpp"
#include "media/fmp4.hpp"
#include "server/services.hpp"
#include "server/views.hpp"

namespace deskaudit::server {
namespace {

using namespace catalog;

// An agent's clock may run a little ahead of the server's; no recording
// starts or ends further ahead than this. There is no lower bound: the agent
// creates the server recording when it uploads from its spool, which can be
// days after the session after an outage, and an agent that enrolled again
// (new credential, same spool) uploads sessions from before its enrollment.
constexpr std::int64_t kClockSkewMs = 5 * 60'000;
// Recordings left open longer than this (an agent reinstalled with its
// spool lost) stop counting against agent_max_open_recordings.
constexpr std::int64_t kOpenRecordingWindowMs = 24 * 3600'000;
constexpr std::size_t kMaxVersionBytes = 64;

// A name from an agent (host, computer or user name): cut to the shared
// limit on a character boundary, then held to the rules of every name.
Result<std::string> agent_name(const Json& body, std::string_view field, bool required) {
  auto text = get_string(body, field, required);
  if (!text || (!required && text->empty())) return text;
  auto cut = utf8_truncate(*text, kMaxUserNameBytes);
  if (auto st = check_name(cut, field); !st) return std::unexpected(st.error());
  return cut;
}

// Free text from an agent (versions, OS, errors): cut on a character boundary.
Result<std::string> agent_text(const Json& body, std::string_view field, std::size_t max_bytes) {
  auto text = get_string(body, field, false);
  if (!text) return text;
  return utf8_truncate(*text, max_bytes);
}

Status check_not_ahead(EpochMs t, EpochMs now, std::string_view field) {
  if (t > now + kClockSkewMs) {
    return fail(Errc::unprocessable, std::string(field) + " is more than 5 minutes ahead of the server's clock",
                std::string(field));
  }
  return {};
}

// 429 when the computer already has agent_max_open_recordings recent open ones.
Status check_open_recordings(Services& s, Context& ctx, const std::string& computer_id) {
  RecordingFilter f;
  f.computer_id = computer_id;
  f.status = RecordingStatus::recording;
  Page page;
  page.limit = 100;
  auto open = s.catalog->list_recordings(f, page);
  if (!open) return std::unexpected(open.error());
  const auto since = s.now() - kOpenRecordingWindowMs;
  const auto recent = std::ranges::count_if(open->items, [&](const Recording& r) { return r.created_at >= since; });
  if (recent >= s.config.agent_max_open_recordings) {
    return retry_later(ctx, 60'000,
                       "this computer already has " + std::to_string(recent) +
                           " recordings open (agent_max_open_recordings); finish one first");
  }
  return {};
}

Json agent_policy_json(const EffectivePolicy& eff) {
  if (!eff.policy) return {{"policy", nullptr}, {"source", "none"}, {"etag", "none"}};
  return {{"policy", to_json(*eff.policy)},
          {"source", std::string(to_string(eff.source))},
          {"etag", std::string(to_string(eff.source)) + ":" + eff.policy->id + ":" + std::to_string(eff.policy->version)}};
}

// The heartbeat's report of recordings the agent set aside, rebuilt from
// known fields only, each cut on a character boundary: at most 20 items.
Result<Json> set_aside_from(const Json& body) {
  auto count = get_int(body, "set_aside_count");
  if (!count) return std::unexpected(count.error());
  const auto it = body.find("set_aside");
  if (it != body.end() && !it->is_null() && !it->is_array()) {
    return fail(Errc::unprocessable, "set_aside must be an array", "set_aside");
  }
  if (count->value_or(0) <= 0 || it == body.end() || it->is_null()) return Json(nullptr);
  if (**count > 1'000'000'000) return fail(Errc::unprocessable, "set_aside_count is out of range", "set_aside_count");
  Json items = Json::array();
  const auto text = [](const Json& item, const char* key, std::size_t max) -> Json {
    const auto f = item.find(key);
    return f != item.end() && f->is_string() ? Json(utf8_truncate(f->get_ref<const std::string&>(), max))
                                             : Json(nullptr);
  };
  for (const auto& item : *it) {
    if (items.size() >= 20) break;
    if (!item.is_object()) return fail(Errc::unprocessable, "set_aside items must be objects", "set_aside");
    const auto status = item.find("http_status");
    items.push_back({{"local_id", text(item, "local_id", 64)},
                     {"recording_id", text(item, "recording_id", 64)},
                     {"username", text(item, "username", kMaxUserNameBytes)},
                     {"start_time", text(item, "start_time", 40)},
                     {"http_status", status != item.end() && status->is_number_integer() &&
                                             status->get<std::int64_t>() >= 100 && status->get<std::int64_t>() <= 599
                                         ? *status
                                         : Json(nullptr)},
                     {"error", text(item, "error", 512)},
                     {"set_aside_at", text(item, "set_aside_at", 40)}});
  }
  return Json{{"count", **count}, {"items", std::move(items)}};
}

Result<Recording> own_recording(Services& s, const Context& ctx, const std::string& id) {
  auto rec = s.catalog->get_recording(id);
  if (!rec || rec->computer_id != ctx.principal.computer_id) {
    if (rec || rec.error().code == Errc::not_found) return fail(Errc::not_found, "no recording " + id + " on this computer");
    return std::unexpected(rec.error());
  }
  return rec;
}

Result<std::int64_t> parse_seq(const std::string& text) {
  std::int64_t seq = -1;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), seq);
  if (ec != std::errc() || p != text.data() + text.size() || seq < 0 || seq > 10'000'000) {
    return fail(Errc::invalid_argument, "segment number must be a whole number from 0 to 10000000", "seq");
  }
  return seq;
}

std::string segment_key(const Recording& rec, std::int64_t seq, const std::string& sha256) {
  char name[32];
  std::snprintf(name, sizeof name, "%06lld", static_cast<long long>(seq));
  return "recordings/" + rec.computer_id + "/" + rec.id + "/" + name + "-" + sha256.substr(0, 16) + ".mp4";
}

// Removes a temp file when it goes out of scope.
struct TempFile {
  std::filesystem::path path;
  ~TempFile() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove(path, ec);
  }
};

Status upload_segment(Services& s, Context& ctx) {
  auto rec = own_recording(s, ctx, ctx.param(1));
  if (!rec) return std::unexpected(rec.error());
  auto seq = parse_seq(ctx.param(2));
  if (!seq) return std::unexpected(seq.error());
  const auto claimed_sha = ctx.req.get_header_value("X-Content-SHA256");
  if (!is_sha256_hex(claimed_sha)) {
    return fail(Errc::invalid_argument, "X-Content-SHA256 must be the body's SHA-256 as 64 lowercase hex digits",
                "X-Content-SHA256");
  }
  if (!ctx.req.has_header("Content-Length")) {
    return fail(Errc::invalid_argument, "Content-Length is required for segment uploads", "Content-Length");
  }
  const auto claimed_size = std::stoull(ctx.req.get_header_value("Content-Length"));
  if (rec->status != RecordingStatus::recording) {
    return fail(Errc::conflict, "recording " + rec->id + " is finished: it takes no more segments");
  }
  // Counted when admitted, whatever becomes of the body: refused bodies cost
  // the server as much as stored ones.
  const auto amount = static_cast<std::int64_t>(std::min<std::uint64_t>(claimed_size, INT64_MAX));
  if (const auto wait = s.upload_bytes->retry_after_ms(rec->computer_id, s.now(), amount); wait > 0) {
    return retry_later(ctx, wait, "this computer uploaded its agent_upload_bytes_per_hour");
  }
  s.upload_bytes->add(rec->computer_id, s.now(), amount);

  // Stream to a private temp file while hashing: never the whole body in memory.
  TempFile tmp{s.incoming_dir / (random_id("up-") + ".part")};
  UniqueFd fd(::open(tmp.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) return fail(Errc::io, errno_message("create " + tmp.path.string(), errno));
  Sha256 hash;
  std::uint64_t received = 0;
  Status write_status;
  bool too_large = false;
  const auto limit = static_cast<std::uint64_t>(s.config.max_segment_bytes);
  const bool complete = ctx.read_body([&](const char* data, std::size_t n) {
    if (received + n > limit || received + n > claimed_size) {
      too_large = true;
      return false;
    }
    hash.update(std::string_view(data, n));
    write_status = write_all(fd.get(), data, n, tmp.path.string());
    received += n;
    return write_status.has_value();
  });
  if (!write_status) return write_status;
  if (too_large) return fail(Errc::too_large, "the body is longer than Content-Length or the segment limit");
  if (!complete || received != claimed_size) {
    return fail(Errc::invalid_argument, "the body ended after " + std::to_string(received) + " of " +
                                            std::to_string(claimed_size) + " bytes");
  }
  // No fsync here: the store makes the object durable (the local store
  // renames this very file into place after an fsync; S3 needs no local copy).
  fd.reset();
  const auto actual_sha = hash.hex();
  if (actual_sha != claimed_sha) {
    (void)s.catalog->note_upload(rec->computer_id, s.now(), "segment " + std::to_string(*seq) + " arrived damaged (SHA-256 mismatch)");
    return fail(Errc::unprocessable, "SHA-256 of the body is " + actual_sha + ", not " + claimed_sha, "X-Content-SHA256");
  }
  auto existing = s.catalog->get_segment(rec->id, *seq);
  if (existing) {
    if (existing->sha256 == actual_sha) {
      ctx.reply({{"seq", *seq}, {"sha256", actual_sha}, {"size_bytes", existing->size_bytes}, {"status", "already_present"}});
      return {};
    }
    return fail(Errc::conflict, "segment " + std::to_string(*seq) + " of " + rec->id + " is already stored with other bytes");
  }
  auto index = media::index_segment_file(tmp.path);
  if (!index) {
    (void)s.catalog->note_upload(rec->computer_id, s.now(), "segment " + std::to_string(*seq) + " rejected: " + index.error().message);
    return fail(Errc::unprocessable, "the segment is not a valid fragmented MP4: " + index.error().message);
  }
  Segment seg;
  seg.recording_id = rec->id;
  seg.seq = *seq;
  seg.object_key = segment_key(*rec, *seq, actual_sha);
  seg.size_bytes = static_cast<std::int64_t>(received);
  seg.sha256 = actual_sha;
  seg.start_offset_ms = index->start_ms();
  seg.duration_ms = index->duration_ms();
  seg.index_json = media::to_json(*index).dump();
  seg.created_at = s.now();
  // The object first: a catalog row never points at a missing object.
  if (auto st = s.store->put_handed_over_file(seg.object_key, tmp.path, actual_sha); !st) return st;
  auto added = s.catalog->add_segment(seg);
  if (!added) {
    if (added.error().code == Errc::conflict) (void)s.store->remove(seg.object_key);  // lost a race with other bytes
    return std::unexpected(added.error());
  }
  (void)s.catalog->note_upload(rec->computer_id, s.now(), "");
  ctx.reply({{"seq", *seq},
             {"sha256", actual_sha},
             {"size_bytes", seg.size_bytes},
             {"status", *added == SegmentOutcome::inserted ? "inserted" : "already_present"}},
            *added == SegmentOutcome::inserted ? 201 : 200);
  return {};
}

}  // namespace

void add_agent_routes(std::vector<Route>& routes, Services& s) {
  s.upload_bytes = std::make_unique<RateLimiter>(s.config.agent_upload_bytes_per_hour, 3600'000);
  routes.push_back({"POST", "/api/v1/agent/enroll", Access::open(),
                    [&s](Context& ctx) -> Status {
                      auto body = ctx.json_body();
                      if (!body) return std::unexpected(body.error());
                      auto token = get_string(*body, "enrollment_token");
                      if (!token) return std::unexpected(token.error());
                      auto host = agent_name(*body, "hostname", true);
                      if (!host) return std::unexpected(host.error());
                      auto os = agent_text(*body, "os", kMaxNameBytes);
                      if (!os) return std::unexpected(os.error());
                      auto version = agent_text(*body, "agent_version", kMaxVersionBytes);
                      if (!version) return std::unexpected(version.error());
                      auto name = agent_name(*body, "name", false);
                      if (!name) return std::unexpected(name.error());
                      Computer c;
                      c.id = random_id("cc-");
                      c.name = name->empty() ? *host : *name;
                      c.hostname = *host;
                      c.os = *os;
                      c.created_at = s.now();
                      c.agent.agent_version = *version;
                      const auto secret = random_token(kAgentPrefix);
                      auto enrolled = s.catalog->enroll(sha256_hex(*token), c, sha256_hex(secret), s.now());
                      if (!enrolled) {
                        s.audit_as("agent:" + *host, "agent.enroll_failed", *host, {{"reason", enrolled.error().message}});
                        return std::unexpected(enrolled.error());
                      }
                      s.audit_as("agent:" + enrolled->id, "agent.enroll", enrolled->id, {{"hostname", *host}});
                      ctx.reply({{"computer_id", enrolled->id}, {"agent_token", secret},
                                 {"pool_id", enrolled->pool_id ? Json(*enrolled->pool_id) : Json(nullptr)}},
                                201);
                      return {};
                    },
                    false, "Enroll an agent with an enrollment token; returns its own credential"});
  routes.push_back({"POST", "/api/v1/agent/heartbeat", Access::agent(),
                    [&s](Context& ctx) -> Status {
                      auto body = ctx.json_body();
                      if (!body) return std::unexpected(body.error());
                      AgentState st;
                      auto version = agent_text(*body, "agent_version", kMaxVersionBytes);
                      if (!version) return std::unexpected(version.error());
                      st.agent_version = *version;
                      if (body->contains("capture") && !(*body)["capture"].is_object() && !(*body)["capture"].is_null()) {
                        return fail(Errc::unprocessable, "capture must be an object", "capture");
                      }
                      st.capture_json = body->value("capture", Json(nullptr)).dump();
                      auto spool = get_int(*body, "spool_bytes");
                      if (!spool) return std::unexpected(spool.error());
                      st.spool_bytes = spool->value_or(0);
                      auto err = agent_text(*body, "last_error", kMaxMessageBytes);
                      if (!err) return std::unexpected(err.error());
                      st.last_error = *err;
                      if (body->contains("session") && !(*body)["session"].is_object() && !(*body)["session"].is_null()) {
                        return fail(Errc::unprocessable, "session must be an object or null", "session");
                      }
                      st.session_json = body->value("session", Json(nullptr)).dump();
                      auto set_aside = set_aside_from(*body);
                      if (!set_aside) return std::unexpected(set_aside.error());
                      st.set_aside_json = set_aside->dump();
                      if (st.capture_json.size() > 4096 || st.session_json.size() > 4096) {
                        return fail(Errc::unprocessable, "capture and session must each be under 4 KiB");
                      }
                      st.last_seen_at = s.now();
                      if (auto u = s.catalog->update_agent_heartbeat(ctx.principal.computer_id, st); !u) return u;
                      auto eff = s.catalog->effective_policy(ctx.principal.computer_id);
                      if (!eff) return std::unexpected(eff.error());
                      ctx.reply({{"policy_etag", agent_policy_json(*eff)["etag"]}, {"server_time", format_rfc3339(s.now())}});
                      return {};
                    },
                    false, "Agent state report; answers with the policy's etag"});
  routes.push_back({"GET", "/api/v1/agent/policy", Access::agent(),
                    [&s](Context& ctx) -> Status {
                      auto eff = s.catalog->effective_policy(ctx.principal.computer_id);
                      if (!eff) return std::unexpected(eff.error());
                      Json j = agent_policy_json(*eff);
                      j["computer_id"] = ctx.principal.computer_id;
                      ctx.reply(j);
                      return {};
                    },
                    false, "The effective policy of the agent's computer"});
  routes.push_back({"POST", "/api/v1/agent/recordings", Access::agent(),
                    [&s](Context& ctx) -> Status {
                      auto body = ctx.json_body();
                      if (!body) return std::unexpected(body.error());
                      auto user = agent_name(*body, "username", true);
                      if (!user) return std::unexpected(user.error());
                      auto start = get_time(*body, "start_time");
                      if (!start) return std::unexpected(start.error());
                      if (!*start) return fail(Errc::unprocessable, "start_time is required", "start_time");
                      auto computer = s.catalog->get_computer(ctx.principal.computer_id);
                      if (!computer) return std::unexpected(computer.error());
                      if (auto st = check_not_ahead(**start, s.now(), "start_time"); !st) return st;
                      if (auto st = check_open_recordings(s, ctx, computer->id); !st) return st;
                      auto eff = s.catalog->effective_policy(computer->id);
                      if (!eff) return std::unexpected(eff.error());
                      Recording r;
                      r.id = random_id("rec-");
                      r.computer_id = computer->id;
                      r.computer_name = computer->name;
                      r.username = *user;
                      r.start_time = **start;
                      r.created_at = s.now();
                      // The server's choice: the policy in force for the computer
                      // now, with its retention. What the agent names (policy_id,
                      // policy_version, retention) is ignored, so no agent can
                      // file a recording under a shorter-lived policy.
                      if (eff->policy) {
                        r.policy_id = eff->policy->id;
                        r.policy_name = eff->policy->name;
                        r.retention_days = eff->policy->recording.retention_days;
                      }
                      if (auto st = s.catalog->create_recording(r); !st) return st;
                      (void)s.catalog->note_session_start(computer->id, r.start_time);
                      ctx.reply({{"id", r.id}, {"retention_days", r.retention_days}}, 201);
                      return {};
                    },
                    false, "Start a recording of a user session on the agent's computer"});
  routes.push_back({"PUT", "/api/v1/agent/recordings/([^/]+)/segments/([^/]+)", Access::agent(),
                    [&s](Context& ctx) { return upload_segment(s, ctx); }, true,
                    "Upload one segment file (streamed; X-Content-SHA256 checked; idempotent)"});
  routes.push_back({"POST", "/api/v1/agent/recordings/([^/]+)/finish", Access::agent(),
                    [&s](Context& ctx) -> Status {
                      auto body = ctx.json_body();
                      if (!body) return std::unexpected(body.error());
                      auto rec = own_recording(s, ctx, ctx.param(1));
                      if (!rec) return std::unexpected(rec.error());
                      auto end = get_time(*body, "end_time");
                      if (!end) return std::unexpected(end.error());
                      if (!*end) return fail(Errc::unprocessable, "end_time is required", "end_time");
                      if (**end < rec->start_time) return fail(Errc::unprocessable, "end_time is before start_time", "end_time");
                      if (auto st = check_not_ahead(**end, s.now(), "end_time"); !st) return st;
                      auto status_text = get_string(*body, "status", false);
                      if (!status_text) return std::unexpected(status_text.error());
                      auto status = status_text->empty() ? std::optional(RecordingStatus::complete)
                                                         : recording_status_from(*status_text);
                      if (!status || *status == RecordingStatus::recording) {
                        return fail(Errc::unprocessable, "status must be \"complete\" or \"interrupted\"", "status");
                      }
                      auto done = s.catalog->finish_recording(rec->id, **end, *status);
                      if (!done) return std::unexpected(done.error());
                      ctx.reply(to_json(*done));
                      return {};
                    },
                    false, "End a recording; fixes its expiry (end time + retention)"});
}

}  // namespace deskaudit::server

#include "agent/spool.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <fcntl.h>
#include <sys/stat.h>
#ifndef _WIN32
#include <sys/statvfs.h>
#endif
#include <unistd.h>

#include "common/crypto.hpp"
#include "common/fs.hpp"
#include "media/fmp4.hpp"
#include "common/posix_compat.hpp"

namespace deskaudit::agent {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr std::string_view kMetaFile = "recording.json";

// "seg-000012.mp4[.part|.conflict]" -> seq and kind.
std::optional<SegmentFile> parse_segment_name(const fs::path& path) {
  const std::string name = path.filename().string();
  if (!name.starts_with("seg-")) return std::nullopt;
  const auto dot = name.find(".mp4", 4);
  if (dot == std::string::npos || dot == 4 || dot - 4 > 12) return std::nullopt;
  std::int64_t seq = 0;
  const char* first = name.data() + 4;
  const char* last = name.data() + dot;
  const auto [ptr, ec] = std::from_chars(first, last, seq);
  if (ec != std::errc{} || ptr != last || seq < 0) return std::nullopt;
  const std::string_view rest = std::string_view(name).substr(dot + 4);
  SegmentFile s{seq, path, SegmentFile::Kind::closed};
  if (rest.empty()) return s;
  if (rest == ".part") {
    s.kind = SegmentFile::Kind::part;
    return s;
  }
  if (rest == ".conflict") {
    s.kind = SegmentFile::Kind::conflict;
    return s;
  }
  return std::nullopt;
}

}  // namespace

std::string_view finish_status_name(FinishStatus status) {
  return status == FinishStatus::complete ? "complete" : "interrupted";
}

json meta_to_json(const RecordingMeta& m) {
  return {{"local_id", m.local_id},
          {"server_id", m.server_id ? json(*m.server_id) : json(nullptr)},
          {"username", m.username},
          {"start_time", format_rfc3339(m.start_time)},
          {"awaiting_first_frame", m.awaiting_first_frame},
          {"policy", m.policy},
          {"policy_id", m.policy_id},
          {"policy_version", m.policy_version},
          {"next_seq", m.next_seq},
          {"media_end_ms", m.media_end_ms},
          {"finished", m.finished},
          {"status", finish_status_name(m.status)},
          {"end_time", m.end_time ? json(format_rfc3339(*m.end_time)) : json(nullptr)},
          {"finish_confirmed", m.finish_confirmed},
          {"set_aside", m.set_aside ? json{{"http_status", m.set_aside->http_status},
                                           {"error", m.set_aside->error},
                                           {"at", format_rfc3339(m.set_aside->at)}}
                                    : json(nullptr)}};
}

Result<RecordingMeta> meta_from_json(const json& d) {
  const auto bad = [](std::string what) { return fail(Errc::corrupt, "recording.json: " + what); };
  if (!d.is_object()) return bad("not a JSON object");
  RecordingMeta m;
  try {
    m.local_id = d.at("local_id").get<std::string>();
    if (m.local_id.empty()) return bad("empty local_id");
    if (const auto& s = d.at("server_id"); !s.is_null()) m.server_id = s.get<std::string>();
    m.username = d.at("username").get<std::string>();
    auto start = parse_rfc3339(d.at("start_time").get<std::string>());
    if (!start) return bad("start_time: " + start.error().message);
    m.start_time = *start;
    m.awaiting_first_frame = d.value("awaiting_first_frame", false);
    m.policy = d.value("policy", json::object());
    m.policy_id = d.value("policy_id", std::string());
    m.policy_version = d.value("policy_version", std::int64_t{0});
    m.next_seq = d.at("next_seq").get<std::int64_t>();
    m.media_end_ms = d.value("media_end_ms", std::int64_t{0});
    if (m.next_seq < 0 || m.media_end_ms < 0) return bad("negative next_seq or media_end_ms");
    m.finished = d.at("finished").get<bool>();
    const auto status = d.value("status", std::string("complete"));
    if (status == "complete") {
      m.status = FinishStatus::complete;
    } else if (status == "interrupted") {
      m.status = FinishStatus::interrupted;
    } else {
      return bad("status '" + status + "' is not complete or interrupted");
    }
    if (const auto it = d.find("end_time"); it != d.end() && !it->is_null()) {
      auto end = parse_rfc3339(it->get<std::string>());
      if (!end) return bad("end_time: " + end.error().message);
      m.end_time = *end;
    }
    m.finish_confirmed = d.value("finish_confirmed", false);
    if (const auto it = d.find("set_aside"); it != d.end() && !it->is_null()) {
      SetAsideReason r;
      r.http_status = it->at("http_status").get<long>();
      r.error = it->value("error", std::string());
      auto at = parse_rfc3339(it->at("at").get<std::string>());
      if (!at) return bad("set_aside.at: " + at.error().message);
      r.at = *at;
      m.set_aside = std::move(r);
    }
  } catch (const json::exception& e) {
    return bad(e.what());
  }
  return m;
}

std::string segment_file_name(std::int64_t seq) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "seg-%06lld.mp4", static_cast<long long>(seq));
  return buf;
}

std::string events_file_name(std::int64_t seq) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "seg-%06lld.events.json", static_cast<long long>(seq));
  return buf;
}

Result<std::vector<SegmentFile>> list_segments(const fs::path& dir) {
  std::vector<SegmentFile> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (auto s = parse_segment_name(it->path())) out.push_back(std::move(*s));
  }
  if (ec) return fail(Errc::io, "list " + dir.string() + ": " + ec.message());
  std::sort(out.begin(), out.end(), [](const SegmentFile& a, const SegmentFile& b) {
    return a.seq != b.seq ? a.seq < b.seq : a.kind < b.kind;
  });
  return out;
}

Status Spool::init() { return ensure_private_dir(root_, 0700); }

Result<fs::path> Spool::create(RecordingMeta& meta) {
  // Zero-padded creation time first: directory names sort oldest first.
  char stamp[32];
  std::snprintf(stamp, sizeof stamp, "r%015lld-", static_cast<long long>(meta.start_time));
  meta.local_id = stamp + random_id("");
  const fs::path dir = root_ / meta.local_id;
  if (::mkdir(dir.c_str(), 0700) != 0) return fail(Errc::io, errno_message("mkdir " + dir.string(), errno));
  if (auto st = save(dir, meta); !st) return std::unexpected(st.error());
  if (auto st = fsync_dir(root_); !st) return std::unexpected(st.error());
  return dir;
}

Result<RecordingMeta> Spool::load(const fs::path& dir) const {
  auto text = read_file(dir / kMetaFile, 4 << 20);
  if (!text) return std::unexpected(text.error());
  auto doc = json::parse(*text, nullptr, false);
  if (doc.is_discarded()) return fail(Errc::corrupt, (dir / kMetaFile).string() + " is not JSON");
  auto meta = meta_from_json(doc);
  if (!meta) return std::unexpected(with_context(meta.error(), dir.string()));
  return meta;
}

Status Spool::save(const fs::path& dir, const RecordingMeta& meta) {
  return write_file_atomic(dir / kMetaFile, meta_to_json(meta).dump(2) + "\n", 0600);
}

Status Spool::update(const fs::path& dir, const std::function<void(RecordingMeta&)>& fn) {
  std::lock_guard lock(mu_);
  auto meta = load(dir);
  if (!meta) return std::unexpected(meta.error());
  fn(*meta);
  return save(dir, *meta);
}

Result<std::vector<fs::path>> Spool::recordings() const {
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::directory_iterator it(root_, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_directory() && fs::exists(it->path() / kMetaFile)) out.push_back(it->path());
  }
  if (ec) return fail(Errc::io, "list " + root_.string() + ": " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

Status Spool::remove(const fs::path& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) return fail(Errc::io, "remove " + dir.string() + ": " + ec.message());
  return fsync_dir(root_);
}

namespace {

// A local id as Spool::create makes them: "r<digits>-<random>"; nothing that
// could name a path outside the set-aside area.
bool plausible_local_id(std::string_view id) {
  if (id.empty() || id.size() > 128 || id.front() != 'r') return false;
  return std::ranges::all_of(id, [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
  });
}

Status rename_dir(const fs::path& from, const fs::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return fail(Errc::io, errno_message("move " + from.string() + " to " + to.string(), errno));
  }
  if (auto st = fsync_dir(to.parent_path()); !st) return st;
  return fsync_dir(from.parent_path());
}

}  // namespace

Result<fs::path> Spool::set_aside(const fs::path& dir, SetAsideReason reason) {
  if (auto st = ensure_private_dir(set_aside_root(), 0700); !st) return std::unexpected(st.error());
  if (auto st = update(dir, [&](RecordingMeta& m) { m.set_aside = std::move(reason); }); !st) {
    return std::unexpected(st.error());
  }
  const fs::path to = set_aside_root() / dir.filename();
  if (auto st = rename_dir(dir, to); !st) return std::unexpected(st.error());
  return to;
}

Result<std::vector<fs::path>> Spool::set_aside_recordings() const {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::exists(set_aside_root(), ec)) return out;
  for (fs::directory_iterator it(set_aside_root(), ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_directory() && fs::exists(it->path() / kMetaFile)) out.push_back(it->path());
  }
  if (ec) return fail(Errc::io, "list " + set_aside_root().string() + ": " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

Status Spool::retry_set_aside(std::string_view local_id) {
  const fs::path dir = set_aside_root() / std::string(local_id);
  if (!plausible_local_id(local_id) || !fs::exists(dir / kMetaFile)) {
    return fail(Errc::not_found,
                "no set-aside recording " + std::string(local_id) + " in " + set_aside_root().string());
  }
  if (auto st = update(dir,
                       [](RecordingMeta& m) {
                         // The server recording is gone: upload it as a new one.
                         if (m.set_aside && m.set_aside->http_status == 404) m.server_id.reset();
                         m.set_aside.reset();
                         m.finish_confirmed = false;
                       });
      !st) {
    return st;
  }
  return rename_dir(dir, root_ / std::string(local_id));
}

Status Spool::delete_set_aside(std::string_view local_id) {
  const fs::path dir = set_aside_root() / std::string(local_id);
  if (!plausible_local_id(local_id) || !fs::exists(dir / kMetaFile)) {
    return fail(Errc::not_found,
                "no set-aside recording " + std::string(local_id) + " in " + set_aside_root().string());
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) return fail(Errc::io, "remove " + dir.string() + ": " + ec.message());
  return fsync_dir(set_aside_root());
}

Result<RecoveryReport> Spool::close_parts(const fs::path& dir) {
  RecoveryReport report;
  auto segments = list_segments(dir);
  if (!segments) return std::unexpected(segments.error());
  std::int64_t max_seq = -1;
  std::int64_t last_end_ms = 0;
  for (const auto& seg : *segments) {
    if (seg.kind == SegmentFile::Kind::part) {
      auto len = media::valid_prefix_length(seg.path);
      std::optional<media::FragmentIndex> index;
      if (len && *len > 0) {
        std::error_code ec;
        const auto size = fs::file_size(seg.path, ec);
        if (ec) return fail(Errc::io, "stat " + seg.path.string() + ": " + ec.message());
        if (*len < size) {
          if (::truncate(seg.path.c_str(), static_cast<off_t>(*len)) != 0) {
            return fail(Errc::io, errno_message("truncate " + seg.path.string(), errno));
          }
          report.bytes_cut += size - *len;
        }
        // The init alone (no whole fragment) does not index: such a file
        // holds no video and is dropped below.
        if (auto idx = media::index_segment_file(seg.path)) index = std::move(*idx);
      }
      if (!index) {
        // Nothing playable: an incomplete init, an init without fragments,
        // or a file that was never a segment of ours.
        if (::unlink(seg.path.c_str()) != 0) return fail(Errc::io, errno_message("unlink " + seg.path.string(), errno));
        ++report.parts_dropped;
        continue;
      }
      {
        UniqueFd fd(::open(seg.path.c_str(), O_WRONLY | O_CLOEXEC));
        if (!fd || ::fsync(fd.get()) != 0) return fail(Errc::io, errno_message("fsync " + seg.path.string(), errno));
      }
      const fs::path final_path = dir / segment_file_name(seg.seq);
      if (::rename(seg.path.c_str(), final_path.c_str()) != 0) {
        return fail(Errc::io, errno_message("rename " + seg.path.string(), errno));
      }
      ++report.parts_recovered;
    }
    max_seq = std::max(max_seq, seg.seq);
  }
  // The recording ends where its last whole fragment ends: that of the
  // highest closed segment (timestamps continue across segments).
  if (auto closed = list_segments(dir); closed) {
    for (auto it = closed->rbegin(); it != closed->rend(); ++it) {
      if (it->kind != SegmentFile::Kind::closed) continue;
      if (auto idx = media::index_segment_file(it->path)) last_end_ms = idx->start_ms() + idx->duration_ms();
      break;
    }
  }
  if (report.parts_recovered + report.parts_dropped > 0) {
    if (auto st = fsync_dir(dir); !st) return std::unexpected(st.error());
  }
  if (auto st = update(dir, [&](RecordingMeta& m) {
        m.next_seq = std::max(m.next_seq, max_seq + 1);
        m.media_end_ms = std::max(m.media_end_ms, last_end_ms);
      });
      !st) {
    return std::unexpected(st.error());
  }
  return report;
}

Result<RecoveryReport> Spool::recover(const fs::path& dir) {
  auto report = close_parts(dir);
  if (!report) return report;
  std::lock_guard lock(mu_);
  auto meta = load(dir);
  if (!meta) return std::unexpected(meta.error());
  if (meta->finished) return report;
  meta->finished = true;
  meta->status = FinishStatus::interrupted;
  meta->end_time = meta->start_time + meta->media_end_ms;
  report->marked_interrupted = true;
  if (auto st = save(dir, *meta); !st) return std::unexpected(st.error());
  return report;
}


std::uint64_t Spool::bytes() const {
  std::uint64_t total = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(root_, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code fec;
    if (it->is_regular_file(fec)) {
      const auto size = it->file_size(fec);
      if (!fec) total += size;
    }
  }
  return total;
}

Result<DiskSpace> disk_space(const fs::path& path) {
  struct statvfs st{};
  if (::statvfs(path.c_str(), &st) != 0) return fail(Errc::io, errno_message("statvfs " + path.string(), errno));
  const std::uint64_t frsize = st.f_frsize ? st.f_frsize : st.f_bsize;
  DiskSpace s;
  // f_blocks * frsize fits in 64 bits for any real file system (< 16 EiB).
  s.free_bytes = static_cast<std::uint64_t>(st.f_bavail) * frsize;
  s.total_bytes = static_cast<std::uint64_t>(st.f_blocks) * frsize;
  return s;
}

bool below_floor(const DiskSpace& space, const DiskFloor& floor) {
  if (space.free_bytes < floor.min_free_bytes) return true;
  if (space.total_bytes == 0) return false;
  const double percent = 100.0 * static_cast<double>(space.free_bytes) / static_cast<double>(space.total_bytes);
  return percent < floor.min_free_percent;
}

}  // namespace deskaudit::agent

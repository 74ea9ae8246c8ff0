#include "evidence/verify.hpp"

#include <fstream>
#include <map>
#include <set>

#include "common/crypto.hpp"
#include "common/fs.hpp"
#include "evidence/manifest.hpp"
#include "evidence/segment_statement.hpp"
#include "keys/key_service.hpp"
#include "media/fmp4.hpp"

namespace deskaudit::evidence {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxSmallFile = 64u << 20;  // manifest.json, manifest.sig, keys.json
constexpr std::uint64_t kMaxInitBytes = 16u << 20;

// Reads [offset, offset + size) of a file.
Result<std::string> read_range(const fs::path& path, std::uint64_t offset, std::uint64_t size) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(Errc::io, "open " + path.string());
  in.seekg(static_cast<std::streamoff>(offset));
  std::string out(static_cast<std::size_t>(size), '\0');
  in.read(out.data(), static_cast<std::streamsize>(size));
  if (static_cast<std::uint64_t>(in.gcount()) != size) return fail(Errc::io, "short read of " + path.string());
  return out;
}

struct Checker {
  const VerifyOptions& opt;
  VerifyReport report;
  void failure(std::string code, std::string file, std::string message) {
    report.failures.push_back({std::move(code), std::move(file), std::move(message)});
  }
};

// 3. recording.mp4 against the MP4 rebuilt from the segments.
void check_mp4(Checker& c, const Manifest& m) {
  const fs::path mp4 = c.opt.dir / kRecordingFile;
  std::error_code ec;
  const auto size = fs::file_size(mp4, ec);
  if (ec) return c.failure("mp4_missing", std::string(kRecordingFile), "recording.mp4 is missing");
  c.report.mp4_bytes = size;
  if (m.segments.empty()) return c.failure("mp4_mismatch", std::string(kRecordingFile), "the manifest lists no segment");
  std::vector<media::PlaylistSegment> segs;
  std::map<std::int64_t, fs::path> paths;
  for (const auto& s : m.segments) {
    const auto path = c.opt.dir / segment_file_name(s.seq);
    auto index = media::index_segment_file(path);
    if (!index) return c.failure("mp4_not_checked", std::string(kRecordingFile), index.error().message);
    paths[s.seq] = path;
    segs.push_back({s.seq, std::move(*index)});
  }
  const auto init_size = segs.front().index.init_size;
  if (init_size == 0 || init_size > kMaxInitBytes) {
    return c.failure("mp4_not_checked", std::string(kRecordingFile), "the first segment has no usable init segment");
  }
  auto init = read_range(paths.begin()->second, 0, init_size);
  if (!init) return c.failure("mp4_not_checked", std::string(kRecordingFile), init.error().message);
  const media::SegmentReader read = [&](std::int64_t seq, std::uint64_t offset,
                                        std::uint64_t n) -> Result<std::string> {
    const auto it = paths.find(seq);
    if (it == paths.end()) return fail(Errc::internal, "no segment " + std::to_string(seq));
    return read_range(it->second, offset, n);
  };
  auto plan = media::build_download_plan(std::as_bytes(std::span(init->data(), init->size())), segs, read);
  if (!plan) return c.failure("mp4_not_checked", std::string(kRecordingFile), plan.error().message);
  if (plan->total_size != size) {
    return c.failure("mp4_mismatch", std::string(kRecordingFile),
                     "recording.mp4 is " + std::to_string(size) + " bytes; the segments make " +
                         std::to_string(plan->total_size));
  }
  std::ifstream in(mp4, std::ios::binary);
  std::uint64_t pos = 0;
  std::string have;
  const auto compare = [&](std::string_view want) -> bool {
    have.resize(want.size());
    in.read(have.data(), static_cast<std::streamsize>(want.size()));
    if (static_cast<std::size_t>(in.gcount()) != want.size()) {
      c.failure("mp4_mismatch", std::string(kRecordingFile), "recording.mp4 could not be read at byte " + std::to_string(pos));
      return false;
    }
    if (have != want) {
      std::size_t i = 0;
      while (have[i] == want[i]) ++i;
      c.failure("mp4_mismatch", std::string(kRecordingFile),
                "recording.mp4 differs from the segments at byte " + std::to_string(pos + i));
      return false;
    }
    pos += want.size();
    return true;
  };
  for (const auto& piece : plan->pieces) {
    if (!piece.seq) {
      if (!compare(piece.inline_bytes)) return;
      continue;
    }
    for (std::uint64_t done = 0; done < piece.size;) {
      const auto n = std::min<std::uint64_t>(piece.size - done, 1u << 20);
      auto want = read_range(paths[*piece.seq], piece.offset + done, n);
      if (!want) return c.failure("mp4_not_checked", segment_file_name(*piece.seq), want.error().message);
      if (!compare(*want)) return;
      done += n;
    }
  }
}

// 2. Each segment file against the manifest and its agent's signature.
void check_segments(Checker& c, const Manifest& m) {
  keys::Keyring agent_ring;
  std::map<std::string, std::string> key_computer;
  for (const auto& k : m.agent_keys) {
    auto key = keys::public_key_from_base64(k.public_key);
    if (!key || key->key_id != k.key_id) {
      c.failure("manifest_invalid", std::string(kManifestFile), "agent key " + k.key_id + " is malformed");
      continue;
    }
    agent_ring.add(*key);
    key_computer[k.key_id] = k.computer_id;
  }
  std::map<std::string, std::int64_t> seq_of_hash;
  for (const auto& s : m.segments) seq_of_hash.emplace(s.sha256, s.seq);
  std::set<std::string> listed;
  for (const auto& s : m.segments) {
    ++c.report.segments;
    const auto name = segment_file_name(s.seq);
    listed.insert(name);
    const auto path = c.opt.dir / name;
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    if (ec) {
      c.failure("segment_missing", name, "segment " + std::to_string(s.seq) + " (" + name + ") is missing");
      continue;
    }
    auto sha = sha256_file_hex(path);
    if (!sha) {
      c.failure("segment_missing", name, sha.error().message);
      continue;
    }
    if (*sha != s.sha256) {
      const auto other = seq_of_hash.find(*sha);
      if (other != seq_of_hash.end()) {
        c.failure("segments_swapped", name,
                  name + " holds the bytes of segment " + std::to_string(other->second) + ", not of segment " +
                      std::to_string(s.seq) + " (segments reordered)");
      } else {
        c.failure("segment_hash_mismatch", name,
                  name + " has SHA-256 " + *sha + "; the manifest says " + s.sha256 + " (the file was changed)");
      }
      continue;
    }
    if (size != s.size_bytes) {
      c.failure("segment_size_mismatch", name, name + " is " + std::to_string(size) + " bytes, not " +
                                                   std::to_string(s.size_bytes));
      continue;
    }
    auto index = media::index_segment_file(path);
    if (!index) {
      c.failure("segment_media_invalid", name, name + ": " + index.error().message);
      continue;
    }
    const auto times = media_times(*index);
    if (times.first_ms != s.first_media_ms || times.last_ms != s.last_media_ms) {
      c.failure("segment_media_times_mismatch", name,
                name + " spans " + std::to_string(times.first_ms) + ".." + std::to_string(times.last_ms) +
                    " ms; the manifest says " + std::to_string(s.first_media_ms) + ".." +
                    std::to_string(s.last_media_ms));
      continue;
    }
    if (s.agent_key_id.empty()) {
      ++c.report.unsigned_segments;
      continue;
    }
    const auto owner = key_computer.find(s.agent_key_id);
    if (owner == key_computer.end() || owner->second != m.computer_id) {
      c.failure("agent_key_unknown", name,
                "segment " + std::to_string(s.seq) + " is signed by agent key " + s.agent_key_id +
                    ", which the manifest does not list for computer " + m.computer_id);
      continue;
    }
    const SegmentStatement st{m.recording_id, m.computer_id,    s.seq,           s.sha256,
                              s.size_bytes,   s.first_media_ms, s.last_media_ms, s.events_sha256};
    if (auto v = agent_ring.verify(s.agent_key_id, signed_bytes(st), s.agent_signature); !v) {
      c.failure("agent_signature_invalid", name,
                "the agent signature of segment " + std::to_string(s.seq) + " does not verify: " + v.error().message);
    }
  }
  std::error_code ec;
  for (fs::directory_iterator it(c.opt.dir / "segments", ec), end; !ec && it != end; it.increment(ec)) {
    const auto name = "segments/" + it->path().filename().string();
    if (!listed.contains(name)) c.failure("segment_extra", name, name + " is not in the manifest");
  }
  if (c.report.unsigned_segments > 0) {
    c.report.warnings.push_back(std::to_string(c.report.unsigned_segments) +
                                " segment(s) carry no agent signature (uploaded by an agent without a key): only "
                                "the server's manifest vouches for them");
  }
}

// Each events document against the events digest its segment's manifest
// entry (and agent signature) carries. A document the package lacks is a
// warning: the server may never have received it.
void check_events(Checker& c, const Manifest& m) {
  std::set<std::string> listed;
  std::int64_t absent = 0;
  for (const auto& s : m.segments) {
    if (s.events_sha256 == kNoEvents) continue;
    const auto name = events_file_name(s.seq);
    listed.insert(name);
    const auto path = c.opt.dir / name;
    std::error_code ec;
    if (!fs::exists(path, ec)) {
      ++absent;
      continue;
    }
    auto sha = sha256_file_hex(path);
    if (!sha) {
      c.failure("events_missing", name, sha.error().message);
      continue;
    }
    ++c.report.event_documents;
    if (*sha != s.events_sha256) {
      c.failure("events_hash_mismatch", name,
                name + " has SHA-256 " + *sha + "; segment " + std::to_string(s.seq) +
                    " was signed with events digest " + s.events_sha256 + " (the events document was changed)");
    }
  }
  std::error_code ec;
  for (fs::directory_iterator it(c.opt.dir / "events", ec), end; !ec && it != end; it.increment(ec)) {
    const auto name = "events/" + it->path().filename().string();
    if (!listed.contains(name)) {
      c.failure("events_extra", name, name + " belongs to no segment the manifest lists with an events digest");
    }
  }
  if (absent > 0) {
    c.report.warnings.push_back(std::to_string(absent) +
                                " segment(s) name an events digest but the package holds no events document for "
                                "them (the server never received it)");
  }
}

}  // namespace

Result<VerifyReport> verify_package(const VerifyOptions& opt) {
  std::error_code ec;
  if (!fs::is_directory(opt.dir, ec)) return fail(Errc::invalid_argument, opt.dir.string() + " is not a directory");
  Checker c{opt, {}};
  std::optional<keys::Keyring> trusted;
  if (opt.server_key_file) {
    auto text = read_file(*opt.server_key_file, 1u << 20);
    if (!text) return std::unexpected(text.error());
    auto ring = keys::Keyring::parse(*text, opt.server_key_file->string());
    if (!ring) return std::unexpected(ring.error());
    if (ring->keys().empty()) return fail(Errc::invalid_argument, opt.server_key_file->string() + " holds no public key");
    trusted = std::move(*ring);
  }
  auto manifest_text = read_file(opt.dir / kManifestFile, kMaxSmallFile);
  if (!manifest_text) {
    c.failure("manifest_missing", std::string(kManifestFile), "manifest.json is missing or unreadable");
    return std::move(c.report);
  }
  auto sig_text = read_file(opt.dir / kManifestSigFile, kMaxSmallFile);
  if (!sig_text) {
    c.failure("manifest_signature_missing", std::string(kManifestSigFile), "manifest.sig is missing");
    return std::move(c.report);
  }
  auto sig = parse_manifest_signature(*sig_text);
  if (!sig) {
    c.failure("manifest_signature_invalid", std::string(kManifestSigFile), sig.error().message);
    return std::move(c.report);
  }
  c.report.server_key_id = sig->key_id;
  if (!trusted) {
    auto keys_text = read_file(opt.dir / kKeysFile, kMaxSmallFile);
    auto ring = keys_text ? parse_server_keys(*keys_text) : Result<keys::Keyring>(std::unexpected(keys_text.error()));
    if (!ring) {
      c.failure("keys_invalid", std::string(kKeysFile), "keys.json: " + ring.error().message);
      return std::move(c.report);
    }
    trusted = std::move(*ring);
    c.report.trusted_on_package = true;
    c.report.warnings.push_back(
        "the server key was taken from the package's own keys.json (trust on package): anyone who rewrote the package "
        "could have put their own key there; pass --server-key FILE with the server's keys obtained separately "
        "(deskaudit audit keys -o FILE)");
  }
  if (!trusted->find(sig->key_id)) {
    c.failure("server_key_untrusted", std::string(kManifestSigFile),
              "manifest.sig is signed by key " + sig->key_id + ", which is not among the trusted server keys");
    return std::move(c.report);
  }
  if (auto v = trusted->verify(sig->key_id, *manifest_text, sig->signature); !v) {
    c.failure("manifest_signature_invalid", std::string(kManifestFile),
              "the server's signature over manifest.json does not verify (the manifest was edited): " +
                  v.error().message);
    return std::move(c.report);
  }
  auto m = parse_manifest(*manifest_text);
  if (!m) {
    c.failure("manifest_invalid", std::string(kManifestFile), m.error().message);
    return std::move(c.report);
  }
  c.report.recording_id = m->recording_id;
  check_segments(c, *m);
  check_events(c, *m);
  if (c.report.failures.empty()) {
    check_mp4(c, *m);
  } else {
    c.report.warnings.push_back("recording.mp4 was not compared: fix or explain the segment failures first");
  }
  c.report.ok = c.report.failures.empty();
  return std::move(c.report);
}

nlohmann::json to_json(const VerifyReport& r) {
  nlohmann::json failures = nlohmann::json::array();
  for (const auto& f : r.failures) failures.push_back({{"code", f.code}, {"file", f.file}, {"message", f.message}});
  return {{"ok", r.ok},
          {"recording_id", r.recording_id},
          {"server_key_id", r.server_key_id},
          {"trusted_on_package", r.trusted_on_package},
          {"segments", r.segments},
          {"unsigned_segments", r.unsigned_segments},
          {"event_documents", r.event_documents},
          {"mp4_bytes", r.mp4_bytes},
          {"failures", failures},
          {"warnings", r.warnings}};
}

}  // namespace deskaudit::evidence

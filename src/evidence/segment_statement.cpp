#include "evidence/segment_statement.hpp"

#include <algorithm>
#include <limits>

#include "common/crypto.hpp"

namespace deskaudit::evidence {
namespace {

std::int64_t ticks_to_ms(__int128 ticks, std::uint32_t timescale) {
  if (timescale == 0 || ticks < 0) return 0;
  const __int128 v = (ticks * 1000 + timescale / 2) / timescale;
  return v > std::numeric_limits<std::int64_t>::max() ? std::numeric_limits<std::int64_t>::max()
                                                      : static_cast<std::int64_t>(v);
}

}  // namespace

std::string signed_bytes(const SegmentStatement& s) {
  std::string out(kSegmentStatementTag);
  out += "\nrecording_id=" + s.recording_id;
  out += "\ncomputer_id=" + s.computer_id;
  out += "\nseq=" + std::to_string(s.seq);
  out += "\nsha256=" + s.sha256;
  out += "\nsize=" + std::to_string(s.size_bytes);
  out += "\nfirst_media_ms=" + std::to_string(s.first_media_ms);
  out += "\nlast_media_ms=" + std::to_string(s.last_media_ms);
  out += "\nevents_sha256=" + (s.events_sha256.empty() ? std::string(kNoEvents) : s.events_sha256);
  out += "\n";
  return out;
}

MediaTimes media_times(const media::FragmentIndex& index) {
  if (index.fragments.empty()) return {};
  const auto& last = index.fragments.back();
  return {ticks_to_ms(index.fragments.front().decode_time, index.timescale),
          ticks_to_ms(static_cast<__int128>(last.decode_time) + last.duration, index.timescale)};
}

Result<AgentSignature> parse_signature_header(std::string_view value) {
  const auto colon = value.find(':');
  const auto bad = [&] {
    return fail(Errc::invalid_argument,
                std::string(kSignatureHeader) + " must be <key id>:<base64 Ed25519 signature>",
                std::string(kSignatureHeader));
  };
  if (colon == std::string_view::npos || value.size() > 256) return bad();
  const auto id = value.substr(0, colon), sig = value.substr(colon + 1);
  const auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
  if (id.size() != 16 || !std::ranges::all_of(id, hex) || sig.size() != 88) return bad();
  const auto b64 = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' ||
           c == '=';
  };
  if (!std::ranges::all_of(sig, b64)) return bad();
  return AgentSignature{std::string(id), std::string(sig)};
}

std::string signature_header(const AgentSignature& s) { return s.key_id + ":" + s.signature; }

bool is_events_digest(std::string_view text) { return text == kNoEvents || is_sha256_hex(text); }

}  // namespace deskaudit::evidence

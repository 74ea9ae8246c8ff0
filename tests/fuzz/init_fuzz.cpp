// Fuzz target: the init segment parser (ftyp + moov) and the rewrite of the
// init for the whole-recording download.
#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz_check.hpp"
#include "media/fmp4.hpp"
#include "media/init.hpp"

using namespace deskaudit;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto bytes = std::as_bytes(std::span(data, size));
  auto info = media::detail::parse_init_segment(bytes);
  if (!info) {
    FUZZ_CHECK(!info.error().message.empty());
    return 0;
  }
  FUZZ_CHECK(info->timescale > 0 && info->track_id > 0);
  FUZZ_CHECK(info->width > 0 && info->height > 0);
  FUZZ_CHECK(info->nal_length_size >= 1 && info->nal_length_size <= 4);
  // An index as the indexer would make it for one fragment after this init.
  media::FragmentIndex idx;
  idx.init_size = size;
  idx.timescale = info->timescale;
  idx.track_id = info->track_id;
  idx.width = info->width;
  idx.height = info->height;
  idx.codec = info->codec;
  idx.avcc_hex = info->avcc_hex;
  idx.fragments.push_back({size, 100, 0, info->timescale, 1, true});
  auto plan = media::build_download_plan(bytes, {{0, idx}});
  FUZZ_CHECK(plan);
  FUZZ_CHECK(!plan->pieces.empty() && !plan->pieces.front().seq);
  // The rewritten init is itself a valid init with the same parameters.
  const auto& head = plan->pieces.front().inline_bytes;
  auto again = media::detail::parse_init_segment(std::as_bytes(std::span(head.data(), head.size())));
  FUZZ_CHECK(again);
  FUZZ_CHECK(again->codec == info->codec && again->avcc_hex == info->avcc_hex);
  FUZZ_CHECK(again->timescale == info->timescale && again->track_id == info->track_id);
  return 0;
}

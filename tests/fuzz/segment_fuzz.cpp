// Fuzz target: the segment indexer (what the upload route runs on every
// segment an agent sends) and the torn-tail recovery of the same bytes, then
// everything built from an accepted index: its catalog JSON, the HLS
// playlist and the download plan.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "fuzz_check.hpp"
#include "media/fmp4.hpp"

using namespace deskaudit;

namespace {

// The smallest fragment the indexer accepts (segment_index.cpp).
constexpr std::size_t kMinFragmentBytes = 86;

void check_index(std::span<const std::byte> bytes, const media::FragmentIndex& idx) {
  FUZZ_CHECK(!idx.fragments.empty());
  FUZZ_CHECK(idx.fragments.size() <= bytes.size() / kMinFragmentBytes);
  FUZZ_CHECK(idx.init_size <= idx.fragments.front().offset);
  std::uint64_t next = idx.init_size;
  for (const auto& f : idx.fragments) {
    FUZZ_CHECK(f.offset >= next && f.size > 0 && f.size <= bytes.size() - f.offset);
    FUZZ_CHECK(f.sample_count > 0 && f.sample_count <= f.size);
    next = f.offset + f.size;
  }
  const auto json = media::to_json(idx);
  auto back = media::fragment_index_from_json(json);
  FUZZ_CHECK(back);
  FUZZ_CHECK(media::to_json(*back) == json);
  (void)json.dump();
  (void)idx.start_ms();
  (void)idx.duration_ms();

  const std::vector<media::PlaylistSegment> segments = {{0, idx}, {1, idx}};
  media::PlaylistOptions opts;
  opts.segment_uri = [](std::int64_t seq) { return "segments/" + std::to_string(seq); };
  FUZZ_CHECK(!media::build_hls_playlist(segments, opts).empty());
  auto plan = media::build_download_plan(bytes.first(idx.init_size), {segments.front()});
  FUZZ_CHECK(plan);
  std::uint64_t total = 0;
  for (const auto& piece : plan->pieces) {
    if (piece.seq) FUZZ_CHECK(piece.offset + piece.size <= bytes.size());
    else FUZZ_CHECK(piece.inline_bytes.size() == piece.size);
    total += piece.size;
  }
  FUZZ_CHECK(total == plan->total_size);
}

// The same bytes as a file (recovery reads files only); memfd keeps it off disk.
Result<std::uint64_t> prefix_of(std::span<const std::byte> bytes) {
  const int fd = ::memfd_create("segment", MFD_CLOEXEC);
  FUZZ_CHECK(fd >= 0);
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    FUZZ_CHECK(n > 0);
    done += static_cast<std::size_t>(n);
  }
  auto len = media::valid_prefix_length("/proc/self/fd/" + std::to_string(fd));
  ::close(fd);
  return len;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto bytes = std::as_bytes(std::span(data, size));
  auto idx = media::index_segment(bytes);
  if (idx) check_index(bytes, *idx);
  else FUZZ_CHECK(!idx.error().message.empty());
  auto len = prefix_of(bytes);
  if (len) FUZZ_CHECK(*len <= size);
  if (idx) {
    FUZZ_CHECK(len);
    FUZZ_CHECK(*len == idx->fragments.back().offset + idx->fragments.back().size);
  }
  return 0;
}

#include "sample_media.hpp"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

#include "common/crypto.hpp"
#include "common/fs.hpp"
#include "media/fmp4.hpp"

namespace deskaudit::testing {

std::vector<std::string> make_segments(int segments, int seconds, int fps, const std::string& size, SampleAudio audio) {
  const auto dir = std::filesystem::temp_directory_path() / ("deskaudit-media-" + random_id(""));
  std::filesystem::create_directories(dir);
  const auto file = dir / "all.mp4";
  const std::string cmd = "ffmpeg -nostdin -loglevel error -f lavfi -i testsrc2=size=" + size + ":rate=" +
                          std::to_string(fps) +
                          (audio == SampleAudio::none ? ""
                           : audio == SampleAudio::opus
                               ? " -f lavfi -i sine=frequency=1000:sample_rate=48000 -c:a libopus -ac 2 -b:a 48k"
                               : " -f lavfi -i sine=frequency=1000:sample_rate=48000 -c:a aac -ac 2 -b:a 64k") +
                          " -t " + std::to_string(seconds) + " -c:v libx264 -preset ultrafast -pix_fmt yuv420p -g " + std::to_string(fps) +
                          " -movflags frag_keyframe+empty_moov+default_base_moof -f mp4 '" + file.string() + "'";
  if (std::system(cmd.c_str()) != 0) {
    std::filesystem::remove_all(dir);
    throw std::runtime_error("ffmpeg failed: " + cmd);
  }
  auto bytes = read_file(file, 1u << 30);
  std::filesystem::remove_all(dir);
  if (!bytes) throw std::runtime_error(bytes.error().message);
  auto index = media::index_segment(std::as_bytes(std::span(bytes->data(), bytes->size())));
  if (!index) throw std::runtime_error("sample does not index: " + index.error().message);
  const auto& frags = index->fragments;
  if (static_cast<int>(frags.size()) < segments) throw std::runtime_error("not enough fragments for the segments asked");
  const std::string init = bytes->substr(0, index->init_size);
  std::vector<std::string> out;
  std::size_t next = 0;
  for (int s = 0; s < segments; ++s) {
    const std::size_t end = frags.size() * static_cast<std::size_t>(s + 1) / static_cast<std::size_t>(segments);
    std::string seg = init;
    for (; next < end; ++next) seg += bytes->substr(frags[next].offset, frags[next].size);
    out.push_back(std::move(seg));
  }
  return out;
}

std::string sha256_of(const std::string& bytes) { return sha256_hex(bytes); }

std::string pad_segment(const std::string& seg, std::uint64_t target, std::uint64_t seed) {
  if (target <= seg.size()) return seg;
  auto be = [&](std::size_t at, int n) {
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(seg.at(at + static_cast<std::size_t>(i)));
    return v;
  };
  std::vector<std::size_t> mdat_ends;
  for (std::size_t off = 0; off < seg.size();) {
    std::uint64_t size = be(off, 4);
    if (size == 1) size = be(off + 8, 8);
    if (size < 8 || size > seg.size() - off) throw std::runtime_error("pad_segment: unexpected box layout");
    if (seg.compare(off + 4, 4, "mdat") == 0) mdat_ends.push_back(off + size);
    off += size;
  }
  if (mdat_ends.empty()) throw std::runtime_error("pad_segment: no fragment");
  const std::uint64_t total_pad = target - seg.size();
  const std::uint64_t each = total_pad / mdat_ends.size();
  if (each < 16 || each > 0xffffffffu) throw std::runtime_error("pad_segment: padding per fragment out of range");
  std::string out;
  out.reserve(target);
  std::uint64_t x = seed | 1;
  std::size_t from = 0;
  for (std::size_t k = 0; k < mdat_ends.size(); ++k) {
    out.append(seg, from, mdat_ends[k] - from);
    from = mdat_ends[k];
    const std::uint64_t n = k + 1 == mdat_ends.size() ? total_pad - each * k : each;
    for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    out += "free";
    for (std::uint64_t i = 8; i < n; i += 8) {  // xorshift64
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      out.append(reinterpret_cast<const char*>(&x), static_cast<std::size_t>(std::min<std::uint64_t>(8, n - i)));
    }
  }
  out.append(seg, from, std::string::npos);
  if (out.size() != target) throw std::runtime_error("pad_segment: size mismatch");
  return out;
}

}  // namespace deskaudit::testing

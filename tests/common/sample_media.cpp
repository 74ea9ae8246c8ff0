#include "sample_media.hpp"

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

}  // namespace deskaudit::testing

#pragma once
// Real recordings for tests: H.264 fragmented MP4 made by the ffmpeg CLI from
// a test pattern, cut into segment files the way the agent writes them (each
// = the init segment + whole fragments; decode times continue across files).
#include <cstdint>
#include <string>
#include <vector>

namespace deskaudit::testing {

// Throws std::runtime_error when ffmpeg is missing or fails.
// The second track of make_segments: none, Opus (what the Linux agent
// records) or AAC-LC (what a Windows agent may record).
enum class SampleAudio { none, opus, aac };

// seconds of video at fps, one fragment per second, split over `segments` files;
// with audio: a second track, a 1 kHz tone as 48 kHz stereo, in the same fragments.
std::vector<std::string> make_segments(int segments, int seconds, int fps = 5, const std::string& size = "320x240",
                                       SampleAudio audio = SampleAudio::none);

std::string sha256_of(const std::string& bytes);

// Grows a real segment to `target` bytes with ISO BMFF 'free' boxes after
// each fragment (moof+mdat), filled with pseudo-random bytes from `seed`:
// still a valid fMP4 segment (padding is allowed between top-level boxes), as
// costly to receive, hash and store as media of that size, and made in
// milliseconds instead of minutes of encoding. Throws std::runtime_error when
// the segment has no fragment or the padding per fragment is out of range.
std::string pad_segment(const std::string& seg, std::uint64_t target, std::uint64_t seed);

}  // namespace deskaudit::testing

#pragma once
// Real fragmented MP4 streams for the media tests, made the way the agent makes
// them: libx264 through libavformat's mp4 muxer with
// frag_custom+empty_moov+default_base_moof into memory, a fragment flushed every
// `packets_per_fragment` packets, and segment files cut by prepending the init
// segment to a run of fragments.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace deskaudit::media::test {

struct StreamOptions {
  int width = 320;
  int height = 240;
  int fps = 10;
  int frames = 40;
  int gop = 10;                  // fixed keyframe interval
  int packets_per_fragment = 10;  // 10 with gop 10: every fragment starts with a keyframe
  bool write_trailer = false;    // true: keep the muxer's mfra after the last fragment
};

struct Stream {
  std::string bytes;                  // everything the muxer wrote
  std::uint64_t init_size = 0;        // ftyp+moov
  std::vector<std::uint64_t> cuts;    // end offset of each fragment, in order
  int frames = 0;
  std::uint64_t fragment_begin(std::size_t i) const { return i == 0 ? init_size : cuts[i - 1]; }
};

// Throws std::runtime_error when libav fails (the test then fails).
Stream encode_fmp4(const StreamOptions& options);

// Box layout for tests that damage files on purpose (trusts its input).
struct BoxAt {
  std::size_t offset = 0;
  std::uint64_t size = 0;
  std::size_t header = 8;
  std::string type;
};
std::vector<BoxAt> list_boxes(std::string_view bytes, std::size_t begin, std::size_t end);
// The nth box of the last type of `path` (top-level first), e.g. {"moof","traf","trun"}.
BoxAt find_box(std::string_view bytes, std::initializer_list<std::string_view> path, std::size_t nth = 0);

// init + fragments [first, end) of the stream: one segment file.
std::string make_segment(const Stream& stream, std::size_t first, std::size_t end);

inline std::span<const std::byte> bytes_of(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

// A private temporary directory removed at destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path write(const std::string& name, std::string_view data) const;

 private:
  std::filesystem::path path_;
};

// Runs a shell command, returns its exit code and stdout (stderr merged when asked).
struct CommandResult {
  int exit_code = -1;
  std::string output;
};
CommandResult run_command(const std::string& command);
// The full path of a program on PATH, if any.
std::optional<std::filesystem::path> find_program(std::string_view name);

}  // namespace deskaudit::media::test

// Skips the test when a tool is missing, except under CI (CI set): then fails.
#define DESKAUDIT_REQUIRE_PROGRAM(var, name)                                          \
  const auto var = ::deskaudit::media::test::find_program(name);                      \
  if (!var) {                                                                          \
    if (std::getenv("CI") != nullptr) FAIL() << name << " is required under CI";      \
    GTEST_SKIP() << name << " not found on PATH";                                      \
  }

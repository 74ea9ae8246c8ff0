#pragma once
// What every recording must satisfy, checked on its closed segment files
// (gtest assertions; shared by the recorder's unit and integration tests).
#include <filesystem>
#include <vector>

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "record/media_probe.hpp"
#include "record/recorder.hpp"

namespace deskaudit::mtest {

// Checks each segment (0600, ftyp moov (moof mdat)*, decodes cleanly, starts
// with a keyframe at its start offset, durations add up, seqs and media times
// back to back) and returns every sample in order.
inline std::vector<FragSample> check_segments(const std::vector<record::SegmentClosed>& segs) {
  namespace fs = std::filesystem;
  std::vector<FragSample> all;
  for (std::size_t i = 0; i < segs.size(); ++i) {
    const auto& s = segs[i];
    SCOPED_TRACE(s.path.string());
    EXPECT_TRUE(fs::exists(s.path));
    EXPECT_FALSE(fs::exists(s.path.string() + ".part"));
    EXPECT_EQ(fs::file_size(s.path), static_cast<std::uintmax_t>(s.size_bytes));
    struct stat st{};
    EXPECT_EQ(::stat(s.path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    const auto boxes = top_boxes(read_all(s.path));
    if (boxes.size() < 4) {
      ADD_FAILURE() << "fewer than ftyp, moov, moof, mdat";
      continue;
    }
    EXPECT_EQ(boxes[0], "ftyp");
    EXPECT_EQ(boxes[1], "moov");
    for (std::size_t b = 2; b < boxes.size(); ++b) EXPECT_EQ(boxes[b], b % 2 == 0 ? "moof" : "mdat");
    const auto p = probe(s.path);
    EXPECT_EQ(p.exit_code, 0);
    EXPECT_EQ(p.errors, "");
    EXPECT_EQ(decode_errors(s.path), "");
    if (p.packets.empty()) {
      ADD_FAILURE() << "no packets";
      continue;
    }
    EXPECT_TRUE(p.packets.front().key) << "segment must start with a keyframe";
    EXPECT_EQ(p.packets.front().pts, s.start_offset_ms);
    const auto samples = fragment_samples(read_all(s.path));
    EXPECT_EQ(samples.size(), p.packets.size());
    if (samples.empty()) continue;
    EXPECT_TRUE(samples.front().sync);
    EXPECT_EQ(samples.front().dts, s.start_offset_ms);
    EXPECT_EQ(samples.back().dts + samples.back().duration - s.start_offset_ms, s.duration_ms);
    for (std::size_t k = 0; k < samples.size() && k < p.packets.size(); ++k) EXPECT_EQ(samples[k].dts, p.packets[k].pts);
    if (i > 0) {
      EXPECT_EQ(s.start_offset_ms, segs[i - 1].start_offset_ms + segs[i - 1].duration_ms) << "gap or jump";
      EXPECT_EQ(s.seq, segs[i - 1].seq + 1);
    }
    all.insert(all.end(), samples.begin(), samples.end());
  }
  // Each sample lasts until the next one: no gap, no overlap, across files too.
  for (std::size_t i = 1; i < all.size(); ++i) EXPECT_EQ(all[i - 1].dts + all[i - 1].duration, all[i].dts) << "sample " << i;
  return all;
}

}  // namespace deskaudit::mtest

#pragma once
// Where the screen keeps moving, per 16x16 macroblock, to spend bits where
// auditors read: areas that changed in several frames in a row (video, a
// window being dragged, a scrolling list) are coded coarser (hot_qp_offset),
// and once such an area has been still for refine_after_ms it is coded once
// more, finer (refine_qp_offset), so the picture that stays on screen (the
// text after a scroll) is sharp. Not thread-safe.
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "capture/capture.hpp"
#include "encode/h264_encoder.hpp"

namespace deskaudit::record {

struct ActivityOptions {
  // Changed in this many coded frames in a row = moving.
  int hot_frames = 3;
  // A frame coded for something else (a clock's tick, a refinement) less
  // than this after the macroblock's last change does not break its row.
  // 0: every frame without the macroblock breaks it, so whether a scrolled
  // page is coded coarse or careful depends on when an unrelated clock
  // ticked. bench/record (README, 2026-12-02): 1000 makes that steady
  // (standard profile 20.5-27.6 MB/h in 4 runs, 38.9-56.2 with 0 in 6) by
  // coding the pages of a fast scroll coarse (0-2 of ~37 frames of the
  // scrolling phase careful, against 9-28 of 39-48 with 0), while the office
  // profile's slower paging was coded careful more often (85 pages against
  // 36 in one pair). Which scrolled pages an auditor can read is an audit
  // decision: not the default until it is taken.
  std::int64_t hot_gap_ms = 0;
  int hot_qp_offset = 30;  // 0 turns the scheme off (30: as coarse as H.264 goes, measured)
  std::int64_t refine_after_ms = 1000;
  int refine_qp_offset = -2;
};

class ActivityMap {
 public:
  ActivityMap(int width, int height, ActivityOptions options);
  // The quality regions for a frame at t_ms whose changed areas are `changed`
  // (an empty span: a refinement frame without any change).
  std::vector<encode::QualityRegion> plan(std::span<const capture::Rect> changed, std::int64_t t_ms);
  // Macroblocks the last plan() coded coarser for being in motion.
  int hot_mbs() const { return hot_mbs_; }
  // When a refinement frame is due if nothing else changes (nullopt: none).
  std::optional<std::int64_t> refinement_due_ms() const;
  // True when `changed` covers at most max_mbs distinct macroblocks and each of them
  // is in constant motion (hot with this change): a ticking clock, a spinner.
  bool small_and_hot(std::span<const capture::Rect> changed, int max_mbs) const;

 private:
  int mb_w_ = 0;
  int mb_h_ = 0;
  ActivityOptions options_;
  std::vector<std::uint8_t> streak_;
  std::vector<std::uint8_t> coarse_;  // coded coarser and not refined since
  std::vector<std::int64_t> last_change_ms_;
  std::vector<std::uint8_t> changed_;
  std::vector<std::int8_t> offset_;
  int hot_mbs_ = 0;
};

}  // namespace deskaudit::record

#pragma once
// Hand-built hostile fragments for the media tests: a moof (mfhd, traf with
// tfhd default-base-is-moof, tfdt, one trun with a data offset) and its mdat,
// to be appended to a real init segment. Header-only; trusts its input.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace deskaudit::testing {

inline std::string be_bytes(std::uint64_t v, int n) {
  std::string out;
  for (int i = n - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return out;
}

inline std::string mp4_box(std::string_view type, std::string_view payload) {
  return be_bytes(8 + payload.size(), 4) + std::string(type) + std::string(payload);
}

struct ForgedFragment {
  std::uint32_t track_id = 1;
  std::uint64_t decode_time = 0;
  std::uint32_t sample_count = 1;          // the trun's claim
  std::optional<std::uint32_t> default_size;      // tfhd default-sample-size
  std::optional<std::uint32_t> default_duration;  // tfhd default-sample-duration
  std::vector<std::uint32_t> sizes;        // per-sample sizes in the trun (then sample_count = sizes.size())
  std::string mdat;                        // the mdat payload
  bool minimal_boxes = false;              // mfhd without a sequence number, 32-bit tfdt
};

// moof + mdat; the trun's data offset points at the first byte of the mdat payload.
inline std::string forged_fragment(const ForgedFragment& f) {
  std::uint32_t tf_flags = 0x020000;  // default-base-is-moof
  std::string tfhd_fields;
  if (f.default_duration) {
    tf_flags |= 0x000008;
    tfhd_fields += be_bytes(*f.default_duration, 4);
  }
  if (f.default_size) {
    tf_flags |= 0x000010;
    tfhd_fields += be_bytes(*f.default_size, 4);
  }
  const std::string mfhd = mp4_box("mfhd", f.minimal_boxes ? "" : be_bytes(0, 4) + be_bytes(1, 4));
  const std::string tfhd = mp4_box("tfhd", be_bytes(tf_flags, 4) + be_bytes(f.track_id, 4) + tfhd_fields);
  const std::string tfdt = f.minimal_boxes ? mp4_box("tfdt", be_bytes(0, 4) + be_bytes(f.decode_time, 4))
                                           : mp4_box("tfdt", be_bytes(0x01000000, 4) + be_bytes(f.decode_time, 8));
  const std::uint32_t trun_flags = 0x001 | (f.sizes.empty() ? 0 : 0x200);
  const std::uint32_t count = f.sizes.empty() ? f.sample_count : static_cast<std::uint32_t>(f.sizes.size());
  std::string sizes;
  for (auto s : f.sizes) sizes += be_bytes(s, 4);
  const std::size_t trun_size = 8 + 12 + sizes.size();
  const std::size_t moof_size = 8 + mfhd.size() + 8 + tfhd.size() + tfdt.size() + trun_size;
  const std::string trun =
      mp4_box("trun", be_bytes(trun_flags, 4) + be_bytes(count, 4) + be_bytes(moof_size + 8, 4) + sizes);
  const std::string moof = mp4_box("moof", mfhd + mp4_box("traf", tfhd + tfdt + trun));
  return moof + mp4_box("mdat", f.mdat);
}

// The segment of issue 9: a real init followed by fragments until `bytes` is
// reached, each a trun claiming 2^20 samples of the default size 0 with its
// data offset into an empty mdat.
inline std::string zero_sample_bomb(std::string_view init, std::uint32_t track_id, std::size_t bytes) {
  std::string out(init);
  ForgedFragment f;
  f.track_id = track_id;
  f.sample_count = 1u << 20;
  f.default_size = 0;
  f.default_duration = 1;
  while (out.size() < bytes) {
    out += forged_fragment(f);
    ++f.decode_time;
  }
  return out;
}

}  // namespace deskaudit::testing

#pragma once
// Internal to deskaudit_media: bounds-checked reading and writing of ISO BMFF
// boxes. Nothing here trusts a size field: every read is checked against the
// bytes actually present, every sum against overflow.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace deskaudit::media::detail {

constexpr std::uint32_t fourcc(const char (&s)[5]) {
  return (std::uint32_t(std::uint8_t(s[0])) << 24) | (std::uint32_t(std::uint8_t(s[1])) << 16) |
         (std::uint32_t(std::uint8_t(s[2])) << 8) | std::uint32_t(std::uint8_t(s[3]));
}
// Printable form for messages: "moof", or "\x00\x01.." escaped.
std::string fourcc_text(std::uint32_t type);

// Boxes nested deeper than this are rejected (a "nesting bomb" is refused
// before it costs stack or time). Real init segments nest 8 deep.
inline constexpr int kMaxDepth = 12;

inline bool add_overflows(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
  return __builtin_add_overflow(a, b, &out);
}
inline bool mul_overflows(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
  return __builtin_mul_overflow(a, b, &out);
}

// Big-endian reader over a span. A read past the end returns 0 and sets a
// sticky failure flag; callers check ok() once after a group of reads.
class ByteReader {
 public:
  explicit ByteReader(std::span<const std::byte> data) : data_(data) {}
  std::uint8_t u8() { return std::uint8_t(take(1)); }
  std::uint16_t u16() { return std::uint16_t(take(2)); }
  std::uint32_t u24() { return std::uint32_t(take(3)); }
  std::uint32_t u32() { return std::uint32_t(take(4)); }
  std::uint64_t u64() { return take(8); }
  void skip(std::size_t n) {
    if (n > remaining()) {
      failed_ = true;
      pos_ = data_.size();
    } else {
      pos_ += n;
    }
  }
  std::span<const std::byte> bytes(std::size_t n) {
    if (n > remaining()) {
      failed_ = true;
      pos_ = data_.size();
      return {};
    }
    auto s = data_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  bool ok() const { return !failed_; }
  std::size_t pos() const { return pos_; }
  std::size_t remaining() const { return data_.size() - pos_; }

 private:
  std::uint64_t take(std::size_t n);
  std::span<const std::byte> data_;
  std::size_t pos_ = 0;
  bool failed_ = false;
};

struct BoxHeader {
  std::uint32_t type = 0;
  std::uint64_t offset = 0;       // absolute (file) offset of the box
  std::uint64_t header_size = 0;  // 8, 16 (64-bit size) or +16 for 'uuid'
  std::uint64_t size = 0;         // whole box; size 0 in the file is resolved to "to end"
};

enum class HeaderStatus { ok, truncated, invalid };
struct HeaderResult {
  HeaderStatus status = HeaderStatus::invalid;
  BoxHeader header;
  std::string message;  // for truncated/invalid
};
// Parses the header of the box at absolute `offset`; `bytes` are the bytes
// present from `offset` on (at least the header, as many as available), `end`
// the absolute end of the enclosing box or file. truncated: the header or the
// box runs past `end` (a torn tail at top level); invalid: impossible sizes.
HeaderResult parse_box_header(std::span<const std::byte> bytes, std::uint64_t offset,
                              std::uint64_t end);

// A box held in memory: its header and its payload (after the header).
struct Box {
  BoxHeader header;
  std::span<const std::byte> payload;
  std::uint64_t payload_offset() const { return header.offset + header.header_size; }
  std::uint32_t type() const { return header.type; }
};

// Splits a payload into its child boxes. `payload_offset` is the payload's
// absolute offset (for messages). Every child must fit exactly.
Result<std::vector<Box>> parse_children(std::span<const std::byte> payload,
                                        std::uint64_t payload_offset, std::string_view parent);

// Checks that every box below `box` fits its parent and that known container
// boxes nest at most kMaxDepth deep (depth counts from the top level = 1).
Status validate_tree(const Box& box, int depth);

// Finds the only child of a type; corrupt error if missing or repeated.
Result<Box> only_child(const std::vector<Box>& children, std::uint32_t type, const Box& parent);
std::optional<Box> find_child(const std::vector<Box>& children, std::uint32_t type);

std::unexpected<Error> box_error(Errc code, const BoxHeader& box, std::string_view what);

// Big-endian writer for building boxes.
class ByteWriter {
 public:
  void u8(std::uint8_t v) { out_.push_back(char(v)); }
  void u16(std::uint16_t v) { put(v, 2); }
  void u32(std::uint32_t v) { put(v, 4); }
  void u64(std::uint64_t v) { put(v, 8); }
  void bytes(std::span<const std::byte> b) { out_.append(reinterpret_cast<const char*>(b.data()), b.size()); }
  void bytes(std::string_view b) { out_.append(b); }
  std::string& str() { return out_; }

 private:
  void put(std::uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) out_.push_back(char((v >> (8 * i)) & 0xff));
  }
  std::string out_;
};
// A whole box from a type and payload; uses a 64-bit size only when needed.
std::string make_box(std::uint32_t type, std::string_view payload);

inline std::span<const std::byte> as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

}  // namespace deskaudit::media::detail

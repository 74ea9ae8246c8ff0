#include "media/box.hpp"

#include <array>
#include <fmt/format.h>

namespace deskaudit::media::detail {

std::string fourcc_text(std::uint32_t type) {
  std::string out;
  for (int shift = 24; shift >= 0; shift -= 8) {
    const auto c = static_cast<unsigned char>((type >> shift) & 0xff);
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  return out;
}

std::uint64_t ByteReader::take(std::size_t n) {
  if (n > remaining()) {
    failed_ = true;
    pos_ = data_.size();
    return 0;
  }
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | std::to_integer<std::uint8_t>(data_[pos_ + i]);
  pos_ += n;
  return v;
}

std::unexpected<Error> box_error(Errc code, const BoxHeader& box, std::string_view what) {
  return fail(code, fmt::format("box '{}' at offset {}: {}", fourcc_text(box.type), box.offset, what));
}

HeaderResult parse_box_header(std::span<const std::byte> bytes, std::uint64_t offset,
                              std::uint64_t end) {
  HeaderResult r;
  r.header.offset = offset;
  const std::uint64_t left = end >= offset ? end - offset : 0;
  ByteReader in(bytes.first(std::min<std::size_t>(bytes.size(), std::size_t(std::min<std::uint64_t>(left, 32)))));
  if (in.remaining() < 8) {
    r.status = HeaderStatus::truncated;
    r.message = fmt::format("truncated box header at offset {} ({} bytes left)", offset, left);
    return r;
  }
  std::uint64_t size = in.u32();
  r.header.type = in.u32();
  r.header.header_size = 8;
  if (size == 1) {
    if (in.remaining() < 8) {
      r.status = HeaderStatus::truncated;
      r.message = fmt::format("box '{}' at offset {}: truncated 64-bit size", fourcc_text(r.header.type), offset);
      return r;
    }
    size = in.u64();
    r.header.header_size = 16;
  } else if (size == 0) {
    size = left;  // "extends to the end of the file/parent"
  }
  if (r.header.type == fourcc("uuid")) r.header.header_size += 16;
  r.header.size = size;
  if (size < r.header.header_size) {
    r.status = HeaderStatus::invalid;
    r.message = fmt::format("box '{}' at offset {}: size {} is smaller than its {}-byte header",
                            fourcc_text(r.header.type), offset, size, r.header.header_size);
    return r;
  }
  if (size > left) {
    r.status = HeaderStatus::truncated;
    r.message = fmt::format("box '{}' at offset {}: size {} runs past the end ({} bytes left)",
                            fourcc_text(r.header.type), offset, size, left);
    return r;
  }
  r.status = HeaderStatus::ok;
  return r;
}

Result<std::vector<Box>> parse_children(std::span<const std::byte> payload,
                                        std::uint64_t payload_offset, std::string_view parent) {
  std::vector<Box> out;
  std::size_t pos = 0;
  while (pos < payload.size()) {
    const std::uint64_t abs = payload_offset + pos;
    auto h = parse_box_header(payload.subspan(pos), abs, payload_offset + payload.size());
    if (h.status != HeaderStatus::ok) {
      return fail(Errc::corrupt, fmt::format("inside '{}': {}", parent, h.message));
    }
    // size <= bytes left in the payload, so these narrowings are safe.
    const auto size = static_cast<std::size_t>(h.header.size);
    const auto hs = static_cast<std::size_t>(h.header.header_size);
    out.push_back(Box{h.header, payload.subspan(pos + hs, size - hs)});
    pos += size;
    if (out.size() > 100000) return fail(Errc::corrupt, fmt::format("'{}' holds too many boxes", parent));
  }
  return out;
}

namespace {

bool is_container(std::uint32_t t) {
  static constexpr std::array kContainers = {
      fourcc("moov"), fourcc("trak"), fourcc("mdia"), fourcc("minf"), fourcc("stbl"),
      fourcc("dinf"), fourcc("edts"), fourcc("mvex"), fourcc("moof"), fourcc("traf"),
      fourcc("mfra"), fourcc("stsd"),
      fourcc("avc1"), fourcc("avc3")};
  for (auto c : kContainers)
    if (c == t) return true;
  return false;
}

// Bytes before the first child in boxes that are not plain containers.
std::size_t child_skip(std::uint32_t t) {
  if (t == fourcc("stsd")) return 8;                          // full box + entry_count
  if (t == fourcc("avc1") || t == fourcc("avc3")) return 78;  // VisualSampleEntry fields
  return 0;
}

}  // namespace

Status validate_tree(const Box& box, int depth) {
  if (depth > kMaxDepth) {
    return box_error(Errc::corrupt, box.header, fmt::format("boxes nested deeper than {} levels", kMaxDepth));
  }
  if (!is_container(box.type())) return {};
  const std::size_t skip = child_skip(box.type());
  if (box.payload.size() < skip) return box_error(Errc::corrupt, box.header, "payload too short");
  auto kids = parse_children(box.payload.subspan(skip), box.payload_offset() + skip, fourcc_text(box.type()));
  if (!kids) return std::unexpected(kids.error());
  for (const auto& k : *kids) {
    if (auto st = validate_tree(k, depth + 1); !st) return st;
  }
  return {};
}

std::optional<Box> find_child(const std::vector<Box>& children, std::uint32_t type) {
  for (const auto& c : children)
    if (c.type() == type) return c;
  return std::nullopt;
}

Result<Box> only_child(const std::vector<Box>& children, std::uint32_t type, const Box& parent) {
  std::optional<Box> found;
  for (const auto& c : children) {
    if (c.type() != type) continue;
    if (found) return box_error(Errc::corrupt, c.header, fmt::format("repeated inside '{}'", fourcc_text(parent.type())));
    found = c;
  }
  if (!found) {
    return box_error(Errc::corrupt, parent.header, fmt::format("has no '{}' box", fourcc_text(type)));
  }
  return *found;
}

std::string make_box(std::uint32_t type, std::string_view payload) {
  ByteWriter w;
  const std::uint64_t small = 8 + std::uint64_t(payload.size());
  if (small <= 0xffffffffu) {
    w.u32(static_cast<std::uint32_t>(small));
    w.u32(type);
  } else {
    w.u32(1);
    w.u32(type);
    w.u64(small + 8);
  }
  w.bytes(payload);
  return std::move(w.str());
}

}  // namespace deskaudit::media::detail

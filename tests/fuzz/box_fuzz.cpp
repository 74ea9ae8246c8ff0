// Fuzz target: the ISO BMFF box walker (headers, children, nesting).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "fuzz_check.hpp"
#include "media/box.hpp"

using namespace deskaudit::media::detail;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto bytes = std::as_bytes(std::span(data, size));
  // Headers at the start and inside a pretend parent that ends early.
  for (std::uint64_t end : {std::uint64_t(size), std::uint64_t(size / 2)}) {
    const auto h = parse_box_header(bytes, 0, end);
    if (h.status == HeaderStatus::ok) {
      FUZZ_CHECK(h.header.header_size <= h.header.size);
      FUZZ_CHECK(h.header.size <= end);
    } else {
      FUZZ_CHECK(!h.message.empty());
    }
  }
  auto kids = parse_children(bytes, 0, "file");
  if (!kids) {
    FUZZ_CHECK(!kids.error().message.empty());
    return 0;
  }
  std::uint64_t covered = 0;
  for (const auto& box : *kids) {
    FUZZ_CHECK(box.header.offset == covered);
    FUZZ_CHECK(box.payload_offset() + box.payload.size() == box.header.offset + box.header.size);
    FUZZ_CHECK(box.payload.data() == bytes.data() + box.payload_offset());
    covered += box.header.size;
    (void)fourcc_text(box.type());
    (void)validate_tree(box, 1);
    // A box written again from its type and payload reads back the same.
    if (box.type() != fourcc("uuid")) {
      const std::string_view payload(reinterpret_cast<const char*>(box.payload.data()), box.payload.size());
      const std::string again = make_box(box.type(), payload);
      auto back = parse_children(as_bytes(again), 0, "again");
      FUZZ_CHECK(back && back->size() == 1);
      FUZZ_CHECK(back->front().type() == box.type());
      FUZZ_CHECK(back->front().payload.size() == box.payload.size());
    }
  }
  FUZZ_CHECK(covered == size);
  if (!kids->empty()) {
    (void)only_child(*kids, kids->front().type(), kids->front());
    (void)find_child(*kids, fourcc("moov"));
  }
  return 0;
}

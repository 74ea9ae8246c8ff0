#include "capture/dxgi_frame.hpp"

#include <algorithm>
#include <cstdio>

#include "capture/pixels.hpp"

namespace deskaudit::capture {
namespace {

bool contains(const Rect& outer, const Rect& inner) {
  return inner.x >= outer.x && inner.y >= outer.y && inner.x + inner.width <= outer.x + outer.width &&
         inner.y + inner.height <= outer.y + outer.height;
}

Rect bounding(const Rect& a, const Rect& b) {
  const int x0 = std::min(a.x, b.x);
  const int y0 = std::min(a.y, b.y);
  const int x1 = std::max(a.x + a.width, b.x + b.width);
  const int y1 = std::max(a.y + a.height, b.y + b.height);
  return {x0, y0, x1 - x0, y1 - y0};
}

void add(std::vector<Rect>& out, const Rect& r, int width, int height) {
  const Rect e = even_aligned(r, width, height);
  if (e.width <= 0 || e.height <= 0) return;
  for (const Rect& have : out)
    if (contains(have, e)) return;
  std::erase_if(out, [&](const Rect& have) { return contains(e, have); });
  out.push_back(e);
}

// Rows of the shape's bitmap DXGI hands out (monochrome: AND and XOR masks).
int bitmap_rows(const PointerShape& s) { return s.type == PointerType::monochrome ? s.height * 2 : s.height; }

bool shape_valid(const PointerShape& s) {
  if (s.width <= 0 || s.height <= 0 || s.width > 1024 || s.height > 1024 || s.pitch <= 0) return false;
  const std::int64_t min_pitch = s.type == PointerType::monochrome ? (s.width + 7) / 8 : std::int64_t{s.width} * 4;
  if (s.pitch < min_pitch) return false;
  if (s.type != PointerType::monochrome && s.type != PointerType::color && s.type != PointerType::masked_color)
    return false;
  return std::int64_t{s.pitch} * bitmap_rows(s) <= static_cast<std::int64_t>(s.bytes.size());
}

}  // namespace

std::vector<Rect> changed_area(std::span<const Rect> dirty, std::span<const MoveRect> moves, int width, int height) {
  std::vector<Rect> out;
  for (const Rect& r : dirty) add(out, r, width, height);
  for (const MoveRect& m : moves) add(out, m.to, width, height);
  if (out.size() > kMaxChangedRects) {
    Rect all = out.front();
    for (const Rect& r : out) all = bounding(all, r);
    out.assign(1, all);
  }
  return out;
}

Rect pointer_rect(const PointerShape& shape, int x, int y, int width, int height) {
  if (!shape_valid(shape)) return {};
  // Positions come from the system: far outside means nothing to draw (and no overflow below).
  if (x < -2048 || y < -2048 || x > 65536 || y > 65536) return {};
  return intersect({x, y, shape.width, shape.height}, {0, 0, width, height});
}

void draw_pointer(std::uint8_t* bgra, int stride, int width, int height, const PointerShape& s, int x, int y,
                  const Rect& clip) {
  const Rect area = intersect(pointer_rect(s, x, y, width, height), clip);
  if (area.width <= 0) return;
  for (int py = area.y; py < area.y + area.height; ++py) {
    const int sy = py - y;
    std::uint8_t* dst_row = bgra + static_cast<std::ptrdiff_t>(py) * stride;
    for (int px = area.x; px < area.x + area.width; ++px) {
      const int sx = px - x;
      std::uint8_t* d = dst_row + static_cast<std::ptrdiff_t>(px) * 4;
      switch (s.type) {
        case PointerType::monochrome: {
          const auto bit = [&](int row) {
            const std::uint8_t byte = s.bytes[static_cast<std::size_t>(row) * s.pitch + sx / 8];
            return ((byte >> (7 - sx % 8)) & 1) != 0;
          };
          const bool and_bit = bit(sy);
          const bool xor_bit = bit(sy + s.height);
          for (int c = 0; c < 3; ++c) {
            std::uint8_t v = and_bit ? d[c] : 0;
            if (xor_bit) v ^= 0xFF;
            d[c] = v;
          }
          break;
        }
        case PointerType::color: {
          const std::uint8_t* p = &s.bytes[static_cast<std::size_t>(sy) * s.pitch + static_cast<std::size_t>(sx) * 4];
          const unsigned a = p[3];
          for (int c = 0; c < 3; ++c) d[c] = static_cast<std::uint8_t>((p[c] * a + d[c] * (255 - a) + 127) / 255);
          break;
        }
        case PointerType::masked_color: {
          const std::uint8_t* p = &s.bytes[static_cast<std::size_t>(sy) * s.pitch + static_cast<std::size_t>(sx) * 4];
          for (int c = 0; c < 3; ++c) d[c] = p[3] == 0 ? p[c] : static_cast<std::uint8_t>(d[c] ^ p[c]);
          break;
        }
      }
    }
  }
}

std::string hresult_text(std::uint32_t hr) {
  struct Known {
    std::uint32_t code;
    const char* name;
  };
  static constexpr Known kKnown[] = {
      {0x80004001u, "E_NOTIMPL"},
      {0x80004005u, "E_FAIL"},
      {0x80070005u, "E_ACCESSDENIED"},
      {0x80070057u, "E_INVALIDARG"},
      {0x8007000Eu, "E_OUTOFMEMORY"},
      {0x887A0001u, "DXGI_ERROR_INVALID_CALL"},
      {0x887A0002u, "DXGI_ERROR_NOT_FOUND"},
      {0x887A0004u, "DXGI_ERROR_UNSUPPORTED"},
      {0x887A0005u, "DXGI_ERROR_DEVICE_REMOVED"},
      {0x887A0022u, "DXGI_ERROR_NOT_CURRENTLY_AVAILABLE"},
      {0x887A0026u, "DXGI_ERROR_ACCESS_LOST"},
      {0x887A0027u, "DXGI_ERROR_WAIT_TIMEOUT"},
      {0x887A0028u, "DXGI_ERROR_SESSION_DISCONNECTED"},
      {0x887A002Bu, "DXGI_ERROR_ACCESS_DENIED"},
      {0x80070490u, "E_NOTFOUND"},
      {0x800401F0u, "CO_E_NOTINITIALIZED"},
      {0x88890001u, "AUDCLNT_E_NOT_INITIALIZED"},
      {0x88890003u, "AUDCLNT_E_WRONG_ENDPOINT_TYPE"},
      {0x88890004u, "AUDCLNT_E_DEVICE_INVALIDATED"},
      {0x88890008u, "AUDCLNT_E_UNSUPPORTED_FORMAT"},
      {0x8889000Au, "AUDCLNT_E_DEVICE_IN_USE"},
      {0x88890010u, "AUDCLNT_E_SERVICE_NOT_RUNNING"},
      {0x88890011u, "AUDCLNT_E_EVENTHANDLE_NOT_EXPECTED"},
  };
  char hex[16];
  std::snprintf(hex, sizeof hex, "0x%08X", static_cast<unsigned>(hr));
  for (const Known& k : kKnown)
    if (k.code == hr) return std::string(k.name) + " (" + hex + ")";
  return hex;
}

std::string dxgi_unsuitable_reason(const DxgiDesktopFacts& facts) {
  if (facts.monitors > 1)
    return std::to_string(facts.monitors) +
           " monitors: DXGI duplicates one output, GDI records the whole virtual screen";
  if (!facts.output_found) return "no DXGI output attached to the desktop holds its origin";
  // DXGI_MODE_ROTATION_UNSPECIFIED (0) and _IDENTITY (1) need no turning.
  if (facts.rotation > 1) return "the output is rotated (DXGI_MODE_ROTATION " + std::to_string(facts.rotation) + ")";
  return {};
}

std::string dxgi_fallback_reason(std::string_view why) {
  return "DXGI Desktop Duplication not available (" + std::string(why) + "); GDI is used";
}

LostAction on_access_lost(const Rect& before, const Rect& now) {
  const bool same = before.x == now.x && before.y == now.y && before.width == now.width && before.height == now.height;
  return same ? LostAction::recreate : LostAction::reinit;
}

}  // namespace deskaudit::capture

#pragma once
// The parts of the DXGI Desktop Duplication capture (dxgi_capture.cpp) that
// need no GPU, shared so that they are unit-tested on every platform: the
// changed area of a frame (dirty and move rectangles), drawing the pointer
// shape DXGI hands out, and the decision to fall back to GDI.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "capture/capture.hpp"

namespace deskaudit::capture {

// A DXGI move rectangle: the pixels of `to` came from (from_x, from_y).
struct MoveRect {
  int from_x = 0;
  int from_y = 0;
  Rect to;
};

// More rectangles than this in one changed area are merged into their
// bounding box (conversion per rectangle has a cost; DXGI may report hundreds).
inline constexpr std::size_t kMaxChangedRects = 16;

// The rectangles of the picture to refresh: the dirty rectangles and the
// destinations of the moves (a move's source keeps its pixels unless a dirty
// rectangle says otherwise), each clipped to width x height and grown to even
// coordinates; rectangles inside another are dropped, and beyond
// kMaxChangedRects all become one bounding box. Empty: nothing changed.
std::vector<Rect> changed_area(std::span<const Rect> dirty, std::span<const MoveRect> moves, int width, int height);

// DXGI_OUTDUPL_POINTER_SHAPE_TYPE values.
enum class PointerType : std::uint32_t { monochrome = 1, color = 2, masked_color = 4 };

// A pointer shape as GetFramePointerShape returns it. For monochrome the
// bitmap is 1 bit per pixel and `height` rows of AND mask followed by as many
// of XOR mask (DXGI's height is twice the pointer's); for the two colour
// types 32-bit BGRA rows. pitch: bytes per row.
struct PointerShape {
  PointerType type = PointerType::color;
  int width = 0;
  int height = 0;  // rows of the drawn pointer (half of DXGI's for monochrome)
  int pitch = 0;
  std::vector<std::uint8_t> bytes;
};

// The screen rectangle the shape covers at top-left (x, y), clipped to
// width x height; empty when the shape is invalid (its rows do not fit
// `bytes`) or outside.
Rect pointer_rect(const PointerShape& shape, int x, int y, int width, int height);

// Draws the shape with its top-left at (x, y) into the BGRA picture (rows of
// stride bytes, width x height), only inside `clip`: colour shapes are
// alpha-blended, masked-colour ones replace (mask 0) or XOR (mask 0xFF) the
// pixels, monochrome ones apply AND then XOR, as Windows draws them.
void draw_pointer(std::uint8_t* bgra, int stride, int width, int height, const PointerShape& shape, int x, int y,
                  const Rect& clip);

// "E_NOTIMPL (0x80004001)", "DXGI_ERROR_ACCESS_LOST (0x887A0026)", or the
// bare hexadecimal code.
std::string hresult_text(std::uint32_t hr);

// What the DXGI capture found about the desktop before duplicating it.
struct DxgiDesktopFacts {
  int monitors = 1;        // GetSystemMetrics(SM_CMONITORS)
  bool output_found = true;  // an output attached to the desktop holds its origin
  int rotation = 1;        // DXGI_MODE_ROTATION of that output
};

// Why DXGI Desktop Duplication is not used for this desktop ("" when it
// fits): GDI reads the whole virtual screen of several monitors, DXGI one
// output; a rotated output's image would need turning.
std::string dxgi_unsuitable_reason(const DxgiDesktopFacts& facts);

// The sentence the capture info and the log carry when GDI is used because
// DXGI could not be: `why` is a failed step ("DuplicateOutput failed:
// E_NOTIMPL (0x80004001)") or dxgi_unsuitable_reason's answer.
std::string dxgi_fallback_reason(std::string_view why);

// What to do after DXGI_ERROR_ACCESS_LOST (desktop switch, mode change,
// UAC prompt, lock): the duplication is re-created on the same output when the
// output's desktop rectangle is unchanged, else the capture reports reinit.
enum class LostAction { recreate, reinit };
LostAction on_access_lost(const Rect& before, const Rect& now);

}  // namespace deskaudit::capture

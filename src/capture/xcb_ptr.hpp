#pragma once
// Owners for libxcb handles. Every reply xcb hands out is malloc'd and must be
// free()d; every connection must be xcb_disconnect()ed, even a failed one.
#include <cstdlib>
#include <memory>

#include <xcb/damage.h>
#include <xcb/randr.h>
#include <xcb/shm.h>
#include <xcb/xcb.h>
#include <xcb/xfixes.h>
#include <xcb/xinput.h>

namespace deskaudit::capture {

struct XcbConnectionDeleter {
  void operator()(xcb_connection_t* c) const noexcept { xcb_disconnect(c); }
};
using XcbConnectionPtr = std::unique_ptr<xcb_connection_t, XcbConnectionDeleter>;

struct XcbFreeDeleter {
  void operator()(void* p) const noexcept { std::free(p); }
};
// Any reply or error returned by an xcb_*_reply() or xcb_request_check().
template <class Reply>
using XcbReply = std::unique_ptr<Reply, XcbFreeDeleter>;

using XcbErrorPtr = XcbReply<xcb_generic_error_t>;
using XcbEventPtr = XcbReply<xcb_generic_event_t>;
using XcbGetGeometryReply = XcbReply<xcb_get_geometry_reply_t>;
using XcbGetImageReply = XcbReply<xcb_get_image_reply_t>;
using XcbQueryPointerReply = XcbReply<xcb_query_pointer_reply_t>;
using XcbShmQueryVersionReply = XcbReply<xcb_shm_query_version_reply_t>;
using XcbShmGetImageReply = XcbReply<xcb_shm_get_image_reply_t>;
using XcbDamageQueryVersionReply = XcbReply<xcb_damage_query_version_reply_t>;
using XcbXfixesQueryVersionReply = XcbReply<xcb_xfixes_query_version_reply_t>;
using XcbXfixesFetchRegionReply = XcbReply<xcb_xfixes_fetch_region_reply_t>;
using XcbXfixesCursorImageReply = XcbReply<xcb_xfixes_get_cursor_image_reply_t>;
using XcbRandrQueryVersionReply = XcbReply<xcb_randr_query_version_reply_t>;
using XcbRandrSetScreenConfigReply = XcbReply<xcb_randr_set_screen_config_reply_t>;

}  // namespace deskaudit::capture

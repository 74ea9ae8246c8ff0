#include "common/error.hpp"

#include <algorithm>
#include <cstring>

namespace deskaudit {

std::string_view errc_name(Errc code) noexcept {
  switch (code) {
    case Errc::invalid_argument: return "invalid_argument";
    case Errc::unauthenticated: return "unauthenticated";
    case Errc::permission_denied: return "permission_denied";
    case Errc::not_found: return "not_found";
    case Errc::conflict: return "conflict";
    case Errc::too_large: return "too_large";
    case Errc::unprocessable: return "unprocessable";
    case Errc::unavailable: return "unavailable";
    case Errc::too_many_requests: return "too_many_requests";
    case Errc::password_change_required: return "password_change_required";
    case Errc::io: return "io_error";
    case Errc::corrupt: return "corrupt";
    case Errc::events_missing: return "events_missing";
    case Errc::internal: return "internal";
  }
  return "internal";
}

std::int64_t retry_after_seconds(std::int64_t retry_after_ms) noexcept {
  return std::max<std::int64_t>(1, retry_after_ms / 1000 + (retry_after_ms % 1000 > 0 ? 1 : 0));
}

std::unexpected<Error> retry_later(std::int64_t retry_after_ms, std::string message) {
  Error e{Errc::too_many_requests,
          std::move(message) + "; try again in " + std::to_string(retry_after_seconds(retry_after_ms)) + " s"};
  e.retry_after_ms = std::max<std::int64_t>(1, retry_after_ms);
  return std::unexpected(std::move(e));
}

std::string errno_message(std::string_view what, int errnum) {
  char buf[256];
  // GNU strerror_r returns the message pointer (maybe not buf).
  const char* text = strerror_r(errnum, buf, sizeof buf);
  return std::string(what) + ": " + text;
}

}  // namespace deskaudit

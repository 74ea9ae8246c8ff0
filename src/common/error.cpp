#include "common/error.hpp"

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
    case Errc::internal: return "internal";
  }
  return "internal";
}

std::string errno_message(std::string_view what, int errnum) {
  char buf[256];
  // GNU strerror_r returns the message pointer (maybe not buf).
  const char* text = strerror_r(errnum, buf, sizeof buf);
  return std::string(what) + ": " + text;
}

}  // namespace deskaudit

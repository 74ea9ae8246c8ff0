#include "common/http_status.hpp"

#include <array>

namespace deskaudit {

int http_status_for(Errc code) noexcept {
  switch (code) {
    case Errc::invalid_argument:
      return 400;
    case Errc::unauthenticated:
      return 401;
    case Errc::permission_denied:
    case Errc::password_change_required:
      return 403;
    case Errc::not_found:
      return 404;
    case Errc::conflict:
      return 409;
    case Errc::too_large:
      return 413;
    case Errc::unprocessable:
    case Errc::corrupt:  // what the client sent fails validation
    case Errc::events_missing:
      return 422;
    case Errc::too_many_requests:
      return 429;
    case Errc::unavailable:
      return 503;
    case Errc::io:
    case Errc::internal:
      return 500;
  }
  return 500;
}

Errc errc_for_status(long status, std::string_view error_code) noexcept {
  static constexpr std::array all = {Errc::invalid_argument,
                                     Errc::unauthenticated,
                                     Errc::permission_denied,
                                     Errc::not_found,
                                     Errc::conflict,
                                     Errc::too_large,
                                     Errc::unprocessable,
                                     Errc::unavailable,
                                     Errc::too_many_requests,
                                     Errc::password_change_required,
                                     Errc::io,
                                     Errc::corrupt,
                                     Errc::events_missing,
                                     Errc::internal};
  if (!error_code.empty() && status >= 400 && status <= 499) {
    for (Errc c : all) {
      if (errc_name(c) == error_code && http_status_for(c) == status) return c;
    }
  }
  switch (status) {
    case 401:
      return Errc::unauthenticated;
    case 403:
      return Errc::permission_denied;
    case 404:
      return Errc::not_found;
    case 408:  // the peer gave up waiting for the request: try again
      return Errc::unavailable;
    case 409:
      return Errc::conflict;
    case 413:
      return Errc::too_large;
    case 422:
      return Errc::unprocessable;
    case 429:
      return Errc::too_many_requests;
    default:
      break;
  }
  if (status >= 500 && status <= 599) return Errc::unavailable;
  if (status >= 400 && status <= 499) return Errc::invalid_argument;
  return Errc::internal;
}

bool is_transient(Errc code) noexcept { return code == Errc::unavailable || code == Errc::too_many_requests; }

}  // namespace deskaudit

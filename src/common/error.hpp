#pragma once
// Expected failures are values: Result<T> = std::expected<T, Error>.
// Exceptions are reserved for broken invariants and start-up configuration.
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace deskaudit {

// What went wrong, coarse enough to pick an HTTP status or an exit code.
enum class Errc {
  invalid_argument,   // malformed input (400)
  unauthenticated,    // no or bad credentials (401)
  permission_denied,  // signed in, not allowed (403)
  not_found,          // (404)
  conflict,           // state or content conflict (409)
  too_large,          // (413)
  unprocessable,      // well-formed but invalid values (422)
  unavailable,        // transient: network, remote 5xx, timeouts (503)
  too_many_requests,  // a rate limit or lockout; Retry-After says when to retry (429)
  password_change_required,  // signed in with a password that must be changed first (403)
  io,                 // local I/O failure (500)
  corrupt,            // stored or received data fails validation (500/422)
  events_missing,     // a segment names an events document the server does not hold (422)
  internal,           // anything else (500)
};

std::string_view errc_name(Errc code) noexcept;  // "not_found", ...

struct Error {
  Error() = default;
  Error(Errc code_, std::string message_, std::string field_ = {})
      : code(code_), message(std::move(message_)), field(std::move(field_)) {}
  Errc code = Errc::internal;
  std::string message;  // human readable, names what to fix; never holds secrets
  std::string field;    // optional: the input field at fault (422)
  std::int64_t retry_after_ms = 0;  // too_many_requests: when to retry (0: unknown)
};

template <class T>
using Result = std::expected<T, Error>;
using Status = std::expected<void, Error>;

inline std::unexpected<Error> fail(Errc code, std::string message, std::string field = {}) {
  return std::unexpected<Error>(Error{code, std::move(message), std::move(field)});
}

// too_many_requests for a cap or a rate limit: retry after retry_after_ms,
// which the message names in whole seconds (rounded up, at least 1).
std::unexpected<Error> retry_later(std::int64_t retry_after_ms, std::string message);
// Whole seconds until a retry, rounded up, at least 1 (Retry-After).
std::int64_t retry_after_seconds(std::int64_t retry_after_ms) noexcept;

// Adds context in front of an error's message: "reading segment 3: <message>".
inline Error with_context(Error e, std::string_view context) {
  e.message = std::string(context) + ": " + e.message;
  return e;
}

// errno text for system-call failures: "open /x: No such file or directory".
std::string errno_message(std::string_view what, int errnum);

}  // namespace deskaudit

#pragma once
// Text that comes from outside (agents, sign-in forms, JSON bodies): limits
// shared by every side that checks it, and UTF-8 handling that never splits
// a character. Pure functions; thread-safe.
#include <cstddef>
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace deskaudit {

// The longest user name (bytes of UTF-8) anyone stores: sign-in, the
// administrators' users, and the session users agents report. The agent cuts
// to the same limit the server enforces.
inline constexpr std::size_t kMaxUserNameBytes = 128;
// Other short names and single-line texts from outside (hostnames, computer
// and pool names, agent versions).
inline constexpr std::size_t kMaxNameBytes = 256;
// Free-form diagnostic text from agents (last_error and the like).
inline constexpr std::size_t kMaxMessageBytes = 2048;

// a and b equal but for the case of ASCII letters (HTTP header names and
// values, device names).
bool ascii_iequals(std::string_view a, std::string_view b) noexcept;

// True when text is well-formed UTF-8 (no overlong forms, no surrogates,
// nothing above U+10FFFF).
bool is_valid_utf8(std::string_view text) noexcept;

// The longest prefix of text that is at most max_bytes long and does not end
// inside a multi-byte character. Invalid sequences are replaced by U+FFFD
// before cutting, so the result is always valid UTF-8.
std::string utf8_truncate(std::string_view text, std::size_t max_bytes);

// A display name administrators give (users, pools, roles, policies):
// 1..max_bytes bytes of UTF-8 without control characters. Unprocessable,
// naming `field`.
Status check_display_name(std::string_view name, std::string_view field, std::size_t max_bytes = kMaxUserNameBytes);
// The same with the default limit (kMaxUserNameBytes).
inline Status check_name(const std::string& name, std::string_view field) { return check_display_name(name, field); }

}  // namespace deskaudit

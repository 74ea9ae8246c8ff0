#pragma once
// The one mapping between HTTP statuses and Errc, both ways: the server
// renders an Error with http_status_for(); the agent, the CLI and the S3
// client turn a status they receive into an Errc with errc_for_status().
// Pure functions; thread-safe.
#include <string_view>

#include "common/error.hpp"

namespace deskaudit {

// The status an API error is answered with (docs/api.md, "Errors").
int http_status_for(Errc code) noexcept;

// The Errc of a non-2xx answer. `error_code` is the body's error.code when
// the peer is a deskaudit server: when a 4xx comes with the name of an Errc
// answered with that very status (password_change_required is a 403,
// corrupt a 422), that Errc is returned, so the client sees the server's own
// reason. Otherwise by status: 401 unauthenticated; 403 permission_denied;
// 404 not_found; 409 conflict; 413 too_large; 422 unprocessable;
// 429 too_many_requests; 408 and every 5xx unavailable (whatever the body
// says, the trouble is the server's and only a retry can help); 400, 411,
// 416 and other 4xx invalid_argument; anything else (1xx, 3xx, a 2xx passed
// by mistake) internal.
Errc errc_for_status(long status, std::string_view error_code = {}) noexcept;

// Errors worth retrying later unchanged: unavailable and too_many_requests.
bool is_transient(Errc code) noexcept;

}  // namespace deskaudit

#pragma once
// Who asks a service for something: an administrator (by user name and
// grants) or an agent (by computer). Built by the server from the request's
// credentials; services check scope with `grants` and write `actor` to the
// audit log.
#include <string>

#include "auth/permissions.hpp"

namespace deskaudit::service {

struct Caller {
  std::string actor;        // audit log name: the user name, or "agent:<computer id>"
  std::string user_id;      // administrators
  std::string computer_id;  // agents
  auth::Grants grants;      // administrators (empty for agents)
};

}  // namespace deskaudit::service

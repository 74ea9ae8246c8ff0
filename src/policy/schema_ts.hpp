#pragma once
// The console's copy of the policy constants (web/src/generated/
// policy_schema.ts), written from policy.hpp so the form offers exactly what
// the server accepts. The policy_schema_ts test fails when the committed file
// differs from this text.
#include <string>

namespace deskaudit::policy {

// The whole TypeScript module, deterministic, ending in a newline.
std::string schema_ts();

}  // namespace deskaudit::policy

#pragma once
// The JSON shapes of the chain, its checkpoints and a verification report,
// shared by the server (GET /api/v1/audit-log/chain, /checkpoints, /verify)
// and the CLI that re-verifies them. Entries carry time_ms and details_json
// exactly as hashed.
#include <nlohmann/json.hpp>

#include "audit/chain.hpp"

namespace deskaudit::audit {

nlohmann::json to_json(const Entry& e);
nlohmann::json to_json(const Checkpoint& cp);
nlohmann::json to_json(const Report& r);
// invalid_argument naming the field when a value is missing or of the wrong type.
Result<Entry> entry_from_json(const nlohmann::json& j);
Result<Checkpoint> checkpoint_from_json(const nlohmann::json& j);

}  // namespace deskaudit::audit

#pragma once
// The body of POST and PATCH /api/v1/policies, validated apart from the
// routes so that it can be fuzzed on its own (tests/fuzz/policy_body_fuzz.cpp).
#include <optional>
#include <string>

#include "catalog/types.hpp"
#include "server/http.hpp"

namespace deskaudit::server {

enum class PolicyBody { create, update };

struct PolicyFields {
  std::optional<std::string> name;                  // set when the body names the policy
  std::optional<catalog::RecordingRule> recording;  // `base` with the body's "recording" applied
};

// create: "name" is required; update: every field is optional. The body's
// "recording" object is applied onto `base` (the defaults for create, the
// stored rule for update). Errors are unprocessable and name the field; the
// name is checked before the recording settings.
Result<PolicyFields> policy_fields_from_json(const Json& body, PolicyBody kind, const catalog::RecordingRule& base);

}  // namespace deskaudit::server

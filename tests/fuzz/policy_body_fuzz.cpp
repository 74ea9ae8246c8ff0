// Fuzz target: the body of POST and PATCH /api/v1/policies, from the raw
// bytes through Context::json_body() and the policy codec (src/policy) to a
// validated policy and its JSON.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_check.hpp"
#include "policy/policy.hpp"
#include "server/views.hpp"

using namespace deskaudit;
using namespace deskaudit::server;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Request req;
  Response res;
  const Context ctx(req, res, Principal{}, std::string(reinterpret_cast<const char*>(data), size));
  auto body = ctx.json_body();
  if (!body) {
    FUZZ_CHECK(body.error().code == Errc::invalid_argument);
    return 0;
  }
  policy::RecordingRule stored;
  stored.mode = policy::RecordingMode::period;
  stored.period_start = "22:00";
  stored.period_end = "06:00";
  for (auto kind : {policy::BodyKind::create, policy::BodyKind::update}) {
    const auto base = kind == policy::BodyKind::create ? policy::RecordingRule{} : stored;
    auto fields = policy::body_from_json(*body, kind, base);
    if (!fields) {
      // Every refusal is a 422 naming the field at fault.
      FUZZ_CHECK(fields.error().code == Errc::unprocessable);
      FUZZ_CHECK(!fields.error().field.empty() && !fields.error().message.empty());
      continue;
    }
    if (kind == policy::BodyKind::create) FUZZ_CHECK(fields->name.has_value());
    catalog::Policy p;
    p.id = "pol-fuzz";
    p.name = fields->name.value_or("unchanged");
    p.recording = fields->recording.value_or(base);
    FUZZ_CHECK(check_name(p.name, "name").has_value());
    const auto& r = p.recording;
    // Literal bounds, not the codec's constants: a loosened codec must fail here.
    FUZZ_CHECK(r.fps == 2 || r.fps == 5 || r.fps == 10 || r.fps == 15);
    FUZZ_CHECK(r.segment_max_bytes >= (64 << 10) && r.segment_max_bytes <= (32 << 20));
    FUZZ_CHECK(r.retention_days >= 1 && r.retention_days <= 3650);
    FUZZ_CHECK(policy::validate(r).has_value());
    // The stored form reads back to the same rule (what PATCH starts from).
    const Json j = to_json(p);
    (void)j.dump();
    auto again = policy::rule_from_json(j["recording"], policy::RecordingRule{});
    FUZZ_CHECK(again && *again == r);
  }
  return 0;
}
